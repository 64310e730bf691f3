package issuer

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/erpgate/erpgate/directory"
)

const testDatabase = "E1_TESTDB"

// payload is a signed token's claims as JSON values, so a test sees
// which claims are present, not only their Go zero values.
func (ts *testServer) payload(t *testing.T, tok string) map[string]any {
	t.Helper()
	p, err := ts.keys.VerifySignature(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// checkClaims compares the named claims of m with want; a nil want means
// the claim must be absent.
func checkClaims(t *testing.T, what string, m map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		got, ok := m[k]
		switch {
		case w == nil && ok:
			t.Errorf("%s: %s = %#v, want it absent", what, k, got)
		case w != nil && !ok:
			t.Errorf("%s: no %s claim, want %#v", what, k, w)
		case w != nil && got != w:
			t.Errorf("%s: %s = %#v, want %#v", what, k, got, w)
		}
	}
}

// dbWant is the db (or client_db) claim expected with database.
func dbWant(database string) any {
	if database == "" {
		return nil
	}
	return database
}

// dbCase names a subtest by whether instance.database is set.
func dbCase(database string) string {
	if database == "" {
		return "without instance.database"
	}
	return "with instance.database"
}

// withClaimUsers gives alice a verified email and a locale, and adds
// erin, whose email is not verified; database is instance.database.
func withClaimUsers(database string) func(*testConfig) {
	return func(c *testConfig) {
		c.Database = database
		for i := range c.Users {
			if c.Users[i].Login == "alice" {
				c.Users[i].EmailVerified, c.Users[i].Locale = true, "bg-BG"
			}
		}
		c.Users = append(c.Users, directory.User{Login: "erin", ID: "u-5", Name: "Erin", Email: "erin@example.com",
			Type: directory.TypeInternal, PasswordHash: alicePasswordHash})
	}
}

// TestUserTokenClaims checks SPEC §3's user claims in the access and ID
// tokens of the authorization code and refresh grants: user_type in
// ERP.net's names, email_verified and locale from the user's record, and
// db only when instance.database is set.
func TestUserTokenClaims(t *testing.T) {
	type user struct {
		login, app, secret, redirect string
		access, id                   map[string]any // claims wanted in the access and ID tokens
	}
	users := func(db any) []user {
		return []user{
			{"alice", webID, webSecret, webRedirect,
				map[string]any{"sub": "alice", "id": "u-2", "user_type": "InternalUser", "email": "alice@example.com",
					"email_verified": true, "locale": "bg-BG", "is_admin": false, "db": db,
					"client_db": nil, "client_system_user_id": nil, "client_system_user_type": nil},
				map[string]any{"sub": "alice", "name": "Alice Example", "email": "alice@example.com", "email_verified": true,
					"locale": "bg-BG", "db": nil}},
			// An email nobody verified is said to be unverified.
			{"erin", webID, webSecret, webRedirect,
				map[string]any{"user_type": "InternalUser", "email": "erin@example.com", "email_verified": false, "locale": nil, "db": db},
				map[string]any{"email": "erin@example.com", "email_verified": false, "locale": nil}},
			// No email: no email_verified either (OIDC Core §5.1).
			{"bob", "com.example/other", "other", "https://other.example.com/cb",
				map[string]any{"user_type": "ExternalCommunityUser", "email": nil, "email_verified": nil, "locale": nil, "db": db},
				map[string]any{"name": "Bob", "email": nil, "email_verified": nil, "locale": nil}},
		}
	}
	for _, database := range []string{"", testDatabase} {
		t.Run(dbCase(database), func(t *testing.T) {
			ts := newTestServer(t, withClaimUsers(database))
			for _, u := range users(dbWant(database)) {
				t.Run(u.login, func(t *testing.T) {
					p := newPKCE()
					q := newBrowser(t, ts).login(authzQuery(u.app, u.redirect, "openid profile offline_access read", p), u.login, "alice-pw")
					code := ts.exchange(t, u.app, u.secret, codeForm(q.Get("code"), u.redirect, p.verifier))
					if code.status != http.StatusOK {
						t.Fatalf("code exchange: %d %v", code.status, code.body)
					}
					checkClaims(t, "authorization code access token", ts.payload(t, code.body["access_token"].(string)), u.access)
					checkClaims(t, "authorization code ID token", ts.payload(t, code.body["id_token"].(string)), u.id)

					ref := ts.exchange(t, u.app, u.secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {code.body["refresh_token"].(string)}})
					if ref.status != http.StatusOK {
						t.Fatalf("refresh: %d %v", ref.status, ref.body)
					}
					checkClaims(t, "refreshed access token", ts.payload(t, ref.body["access_token"].(string)), u.access)
					checkClaims(t, "refreshed ID token", ts.payload(t, ref.body["id_token"].(string)), u.id)
				})
			}
		})
	}
}

// Without scope profile the ID token names the user only by sub; the
// access token still carries every user claim (SPEC §3).
func TestIDTokenProfileClaimsNeedProfileScope(t *testing.T) {
	ts := newTestServer(t, withClaimUsers(testDatabase))
	p := newPKCE()
	q := newBrowser(t, ts).login(authzQuery(webID, webRedirect, "openid read", p), "alice", "alice-pw")
	res := ts.exchange(t, webID, webSecret, codeForm(q.Get("code"), webRedirect, p.verifier))
	if res.status != http.StatusOK {
		t.Fatalf("code exchange: %d %v", res.status, res.body)
	}
	checkClaims(t, "ID token", ts.payload(t, res.body["id_token"].(string)),
		map[string]any{"sub": "alice", "name": nil, "email": nil, "email_verified": nil, "locale": nil})
	checkClaims(t, "access token", ts.payload(t, res.body["access_token"].(string)),
		map[string]any{"email_verified": true, "locale": "bg-BG", "user_type": "InternalUser", "db": testDatabase})
}

// A refresh reads the user as the directory has it now: a locale changed
// by a reload reaches the next refreshed token.
func TestRefreshTakesTheCurrentUserRecord(t *testing.T) {
	var apps []directory.App
	var users []directory.User
	ts := newTestServer(t, func(c *testConfig) {
		withClaimUsers("")(c)
		apps, users = c.Apps, c.Users
	})
	p := newPKCE()
	q := newBrowser(t, ts).login(authzQuery(webID, webRedirect, "openid offline_access read", p), "alice", "alice-pw")
	first := ts.exchange(t, webID, webSecret, codeForm(q.Get("code"), webRedirect, p.verifier))
	if first.status != http.StatusOK {
		t.Fatalf("code exchange: %d %v", first.status, first.body)
	}
	changed := slices.Clone(users)
	for i := range changed {
		if changed[i].Login == "alice" {
			changed[i].Locale, changed[i].EmailVerified = "de-DE", false
		}
	}
	ts.directory.SetConfig(apps, changed)
	ref := ts.exchange(t, webID, webSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.body["refresh_token"].(string)}})
	if ref.status != http.StatusOK {
		t.Fatalf("refresh: %d %v", ref.status, ref.body)
	}
	checkClaims(t, "refreshed access token", ts.payload(t, ref.body["access_token"].(string)),
		map[string]any{"locale": "de-DE", "email_verified": false})
}

// TestClientCredentialsClaims checks SPEC §3's system-user claims:
// client_system_user_id is the user's stable id, client_system_user_type
// ERP.net's SystemUserNoLogin, and client_db is there only when
// instance.database is set; no user claim is.
func TestClientCredentialsClaims(t *testing.T) {
	for _, database := range []string{"", testDatabase} {
		t.Run(dbCase(database), func(t *testing.T) {
			ts := newTestServer(t, func(c *testConfig) { c.Database = database })
			res := ts.token(t, form("grant_type", "client_credentials"), syncID, syncSecret)
			if res.status != http.StatusOK {
				t.Fatalf("client credentials: %d %v", res.status, res.body)
			}
			checkClaims(t, "access token", ts.payload(t, res.body["access_token"].(string)), map[string]any{
				"client_system_user": "svc-sync", "client_system_user_id": "u-1",
				"client_system_user_type": "SystemUserNoLogin", "client_db": dbWant(database),
				"db": nil, "sub": nil, "user_type": nil, "email_verified": nil, "locale": nil,
			})
		})
	}
}

// Discovery lists the claims tokens can carry; db and client_db only when
// the instance names its database.
func TestDiscoveryClaimsSupported(t *testing.T) {
	for _, database := range []string{"", testDatabase} {
		ts := newTestServer(t, func(c *testConfig) { c.Database = database })
		resp, err := ts.Client().Get(ts.issuer + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var doc struct {
			Claims []string `json:"claims_supported"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"email_verified", "locale", "user_type", "client_system_user_id", "client_system_user_type"} {
			if !slices.Contains(doc.Claims, c) {
				t.Errorf("database %q: claims_supported %v lacks %s", database, doc.Claims, c)
			}
		}
		for _, c := range []string{"db", "client_db"} {
			if got := slices.Contains(doc.Claims, c); got != (database != "") {
				t.Errorf("database %q: claims_supported lists %s = %v", database, c, got)
			}
		}
	}
}
