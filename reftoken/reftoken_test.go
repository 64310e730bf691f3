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
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/revocation"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
)

type env struct {
	svc    *Service
	store  *memory.Store
	now    *time.Time
	audit  *strings.Builder
	revoke *revocation.List
	dir    *directory.Table
	apps   []directory.App
	users  []directory.User
}

// setDirectory replaces the directory's records, as a config reload does.
func (e *env) setDirectory(edit func(apps []directory.App, users []directory.User)) {
	edit(e.apps, e.users)
	e.dir.SetConfig(e.apps, e.users)
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
	apps := []directory.App{
		{ID: "com.example/open", ReferenceTokens: PolicyAuthenticatedUsers, SystemUser: "svc", Scopes: []string{"read", "update"}, AllowInternalUsers: true, Enabled: true},
		{ID: "com.example/admin", ReferenceTokens: PolicyAdministratorsOnly, Scopes: []string{"read"}, AllowInternalUsers: true, Enabled: true},
		{ID: "com.example/none", ReferenceTokens: PolicyNone, Scopes: []string{"read"}, AllowInternalUsers: true, Enabled: true},
		{ID: "com.example/off", ReferenceTokens: PolicyAuthenticatedUsers, SystemUser: "svc", Scopes: []string{"read"}, AllowInternalUsers: true, Enabled: false},
	}
	users := []directory.User{
		{Login: "alice", ID: "u1", Name: "Alice", Email: "alice@example.com", Type: directory.TypeInternal},
		{Login: "root", ID: "u2", Type: directory.TypeInternal, Admin: true},
		{Login: "svc", ID: "u3", Type: directory.TypeSystem},
	}
	d := directory.NewTable(nil, clock)
	d.SetConfig(apps, users)
	svc, err := New(Config{Store: st, Directory: d, Revocations: rl, Issuer: "http://x/id", Audiences: []string{"DomainAPI"},
		Database: "E1_TESTDB", CacheSize: 100, Clock: clock, Logger: logger, Audit: audit.New(slog.NewJSONHandler(&auditBuf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return env{svc: svc, store: st, now: &now, audit: &auditBuf, revoke: rl, dir: d, apps: apps, users: users}
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

// TestIssueNameAndDescription: a token keeps the name and description it
// was issued with, trimmed, in the store; text that is too long, not
// UTF-8 or has control characters is refused and nothing is stored.
func TestIssueNameAndDescription(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	req := func(name, desc string) IssueRequest {
		return IssueRequest{Type: "pat", ClientID: "com.example/open", Actor: "alice", ExpiresIn: time.Hour, Name: name, Description: desc}
	}
	for _, tc := range []struct {
		name, tokenName, desc string
		wantName, wantDesc    string
		wantErr               error
	}{
		{name: "none", wantErr: nil},
		{name: "trimmed", tokenName: "  Backup  ", desc: " nightly ", wantName: "Backup", wantDesc: "nightly"},
		{name: "64 characters, not bytes", tokenName: strings.Repeat("ж", 64), wantName: strings.Repeat("ж", 64)},
		{name: "256 characters", desc: strings.Repeat("d", 256), wantDesc: strings.Repeat("d", 256)},
		{name: "name too long", tokenName: strings.Repeat("n", 65), wantErr: ErrBadRequest},
		{name: "description too long", desc: strings.Repeat("d", 257), wantErr: ErrBadRequest},
		{name: "newline in the name", tokenName: "a\nb", wantErr: ErrBadRequest},
		{name: "control character in the description", desc: "a\x00b", wantErr: ErrBadRequest},
		{name: "not UTF-8", tokenName: "a\xffb", wantErr: ErrBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := e.store.ReferenceTokens(ctx, "alice")
			got, err := e.svc.Issue(ctx, req(tc.tokenName, tc.desc))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			after, _ := e.store.ReferenceTokens(ctx, "alice")
			if err != nil {
				if len(after) != len(before) {
					t.Errorf("a refused token was stored")
				}
				return
			}
			stored, err := e.store.ReferenceToken(ctx, got.Token.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, tok := range []store.ReferenceToken{got.Token, stored} {
				if tok.Name != tc.wantName || tok.Description != tc.wantDesc {
					t.Errorf("name %q, description %q; want %q, %q", tok.Name, tok.Description, tc.wantName, tc.wantDesc)
				}
			}
		})
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
	for _, bad := range []string{"", Prefix, Prefix + strings.Repeat("a", 64), Prefix + strings.Repeat("0", 64), pat.Value + "0"} {
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

// TestIssueRefusesDisabledApp: a disabled app (the kill switch) gets no
// new reference tokens, neither PAT nor SAT, by the CLI or by an
// administrator; once enabled again it does.
func TestIssueRefusesDisabledApp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, req := range []IssueRequest{
		{Type: store.PersonalAccessToken, ClientID: "com.example/off", Actor: "alice", ExpiresIn: time.Hour},
		{Type: store.PersonalAccessToken, ClientID: "com.example/off", Actor: "root", Subject: "alice", ExpiresIn: time.Hour},
		{Type: store.ServiceAccessToken, ClientID: "com.example/off", Actor: "root", ExpiresIn: time.Hour},
		{Type: store.ServiceAccessToken, ClientID: "com.example/off", ExpiresIn: time.Hour}, // the CLI
	} {
		got, err := e.svc.Issue(ctx, req)
		if !errors.Is(err, ErrBadRequest) && !errors.Is(err, ErrNotAllowed) {
			t.Errorf("Issue(%s by %q) for a disabled app = %q, %v; want it refused", req.Type, req.Actor, got.Value, err)
		}
	}
	// An app disabled after start, as a reload or the admin API does.
	e.setDirectory(func(apps []directory.App, _ []directory.User) { apps[0].Enabled = false })
	if _, err := e.svc.Issue(ctx, IssueRequest{Type: store.PersonalAccessToken, ClientID: "com.example/open", Actor: "alice", ExpiresIn: time.Hour}); err == nil {
		t.Error("issued a PAT for an app disabled at run time")
	}
	if toks, _ := e.svc.List(ctx, ""); len(toks) != 0 {
		t.Fatalf("a disabled app's tokens were stored: %+v", toks)
	}
	if strings.Contains(e.audit.String(), "reference_token.issued") {
		t.Fatalf("audit says a token was issued:\n%s", e.audit.String())
	}
	e.setDirectory(func(apps []directory.App, _ []directory.User) { apps[0].Enabled = true })
	if _, err := e.svc.Issue(ctx, IssueRequest{Type: store.PersonalAccessToken, ClientID: "com.example/open", Actor: "alice", ExpiresIn: time.Hour}); err != nil {
		t.Fatalf("the app enabled again: %v", err)
	}
}

// TestClaimsCarryCurrentRecord: a PAT acts as its user as the directory
// has them now, not as they were at issue: a change of name, email,
// locale or admin flag shows in the next call's claims, cached token or
// not; a SAT carries its system user's id and ERP.net type.
func TestClaimsCarryCurrentRecord(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pat, err := e.svc.Issue(ctx, IssueRequest{Type: store.PersonalAccessToken, ClientID: "com.example/open", Actor: "alice", Scopes: []string{"read"}, ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := e.svc.Check(ctx, pat.Value)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || c.UserID != "u1" || c.Name != "Alice" || c.Email != "alice@example.com" ||
		c.UserType != directory.ClaimInternalUser || c.IsAdmin == nil || *c.IsAdmin || c.Database != "E1_TESTDB" ||
		c.EmailVerified == nil || *c.EmailVerified || c.Locale != "" {
		t.Fatalf("PAT claims at issue: %+v (is_admin %v, email_verified %v)", c, deref(c.IsAdmin), deref(c.EmailVerified))
	}

	e.setDirectory(func(_ []directory.App, users []directory.User) {
		users[0].Name, users[0].Email, users[0].EmailVerified = "Alice Renamed", "alice@corp.example", true
		users[0].Locale, users[0].Admin = "bg-BG", true
	})
	c, _, err = e.svc.Check(ctx, pat.Value) // the token is cached by now
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || c.UserID != "u1" || c.Name != "Alice Renamed" || c.Email != "alice@corp.example" ||
		c.EmailVerified == nil || !*c.EmailVerified || c.Locale != "bg-BG" || c.IsAdmin == nil || !*c.IsAdmin ||
		c.UserType != directory.ClaimInternalUser {
		t.Fatalf("PAT claims after the user changed: %+v (is_admin %v, email_verified %v)", c, deref(c.IsAdmin), deref(c.EmailVerified))
	}
	// The same from a fresh cache (another process).
	fresh, err := New(Config{Store: e.store, Directory: e.dir, Revocations: e.revoke, Issuer: "http://x/id",
		Clock: func() time.Time { return *e.now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if c, _, err := fresh.Check(ctx, pat.Value); err != nil || c.Name != "Alice Renamed" || !*c.IsAdmin {
		t.Fatalf("PAT claims read by another process: %+v %v", c, err)
	}

	// The user is removed: the PAT names its subject and nothing else
	// of them, and the credential authority refuses it (user_unknown),
	// as it does a JWT of a removed user.
	e.setDirectory(func(_ []directory.App, users []directory.User) { users[0].Login = "alice-gone" })
	if c, _, err := e.svc.Check(ctx, pat.Value); err != nil || c.Subject != "alice" || c.UserID != "" || c.Name != "" || c.IsAdmin != nil {
		t.Fatalf("PAT of a removed user: %+v %v, want the subject alone", c, err)
	}

	sat, err := e.svc.Issue(ctx, IssueRequest{Type: store.ServiceAccessToken, ClientID: "com.example/open", ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err = e.svc.Check(ctx, sat.Value)
	if err != nil || c.Subject != "" || c.ClientSystemUser != "svc" || c.ClientSystemUserID != "u3" ||
		c.ClientSystemUserType != directory.ClaimSystemUser || c.ClientDatabase != "E1_TESTDB" || c.Database != "" {
		t.Fatalf("SAT claims: %+v %v", c, err)
	}
}

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}
