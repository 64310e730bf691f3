package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/store"
)

// tokens is a verifier that knows a fixed set of tokens.
type tokens map[string]*claims.Access

func (v tokens) Verify(_ context.Context, raw string) (*claims.Access, error) {
	if c, ok := v[raw]; ok {
		return c, nil
	}
	return nil, errors.New("bad token")
}

// fakeSessions records what the API asked.
type fakeSessions struct {
	ended      []string
	endedFinal map[string]bool
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func (f *fakeSessions) List(context.Context) ([]session.Info, error) {
	return []session.Info{
		{ID: "sid-a", Subject: "alice", ClientID: "com.example/web", Kind: store.SessionUser, OpenedAt: t0, LastSeenAt: t0.Add(time.Minute)},
		{ID: "sid-s", Subject: "svc", ClientID: "com.example/sync", Kind: store.SessionService, OpenedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)},
	}, nil
}

func (f *fakeSessions) End(_ context.Context, id, reason string) (session.Info, error) {
	if id != "sid-a" {
		return session.Info{}, session.ErrNotFound
	}
	f.ended = append(f.ended, id+":"+reason)
	return session.Info{ID: id, Subject: "alice", EndedAt: t0, EndReason: reason}, nil
}

func (f *fakeSessions) License(context.Context) (session.License, error) {
	return session.License{Used: 2, Total: 10, Reserved: 1, Free: 8}, nil
}

func (f *fakeSessions) Check(_ context.Context, sid string) error {
	if f.endedFinal[sid] {
		return session.ErrEnded
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func newAPI(t *testing.T) (*Handler, *fakeSessions) {
	t.Helper()
	aud := []string{"DomainAPI"}
	sec := claims.Scopes{Values: []string{"sec"}}
	v := tokens{
		"admin":          {Audience: aud, Scope: sec, SessionID: "s1", Subject: "admin", IsAdmin: ptr(true)},
		"admin-no-sec":   {Audience: aud, Scope: claims.Scopes{Values: []string{"read"}}, SessionID: "s2", Subject: "admin", IsAdmin: ptr(true)},
		"alice-sec":      {Audience: aud, Scope: sec, SessionID: "s3", Subject: "alice", IsAdmin: ptr(false)},
		"sec-app":        {Audience: aud, Scope: sec, SessionID: "s4", ClientID: "com.example/ops", ClientSystemUser: "svc-ops"},
		"other-app":      {Audience: aud, Scope: sec, SessionID: "s5", ClientID: "com.example/sync", ClientSystemUser: "svc-sync"},
		"wrong-audience": {Audience: []string{"Elsewhere"}, Scope: sec, SessionID: "s6", Subject: "admin", IsAdmin: ptr(true)},
		"logged-out":     {Audience: aud, Scope: sec, SessionID: "s7", Subject: "admin", IsAdmin: ptr(true)},
	}
	s := &fakeSessions{endedFinal: map[string]bool{"s7": true}}
	h, err := New(Config{
		Verifier: v, Audiences: []string{"DomainAPI", "TableAPI"}, SecApps: []string{"com.example/ops"},
		Sessions: s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, s
}

func do(h http.Handler, method, path, auth string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestAuthorization(t *testing.T) {
	h, _ := newAPI(t)
	for _, tc := range []struct {
		name       string
		auth       string
		wantStatus int
		wantError  string
		wantAuth   string
	}{
		{"no token", "", 401, "unauthorized", `Bearer realm="erpgate"`},
		{"basic auth", "Basic YTpi", 401, "unauthorized", `Bearer realm="erpgate"`},
		{"bad token", "Bearer nope", 401, "invalid_token", `Bearer realm="erpgate", error="invalid_token"`},
		{"wrong audience", "Bearer wrong-audience", 401, "invalid_token", `Bearer realm="erpgate", error="invalid_token"`},
		{"session ended by logout", "Bearer logged-out", 401, "invalid_token", `Bearer realm="erpgate", error="invalid_token"`},
		{"admin without sec", "Bearer admin-no-sec", 403, "insufficient_scope", `Bearer realm="erpgate", error="insufficient_scope", scope="sec"`},
		{"non-admin with sec", "Bearer alice-sec", 403, "access_denied", ""},
		{"app not allowed sec", "Bearer other-app", 403, "access_denied", ""},
		{"admin", "Bearer admin", 200, "", ""},
		{"app allowed sec", "Bearer sec-app", 200, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(h, "GET", "/admin/license", tc.auth)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d %s, want %d", rec.Code, rec.Body, tc.wantStatus)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tc.wantAuth {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.wantAuth)
			}
			if tc.wantError != "" {
				var b errorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error != tc.wantError {
					t.Errorf("body %s, want error %q", rec.Body, tc.wantError)
				}
			}
		})
	}
}

func TestEndpoints(t *testing.T) {
	h, s := newAPI(t)
	const auth = "Bearer admin"

	rec := do(h, "GET", "/admin/sessions", auth)
	var list struct {
		Sessions []map[string]any `json:"sessions"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); rec.Code != 200 || err != nil || len(list.Sessions) != 2 {
		t.Fatalf("GET /admin/sessions = %d %s", rec.Code, rec.Body)
	}
	first := list.Sessions[0]
	for k, want := range map[string]any{
		"id": "sid-a", "subject": "alice", "client_id": "com.example/web", "kind": "user",
		"opened_at": "2026-03-01T12:00:00Z", "last_seen_at": "2026-03-01T12:01:00Z", "expires_at": nil,
	} {
		if first[k] != want {
			t.Errorf("session %s = %v, want %v", k, first[k], want)
		}
	}
	if list.Sessions[1]["expires_at"] != "2026-03-01T13:00:00Z" {
		t.Errorf("service session expires_at = %v", list.Sessions[1]["expires_at"])
	}

	rec = do(h, "DELETE", "/admin/sessions/sid-a", auth)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"end_reason": "admin"`) {
		t.Fatalf("DELETE = %d %s", rec.Code, rec.Body)
	}
	if len(s.ended) != 1 || s.ended[0] != "sid-a:admin" {
		t.Errorf("ended %v", s.ended)
	}
	if rec := do(h, "DELETE", "/admin/sessions/unknown", auth); rec.Code != 404 {
		t.Errorf("DELETE unknown = %d", rec.Code)
	}

	rec = do(h, "GET", "/admin/license", auth)
	var lic map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &lic); err != nil || lic["used"] != 2.0 || lic["total"] != 10.0 || lic["reserved"] != 1.0 || lic["free"] != 8.0 || lic["unlimited"] != false {
		t.Errorf("GET /admin/license = %s", rec.Body)
	}

	if rec := do(h, "GET", "/admin/nothing", auth); rec.Code != 404 {
		t.Errorf("unknown endpoint = %d", rec.Code)
	}
	// Unauthenticated callers learn nothing about which endpoints exist.
	if rec := do(h, "GET", "/admin/nothing", ""); rec.Code != 401 {
		t.Errorf("unknown endpoint without a token = %d, want 401", rec.Code)
	}
}
