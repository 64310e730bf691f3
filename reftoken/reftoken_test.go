package reftoken

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/revocation"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
)

type dir struct {
	apps  map[string]App
	users map[string]User
}

func (d dir) App(id string) (App, bool)      { a, ok := d.apps[id]; return a, ok }
func (d dir) User(login string) (User, bool) { u, ok := d.users[login]; return u, ok }

type env struct {
	svc    *Service
	store  *memory.Store
	now    *time.Time
	audit  *strings.Builder
	revoke *revocation.List
}

func newEnv(t *testing.T) env {
	t.Helper()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := memory.New()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	rl, err := revocation.Open(context.Background(), st, clock, logger)
	if err != nil {
		t.Fatal(err)
	}
	var auditBuf strings.Builder
	d := dir{
		apps: map[string]App{
			"com.example/open":  {ID: "com.example/open", Policy: PolicyAuthenticatedUsers, SystemUser: "svc", SystemUserType: "system", Scopes: []string{"read", "update"}, InternalAllowed: true},
			"com.example/admin": {ID: "com.example/admin", Policy: PolicyAdministratorsOnly, Scopes: []string{"read"}, InternalAllowed: true},
			"com.example/none":  {ID: "com.example/none", Policy: PolicyNone, Scopes: []string{"read"}, InternalAllowed: true},
		},
		users: map[string]User{
			"alice": {Login: "alice", ID: "u1", Type: "internal"},
			"root":  {Login: "root", ID: "u2", Type: "internal", Admin: true},
			"svc":   {Login: "svc", Type: "system"},
		},
	}
	svc, err := New(Config{Store: st, Directory: d, Revocations: rl, Issuer: "http://x/id", Audiences: []string{"DomainAPI"},
		CacheSize: 100, Clock: clock, Logger: logger, Audit: audit.New(slog.NewJSONHandler(&auditBuf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return env{svc, st, &now, &auditBuf, rl}
}

func TestIssuePolicies(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		req     IssueRequest
		wantErr error
	}{
		{"pat by the user, authenticated_users", IssueRequest{Type: "pat", ClientID: "com.example/open", Actor: "alice", ExpiresIn: time.Hour}, nil},
		{"pat for someone else by a non-admin", IssueRequest{Type: "pat", ClientID: "com.example/open", Actor: "alice", Subject: "root", ExpiresIn: time.Hour}, ErrNotAllowed},
		{"sat by a non-admin", IssueRequest{Type: "sat", ClientID: "com.example/open", Actor: "alice", ExpiresIn: time.Hour}, ErrNotAllowed},
		{"sat by an admin", IssueRequest{Type: "sat", ClientID: "com.example/open", Actor: "root", ExpiresIn: time.Hour}, nil},
		{"sat by the CLI", IssueRequest{Type: "sat", ClientID: "com.example/open", ExpiresIn: time.Hour}, nil},
		{"pat on administrators_only by a user", IssueRequest{Type: "pat", ClientID: "com.example/admin", Actor: "alice", ExpiresIn: time.Hour}, ErrNotAllowed},
		{"pat on administrators_only by an admin", IssueRequest{Type: "pat", ClientID: "com.example/admin", Actor: "root", ExpiresIn: time.Hour}, nil},
		{"sat on an app without system user", IssueRequest{Type: "sat", ClientID: "com.example/admin", Actor: "root", ExpiresIn: time.Hour}, ErrBadRequest},
		{"policy none", IssueRequest{Type: "pat", ClientID: "com.example/none", Actor: "root", ExpiresIn: time.Hour}, ErrNotAllowed},
		{"scope outside the app", IssueRequest{Type: "pat", ClientID: "com.example/open", Actor: "alice", Scopes: []string{"sec"}, ExpiresIn: time.Hour}, ErrBadRequest},
		{"no expiry", IssueRequest{Type: "pat", ClientID: "com.example/open", Actor: "alice"}, ErrBadRequest},
		{"pat for a system user", IssueRequest{Type: "pat", ClientID: "com.example/open", Subject: "svc", ExpiresIn: time.Hour}, ErrBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.svc.Issue(ctx, tc.req)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && (!WellFormed(got.Value) || got.Token.Hash != Hash(got.Value)) {
				t.Fatalf("issued %q / %+v", got.Value, got.Token)
			}
		})
	}
	if strings.Contains(e.audit.String(), Prefix) {
		t.Fatal("audit log contains a token value")
	}
}

func TestCheckRevokeExpire(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pat, err := e.svc.Issue(ctx, IssueRequest{Type: "pat", ClientID: "com.example/open", Actor: "alice", Scopes: []string{"read"}, ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	sat, _ := e.svc.Issue(ctx, IssueRequest{Type: "sat", ClientID: "com.example/open", ExpiresIn: time.Hour})

	c, _, err := e.svc.Check(ctx, pat.Value)
	if err != nil || c.Subject != "alice" || c.UserID != "u1" || strings.Join(c.Scope.Values, " ") != "read" || c.SessionID == "" {
		t.Fatalf("PAT check: %+v %v", c, err)
	}
	c, _, err = e.svc.Check(ctx, sat.Value)
	if err != nil || c.ClientSystemUser != "svc" || c.Subject != "" {
		t.Fatalf("SAT check: %+v %v", c, err)
	}
	for _, bad := range []string{"", "enrt_", Prefix + strings.Repeat("a", 64), Prefix + strings.Repeat("0", 64), pat.Value + "0"} {
		if _, _, err := e.svc.Check(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	// Last use is written in a batch, not per call.
	if got, _ := e.store.ReferenceToken(ctx, pat.Token.ID); !got.LastUsedAt.IsZero() {
		t.Fatal("last use written on the request path")
	}
	if err := e.svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.store.ReferenceToken(ctx, pat.Token.ID); !got.LastUsedAt.Equal(*e.now) {
		t.Fatalf("LastUsedAt after flush = %v", got.LastUsedAt)
	}
	// Another user may not revoke it; its owner may; it is refused at once.
	if _, err := e.svc.Revoke(ctx, pat.Token.ID, "root2"); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("stranger revoked: %v", err)
	}
	if _, err := e.svc.Revoke(ctx, pat.Token.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Check(ctx, pat.Value); !errors.Is(err, ErrInvalid) {
		t.Fatalf("revoked token accepted: %v", err)
	}
	// Expiry.
	*e.now = e.now.Add(time.Hour)
	if _, _, err := e.svc.Check(ctx, sat.Value); !errors.Is(err, ErrInvalid) {
		t.Fatalf("expired token accepted: %v", err)
	}
	toks, _ := e.svc.List(ctx, "")
	mine, _ := e.svc.List(ctx, "alice")
	if len(toks) != 2 || len(mine) != 1 || mine[0].Type != store.PersonalAccessToken || mine[0].RevokedAt.IsZero() {
		t.Fatalf("list = %+v, alice's = %+v", toks, mine)
	}
}

// TestRevokedElsewhere: a revocation written by another process (the
// list synced from the store) refuses a token this process has cached.
func TestRevokedElsewhere(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pat, _ := e.svc.Issue(ctx, IssueRequest{Type: "pat", ClientID: "com.example/open", Actor: "alice", ExpiresIn: time.Hour})
	if _, _, err := e.svc.Check(ctx, pat.Value); err != nil {
		t.Fatal(err)
	}
	// Another process revokes: store row and revocation entry.
	if _, err := e.store.RevokeReferenceToken(ctx, pat.Token.ID, *e.now); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Revoke(ctx, RevocationID(pat.Token.ID), pat.Token.ExpiresAt, *e.now); err != nil {
		t.Fatal(err)
	}
	if err := e.revoke.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Check(ctx, pat.Value); !errors.Is(err, ErrInvalid) {
		t.Fatalf("token revoked by another process accepted after sync: %v", err)
	}
}
