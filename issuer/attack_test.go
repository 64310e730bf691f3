package issuer

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/password"
)

// Attack suite: each test tries one attack and expects a refusal and no
// side effect.

// introspect asks the issuer about tok as the sync app.
func (ts *testServer) introspect(t *testing.T, tok string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("POST", ts.issuer+"/connect/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(syncID), url.QueryEscape(syncSecret))
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil || res.StatusCode != 200 {
		t.Fatalf("introspect: %d %v", res.StatusCode, err)
	}
	return m
}

func (ts *testServer) userinfoStatus(t *testing.T, tok string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.issuer+"/connect/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// resignRS256 re-signs payload (base64url) with key under a header of the
// attacker's choosing.
func resignRS256(t *testing.T, header map[string]any, payload string, key *rsa.PrivateKey) string {
	t.Helper()
	h, _ := json.Marshal(header)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + payload
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// A JWT whose header names its own key (jku, x5u, jwk: RFC 7515 §4.1.2-5)
// is verified only against this instance's keyring: the header is never
// followed, and a token the attacker signed is refused (RFC 8725 §3.10).
func TestAttackJWTHeaderKeyReferencesIgnored(t *testing.T) {
	ts := newTestServer(t, nil)
	var fetched atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		http.Error(w, "nothing here", http.StatusNotFound)
	}))
	t.Cleanup(evil.Close)

	good := ts.token(t, ccForm(), syncID, syncSecret).body["access_token"].(string)
	payload := strings.Split(good, ".")[1]
	kid := ts.keys.ActiveKeyID()
	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwk := map[string]any{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": b64u(attacker.N.Bytes()), "e": b64u(big.NewInt(int64(attacker.E)).Bytes())}
	for _, tc := range []struct {
		name  string
		extra map[string]any
	}{
		{"jku", map[string]any{"jku": evil.URL + "/jwks"}},
		{"x5u", map[string]any{"x5u": evil.URL + "/cert.pem"}},
		{"jwk", map[string]any{"jwk": jwk}},
		{"jku with our kid", map[string]any{"jku": evil.URL + "/jwks", "kid": kid}},
		{"jwk with no kid", map[string]any{"jwk": jwk, "kid": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": kid}
			for k, v := range tc.extra {
				if v == nil {
					delete(hdr, k)
				} else {
					hdr[k] = v
				}
			}
			forged := resignRS256(t, hdr, payload, attacker)
			if _, err := ts.keys.VerifySignature(context.Background(), forged); err == nil {
				t.Fatal("keyring verified a token signed with the attacker's key")
			}
			if m := ts.introspect(t, forged); m["active"] != false {
				t.Fatalf("introspection says active: %v", m)
			}
			if code := ts.userinfoStatus(t, forged); code != http.StatusUnauthorized {
				t.Fatalf("userinfo: %d", code)
			}
		})
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("the issuer fetched the attacker's URL %d times", n)
	}
	// The genuine token still works: nothing was poisoned.
	if m := ts.introspect(t, good); m["active"] != true {
		t.Fatalf("genuine token after the attempts: %v", m)
	}
}

// An oversized bearer token is refused, not parsed at length or crashed on.
func TestAttackOversizedBearerAtUserinfo(t *testing.T) {
	ts := newTestServer(t, nil)
	huge := strings.Repeat("A", 64<<10) + "." + strings.Repeat("B", 64<<10) + "." + strings.Repeat("C", 1024)
	if code := ts.userinfoStatus(t, huge); code != http.StatusUnauthorized {
		t.Fatalf("64 KiB bearer at userinfo: %d", code)
	}
}

// Logout confirmation needs the anti-forgery token: a cross-site POST
// (no csrf_token; or an empty cookie and an empty field) ends nothing.
func TestAttackLogoutCSRF(t *testing.T) {
	ts := newTestServer(t, nil)
	b := newBrowser(t, ts)
	p := newPKCE()
	q := b.login(authzQuery(webID, webRedirect, "openid read", p), "alice", "alice-pw")
	tok := ts.exchange(t, webID, webSecret, codeForm(q.Get("code"), webRedirect, p.verifier))
	sid := ts.accessClaims(t, tok.body["access_token"].(string)).SessionID

	// The victim has seen the confirmation page, so a CSRF cookie exists.
	if r, page := b.get(ts.issuer + "/connect/endsession"); r.StatusCode != 200 || !strings.Contains(page, "Sign out?") {
		t.Fatalf("confirmation page: %d", r.StatusCode)
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		cookie string // sent instead of the browser's own, when set
	}{
		{"no csrf_token", url.Values{"confirm": {"yes"}}, ""},
		{"wrong csrf_token", url.Values{"confirm": {"yes"}, "csrf_token": {newSecret()}}, ""},
		{"empty cookie and empty field", url.Values{"confirm": {"yes"}, "csrf_token": {""}}, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", ts.issuer+"/connect/endsession", strings.NewReader(tc.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			c := b.c
			if tc.cookie == "empty" {
				u, _ := url.Parse(ts.issuer + "/")
				var id string
				for _, ck := range b.c.Jar.Cookies(u) {
					if ck.Name == identityCookie {
						id = ck.Value
					}
				}
				req.Header.Set("Cookie", identityCookie+"="+id+"; "+csrfCookie+"=")
				c = &http.Client{CheckRedirect: b.c.CheckRedirect}
			}
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden {
				t.Fatalf("forged logout: %d", res.StatusCode)
			}
			if s, err := ts.store.Session(context.Background(), sid); err == nil && s.EndReason != "" {
				t.Fatalf("session ended by a forged logout: %+v", s)
			}
			// SSO still works: the identity session survived.
			r, _ := b.get(ts.issuer + "/connect/authorize?" + authzQuery(webID, webRedirect, "read", newPKCE(), "prompt", "none").Encode())
			if q := redirectQuery(t, r, webRedirect); q.Get("code") == "" {
				t.Fatalf("identity session gone after a forged logout: %v", q)
			}
		})
	}
}

// A login POST can only ever redirect to a registered redirect_uri: with
// one that is not registered the page is an error, even with the right
// password, and no identity session is started.
func TestAttackLoginOpenRedirect(t *testing.T) {
	ts := newTestServer(t, nil)
	b := newBrowser(t, ts)
	resp, _ := b.get(ts.issuer + "/connect/authorize?" + authzQuery(webID, webRedirect, "read", newPKCE()).Encode())
	_, page := b.get(ts.URL + resp.Header.Get("Location"))
	f := formFields(page)
	if f.Get("csrf_token") == "" {
		t.Fatal("login page has no csrf_token")
	}
	for _, evil := range []string{"https://evil.example/cb", "https://app.example.com/cb/../evil", "https://app.example.com/CB", "//evil.example/cb", "https://app.example.com/cb#x"} {
		t.Run(evil, func(t *testing.T) {
			g := url.Values{}
			for k, v := range f {
				g[k] = v
			}
			g.Set("redirect_uri", evil)
			g.Set("login", "alice")
			g.Set("password", "alice-pw")
			res, body := b.post(ts.issuer+"/account/login", g)
			if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" || strings.Contains(body, "evil.example") && strings.Contains(body, "http-equiv") {
				t.Fatalf("login with unregistered redirect_uri: %d Location %q", res.StatusCode, res.Header.Get("Location"))
			}
			for _, c := range res.Cookies() {
				if c.Name == identityCookie {
					t.Fatal("identity session started by a login for an unregistered redirect_uri")
				}
			}
		})
	}
}

// TestNoEnumerationByWork: an unknown login and a system user (no
// password) cost the same key derivation as a wrong password for a real
// account: argon2id runs with the default memory cost either way. Memory
// allocated is measured instead of time, so the test does not depend on
// the machine's speed.
func TestNoEnumerationByWork(t *testing.T) {
	ts := newTestServer(t, nil)
	s := ts.Config.Handler.(*Server)
	real := &directory.User{Login: "carol", PasswordHash: password.Hash("right", password.Default)}
	allocated := func(u *directory.User) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s.checkPassword(u, "wrong")
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	want := uint64(password.Default.Memory) * 1024 * 9 / 10
	for name, u := range map[string]*directory.User{"existing account": real, "unknown login": nil, "system user": {Login: "svc", Type: "system"}} {
		if got := allocated(u); got < want {
			t.Errorf("%s: argon2id used %d bytes, want at least %d (the default cost)", name, got, want)
		}
	}
}
