package admin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/internal/testauth"
	"github.com/erpgate/erpgate/store"
)

// newAPI builds the API on an authority and session manager wired as
// production wires them, with license slots 10 and one reserved seat.
func newAPI(t *testing.T) (*Handler, *testauth.Auth) {
	t.Helper()
	a := testauth.New(t, testauth.Config{Slots: 10, Reserved: []string{"admin"}})
	h, err := New(Config{
		Authority: a.Authority, Audiences: testauth.Audiences, Sessions: a.Sessions,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, a
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

// proxied opens cred's session as a proxied call does.
func proxied(t *testing.T, a *testauth.Auth, tok string) {
	t.Helper()
	door := authority.Door{Audiences: testauth.Audiences, OpenSession: true}
	if _, ref := a.Authority.Authenticate(context.Background(), authority.Credential{Source: authority.SourceBearer, Token: tok}, door); ref != nil {
		t.Fatalf("proxied call refused: %v", ref)
	}
}

// TestAuthorization: who may use the admin API, decided now: a token the
// authority accepts, with scope sec that its app still has, of an
// administrator (by the current user record) or of a service app.
func TestAuthorization(t *testing.T) {
	const (
		web, ops, sync = testauth.WebApp, testauth.OpsApp, testauth.SyncApp
		invalid        = `Bearer realm="erpgate", error="invalid_token"`
		needSec        = `Bearer realm="erpgate", error="insufficient_scope", scope="sec"`
	)
	for _, tc := range []struct {
		name string
		// auth is the Authorization header; it may change the state.
		auth       func(t *testing.T, a *testauth.Auth) string
		wantStatus int
		wantError  string
		wantAuth   string
	}{
		{"no token", func(*testing.T, *testauth.Auth) string { return "" }, 401, "unauthorized", `Bearer realm="erpgate"`},
		{"basic auth", func(*testing.T, *testauth.Auth) string { return "Basic YTpi" }, 401, "unauthorized", `Bearer realm="erpgate"`},
		{"bad token", func(*testing.T, *testauth.Auth) string { return "Bearer nope" }, 401, "invalid_token", invalid},
		{"wrong audience", func(t *testing.T, a *testauth.Auth) string {
			c := a.UserClaims("admin", web, "s6", "sec")
			c.Audience = []string{"Elsewhere"}
			return "Bearer " + a.Sign(c)
		}, 401, "invalid_token", invalid},
		{"revoked", func(t *testing.T, a *testauth.Auth) string {
			a.Revoke("jti-s1")
			return "Bearer " + a.UserToken("admin", web, "s1", "sec")
		}, 401, "invalid_token", invalid},
		{"session ended by logout", func(t *testing.T, a *testauth.Auth) string {
			tok := a.UserToken("admin", web, "s7", "sec")
			a.EndSession("s7", store.EndLogout)
			return "Bearer " + tok
		}, 401, "invalid_token", invalid},
		{"session ended by an administrator", func(t *testing.T, a *testauth.Auth) string {
			tok := a.UserToken("admin", web, "s7", "sec")
			proxied(t, a, tok)
			a.EndSession("s7", store.EndAdmin)
			return "Bearer " + tok
		}, 401, "invalid_token", invalid},
		{"admin's app disabled", func(t *testing.T, a *testauth.Auth) string {
			tok := a.UserToken("admin", web, "s1", "sec")
			a.EditApp(web, func(app *directory.App) { app.Enabled = false })
			return "Bearer " + tok
		}, 401, "invalid_token", invalid},
		{"admin removed", func(t *testing.T, a *testauth.Auth) string {
			tok := a.UserToken("admin", web, "s1", "sec")
			a.RemoveUser("admin")
			return "Bearer " + tok
		}, 401, "invalid_token", invalid},
		{"admin without sec", func(t *testing.T, a *testauth.Auth) string {
			return "Bearer " + a.UserToken("admin", web, "s2", "read")
		}, 403, "insufficient_scope", needSec},
		{"admin whose app lost sec", func(t *testing.T, a *testauth.Auth) string {
			tok := a.UserToken("admin", web, "s1", "sec")
			a.EditApp(web, func(app *directory.App) { app.Scopes = []string{"read", "update"} })
			return "Bearer " + tok
		}, 403, "insufficient_scope", needSec},
		{"non-admin with sec", func(t *testing.T, a *testauth.Auth) string {
			return "Bearer " + a.UserToken("alice", web, "s3", "sec")
		}, 403, "access_denied", ""},
		// The token's is_admin claim is as it was at issue; the user
		// record says what the user is now.
		{"admin no longer an administrator", func(t *testing.T, a *testauth.Auth) string {
			tok := a.UserToken("admin", web, "s1", "sec")
			a.EditUser("admin", func(u *directory.User) { u.Admin = false })
			return "Bearer " + tok
		}, 403, "access_denied", ""},
		{"user made an administrator after the token", func(t *testing.T, a *testauth.Auth) string {
			tok := a.UserToken("alice", web, "s3", "sec")
			a.EditUser("alice", func(u *directory.User) { u.Admin = true })
			return "Bearer " + tok
		}, 200, "", ""},
		// A scope the app does not have is not honoured (SPEC §4), so a
		// service app without sec is refused for want of it.
		{"app not allowed sec", func(t *testing.T, a *testauth.Auth) string {
			return "Bearer " + a.Sign(a.ServiceClaims(sync, "s5", "sec"))
		}, 403, "insufficient_scope", needSec},
		{"app that lost sec", func(t *testing.T, a *testauth.Auth) string {
			tok := a.ServiceToken(ops, "s4", "sec")
			a.EditApp(ops, func(app *directory.App) { app.Scopes = nil })
			return "Bearer " + tok
		}, 403, "insufficient_scope", needSec},
		{"admin", func(t *testing.T, a *testauth.Auth) string {
			return "Bearer " + a.UserToken("admin", web, "s1", "sec")
		}, 200, "", ""},
		{"admin's personal access token", func(t *testing.T, a *testauth.Auth) string {
			return "Bearer " + a.PAT(web, "admin", "sec").Value
		}, 200, "", ""},
		{"app allowed sec", func(t *testing.T, a *testauth.Auth) string {
			return "Bearer " + a.ServiceToken(ops, "s4", "sec")
		}, 200, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, a := newAPI(t)
			rec := do(h, "GET", "/admin/license", tc.auth(t, a))
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

// The admin API takes no license slot: its callers' sessions are only
// checked, never opened.
func TestAdminCallsOpenNoSession(t *testing.T) {
	h, a := newAPI(t)
	if rec := do(h, "GET", "/admin/license", "Bearer "+a.UserToken("admin", testauth.WebApp, "s1", "sec")); rec.Code != 200 {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	if l, err := a.Sessions.License(context.Background()); err != nil || l.Used != 0 {
		t.Errorf("license after an admin call = %+v, %v; want 0 used", l, err)
	}
}

func TestEndpoints(t *testing.T) {
	h, a := newAPI(t)
	auth := "Bearer " + a.UserToken("admin", testauth.WebApp, "s1", "sec")
	alice := a.UserToken("alice", testauth.WebApp, "sid-a")
	proxied(t, a, alice)
	proxied(t, a, a.ServiceToken(testauth.SyncApp, "sid-s", "read"))
	a.Clock.Advance(time.Minute)
	proxied(t, a, alice)

	rec := do(h, "GET", "/admin/sessions", auth)
	var list struct {
		Sessions []map[string]any `json:"sessions"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); rec.Code != 200 || err != nil || len(list.Sessions) != 2 {
		t.Fatalf("GET /admin/sessions = %d %s", rec.Code, rec.Body)
	}
	byID := map[any]map[string]any{}
	for _, s := range list.Sessions {
		byID[s["id"]] = s
	}
	for k, want := range map[string]any{
		"id": "sid-a", "subject": "alice", "client_id": testauth.WebApp, "kind": "user",
		"opened_at": "2026-03-01T12:00:00Z", "last_seen_at": "2026-03-01T12:01:00Z", "expires_at": nil,
	} {
		if got := byID["sid-a"][k]; got != want {
			t.Errorf("session %s = %v, want %v", k, got, want)
		}
	}
	if got := byID["sid-s"]["expires_at"]; got != "2026-03-01T13:00:00Z" {
		t.Errorf("service session expires_at = %v", got)
	}

	rec = do(h, "GET", "/admin/license", auth)
	var lic map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &lic); err != nil || lic["used"] != 2.0 || lic["total"] != 10.0 || lic["reserved"] != 1.0 || lic["free"] != 8.0 || lic["unlimited"] != false {
		t.Errorf("GET /admin/license = %s", rec.Body)
	}

	rec = do(h, "DELETE", "/admin/sessions/sid-a", auth)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"end_reason": "admin"`) {
		t.Fatalf("DELETE = %d %s", rec.Code, rec.Body)
	}
	s, err := a.Store.Session(context.Background(), "sid-a")
	if err != nil || s.Open() || s.EndReason != store.EndAdmin {
		t.Errorf("stored session after DELETE = %+v, %v; want ended admin", s, err)
	}
	door := authority.Door{Audiences: testauth.Audiences, OpenSession: true}
	if _, ref := a.Authority.Authenticate(context.Background(), authority.Credential{Source: authority.SourceBearer, Token: alice}, door); ref == nil || ref.Reason != authority.ReasonSessionEnded {
		t.Errorf("alice's token after DELETE: %v, want session_ended", ref)
	}
	if rec := do(h, "DELETE", "/admin/sessions/unknown", auth); rec.Code != 404 {
		t.Errorf("DELETE unknown = %d", rec.Code)
	}

	if rec := do(h, "GET", "/admin/nothing", auth); rec.Code != 404 {
		t.Errorf("unknown endpoint = %d", rec.Code)
	}
	// Unauthenticated callers learn nothing about which endpoints exist.
	if rec := do(h, "GET", "/admin/nothing", ""); rec.Code != 401 {
		t.Errorf("unknown endpoint without a token = %d, want 401", rec.Code)
	}
}
