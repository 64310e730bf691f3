package browserlogin

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/signing"
)

func TestLoginRefreshSignOut(t *testing.T) {
	e := newEnv(t, nil)

	resp, body := e.get(t, "/app/reports?year=2026")
	if resp.StatusCode != http.StatusOK || body != "hello alice at /app/reports?year=2026" {
		t.Fatalf("after login: %d %q", resp.StatusCode, body)
	}
	if n := len(e.sessionCookies(t)); n == 0 {
		t.Fatal("no session cookie after login")
	}

	resp, body = e.get(t, UserInfoPath)
	var ui map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &ui) != nil || ui["sub"] != "alice" || ui["email"] != "alice@example.com" {
		t.Fatalf("userinfo: %d %s", resp.StatusCode, body)
	}
	if _, leaked := ui["nonce"]; leaked {
		t.Errorf("userinfo shows the nonce: %s", body)
	}

	// Near expiry, the next request refreshes; the page still works.
	e.advance(time.Hour - 30*time.Second)
	if resp, body = e.get(t, "/app/x"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "hello alice") {
		t.Fatalf("after refresh: %d %q", resp.StatusCode, body)
	}
	if n := e.issuer.refreshCalls.Load(); n != 1 {
		t.Errorf("refresh calls = %d, want 1", n)
	}

	// Sign out: cookie gone, issuer told with id_token_hint.
	resp, err := e.noFollow().Get(e.srv.URL + SignOutPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Path != "/id/connect/endsession" {
		t.Fatalf("sign out: %d Location %q", resp.StatusCode, loc)
	}
	q := loc.Query()
	if q.Get("id_token_hint") == "" || q.Get("post_logout_redirect_uri") != e.srv.URL+"/" || q.Get("client_id") != testClientID {
		t.Errorf("end-session query: %v", q)
	}
	if n := len(e.sessionCookies(t)); n != 0 {
		t.Errorf("%d session cookies left after sign out", n)
	}
	if resp, body = e.get(t, UserInfoPath); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo after sign out: %d %s", resp.StatusCode, body)
	}
}

// startLogin runs StartLogin for path and returns the authorize URL.
func startLogin(t *testing.T, e *env, path string) *url.URL {
	t.Helper()
	resp, err := e.noFollow().Get(e.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: %d, want 302", path, resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || u.Path != "/id/connect/authorize" {
		t.Fatalf("login redirect to %q", resp.Header.Get("Location"))
	}
	return u
}

// authorize follows the authorize URL and returns the callback URL the
// issuer sent the browser to, without following it.
func authorize(t *testing.T, e *env, u *url.URL) *url.URL {
	t.Helper()
	resp, err := e.noFollow().Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || cb.Path != CallbackPath {
		t.Fatalf("issuer redirected to %q (%d)", resp.Header.Get("Location"), resp.StatusCode)
	}
	return cb
}

func TestAuthorizeRequest(t *testing.T) {
	e := newEnv(t, nil)
	q := startLogin(t, e, "/app/x").Query()
	for k, want := range map[string]string{
		"response_type": "code", "client_id": testClientID, "redirect_uri": e.srv.URL + CallbackPath,
		"code_challenge_method": "S256", "scope": "openid profile offline_access read",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) < 43 {
			t.Errorf("%s = %q: want at least 256 bits", k, q.Get(k))
		}
	}
	if q.Get("state") == q.Get("nonce") {
		t.Error("state and nonce are the same value")
	}
}

// RFC 6749 §10.12: "The client MUST implement CSRF protection for its
// redirection URI." A callback whose state matches no transaction of this
// browser is refused, and no session is created.
func TestCallbackStateMismatch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state func(real string) string
	}{
		{"other state", func(string) string { return "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }},
		{"same cookie prefix, different state", func(real string) string { return real[:16] + strings.Repeat("x", len(real)-16) }},
		{"no state", func(string) string { return "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			cb := authorize(t, e, startLogin(t, e, "/app/x"))
			q := cb.Query()
			q.Set("state", tc.state(q.Get("state")))
			cb.RawQuery = q.Encode()
			resp, err := e.noFollow().Get(cb.String())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `id="error"`) {
				t.Errorf("callback: %d %s", resp.StatusCode, body)
			}
			if n := len(e.sessionCookies(t)); n != 0 {
				t.Errorf("session created despite the wrong state")
			}
		})
	}
}

// A callback replayed in another browser (no transaction cookie) is
// refused: login CSRF.
func TestCallbackWithoutTransactionCookie(t *testing.T) {
	e := newEnv(t, nil)
	cb := authorize(t, e, startLogin(t, e, "/app/x"))
	resp, err := http.Get(cb.String()) // a different browser: empty jar
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("callback without the transaction cookie: %d", resp.StatusCode)
	}
}

// OIDC Core §3.1.3.7: the ID token's nonce must be the one sent.
func TestCallbackNonceMismatch(t *testing.T) {
	e := newEnv(t, func(f *fakeIssuer) { f.wrongNonce = true })
	cb := authorize(t, e, startLogin(t, e, "/app/x"))
	resp, err := e.noFollow().Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "does not belong to this sign-in") {
		t.Errorf("callback with a foreign nonce: %d %s", resp.StatusCode, body)
	}
	if n := len(e.sessionCookies(t)); n != 0 {
		t.Errorf("session created despite the wrong nonce")
	}
}

// RFC 9207 §2.4: a response naming another issuer is refused (mix-up).
func TestCallbackIssuerMismatch(t *testing.T) {
	e := newEnv(t, nil)
	cb := authorize(t, e, startLogin(t, e, "/app/x"))
	q := cb.Query()
	q.Set("iss", "https://evil.example/id")
	cb.RawQuery = q.Encode()
	resp, err := e.noFollow().Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || len(e.sessionCookies(t)) != 0 {
		t.Errorf("callback with a foreign iss: %d", resp.StatusCode)
	}
}

func TestCallbackErrorPage(t *testing.T) {
	e := newEnv(t, nil)
	u := startLogin(t, e, "/app/x")
	state := u.Query().Get("state")
	resp, err := e.noFollow().Get(e.srv.URL + CallbackPath + "?error=access_denied&error_description=%3Cb%3Eno%3C%2Fb%3E&state=" + state)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("error callback: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`id="error"`, "access_denied", "&lt;b&gt;no&lt;/b&gt;", `href="/app/x"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("error page lacks %q:\n%s", want, body)
		}
	}
}

func TestReturnURLs(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"/", "/"},
		{"/app/x", "/app/x"},
		{"/app/x?y=1&z=%2F", "/app/x?y=1&z=%2F"},
		{"/api/domain/html/caf%C3%A9", "/api/domain/html/caf%C3%A9"},
		{"/reports/100%25", "/reports/100%25"},
		{"", "/"},
		{"app/x", "/"},
		{"//evil.com", "/"},
		{"//evil.com/app", "/"},
		{"///evil.com", "/"},
		{"https://evil.com", "/"},
		{"https://evil.com/app", "/"},
		{"http:evil.com", "/"},
		{"javascript:alert(1)", "/"},
		{"/\\evil.com", "/"},
		{"\\\\evil.com", "/"},
		{"/app\\..\\x", "/"},
		{"/%2F%2Fevil.com", "/"},
		{"/%2f%2fevil.com", "/"},
		{"/%5Cevil.com", "/"},
		{"/%5cevil.com", "/"},
		{"/%252F%252Fevil.com", "/"},
		{"/%25252F%25252Fevil.com", "/"},
		{"/%2525252F%2525252Fevil.com", "/"},
		{"/\t/evil.com", "/"},
		{"/\n/evil.com", "/"},
		{"/%09/evil.com", "/"},
		{"/%0d%0aSet-Cookie:x=y", "/"},
		{"/\x00", "/"},
		{"/app x", "/"},
		{"/app#frag", "/"},
		{"/\u2028/evil.com", "/"},
		{"/%E2%80%8B/evil.com", "/"},
		{"/%ff", "/"},
		{"/%zz", "/"},
		{"/oauth2/sign_out", "/"},
		{"/oauth2", "/"},
		{"/%6Fauth2/sign_out", "/"},
		{"/" + strings.Repeat("a", 3000), "/"},
	} {
		if got := safeReturnURL(tc.in); got != tc.want {
			t.Errorf("safeReturnURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzReturnURL(f *testing.F) {
	for _, s := range []string{"/", "/app", "//evil.com", "/\\evil.com", "/%2F%2Fevil.com", "https://x", "/a?b=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := safeReturnURL(s)
		if got == "/" {
			return
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(got, "/") ||
			strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\t\r\n") {
			t.Fatalf("safeReturnURL(%q) = %q: not a same-origin path", s, got)
		}
		// What a browser makes of it must stay on our origin.
		base, _ := url.Parse("https://gateway.example/")
		if r := base.ResolveReference(u); r.Host != "gateway.example" {
			t.Fatalf("safeReturnURL(%q) = %q resolves to host %q", s, got, r.Host)
		}
	})
}

// The return URL survives the round trip; an off-site one becomes "/".
func TestReturnURLAfterLogin(t *testing.T) {
	e := newEnv(t, nil)
	resp, _ := e.get(t, StartPath+"?rd="+url.QueryEscape("//evil.com/x"))
	if resp.Request.URL.Host != strings.TrimPrefix(e.srv.URL, "http://") || resp.Request.URL.Path != "/" {
		t.Errorf("after login with rd=//evil.com/x, the browser is at %s", resp.Request.URL)
	}
	resp, body := e.get(t, StartPath+"?rd="+url.QueryEscape("/app/ok?a=1"))
	if resp.Request.URL.Path != "/app/ok" || body != "hello alice at /app/ok?a=1" {
		t.Errorf("after login with rd=/app/ok, the browser is at %s: %q", resp.Request.URL, body)
	}
}

// setCookies runs f and returns the cookies it set, by name.
func setCookies(f func(w http.ResponseWriter)) map[string]*http.Cookie {
	rec := httptest.NewRecorder()
	f(rec)
	out := map[string]*http.Cookie{}
	for _, c := range rec.Result().Cookies() {
		out[c.Name] = c
	}
	return out
}

func TestCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		publicURL  string
		wantSecure bool
	}{
		{"http://localhost:8080", false},
		{"https://gateway.example", true},
	} {
		t.Run(tc.publicURL, func(t *testing.T) {
			h := newTestHandler(t, tc.publicURL, [][]byte{testKey1})
			r := httptest.NewRequest(http.MethodGet, "/app/x", nil)
			got := setCookies(func(w http.ResponseWriter) { h.StartLogin(w, r) })
			if len(got) != 1 {
				t.Fatalf("StartLogin set %d cookies, want 1 (the transaction)", len(got))
			}
			for name, c := range got {
				if !strings.HasPrefix(name, txCookiePrefix) || c.Path != CallbackPath || c.MaxAge != 600 {
					t.Errorf("transaction cookie %s: Path %q MaxAge %d", name, c.Path, c.MaxAge)
				}
				checkFlags(t, c, tc.wantSecure)
			}
			got = setCookies(func(w http.ResponseWriter) {
				if err := h.saveSession(w, r, sessionTokens{AccessToken: "a", RefreshToken: "r", IDToken: "i", Expiry: 1, Obtained: 1}); err != nil {
					t.Fatal(err)
				}
			})
			c := got[sessionCookie+"_0"]
			if c == nil {
				t.Fatalf("session cookies: %v", got)
			}
			if c.Path != "/" || c.MaxAge != 0 || !c.Expires.IsZero() {
				t.Errorf("session cookie: Path %q MaxAge %d Expires %v; want /, a browser-session cookie", c.Path, c.MaxAge, c.Expires)
			}
			checkFlags(t, c, tc.wantSecure)
			if strings.Contains(c.Value, "r") && strings.Contains(c.Value, `"a"`) {
				t.Errorf("session cookie looks unencrypted: %s", c.Value)
			}
		})
	}
}

func checkFlags(t *testing.T, c *http.Cookie, secure bool) {
	t.Helper()
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != secure {
		t.Errorf("cookie %s: HttpOnly %v SameSite %v Secure %v; want true, Lax, %v", c.Name, c.HttpOnly, c.SameSite, c.Secure, secure)
	}
}

func newTestHandler(t testing.TB, publicURL string, keys [][]byte) *Handler {
	t.Helper()
	f := newFakeIssuer(t, publicURL+"/id", time.Now)
	h, err := New(Config{
		Issuer: publicURL + "/id", PublicURL: publicURL, ClientID: testClientID, ClientSecret: testSecret,
		Scopes: []string{"read"}, CookieKeys: keys, KeySet: f.keys, Algorithms: signing.Algorithms,
		HTTPClient: handlerClient(f), Pages: testKit(t, ""), Clock: time.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// withCookies is a request carrying cookies.
func withCookies(cs map[string]*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/app/x", nil)
	for _, c := range cs {
		if c.MaxAge >= 0 {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	return r
}

// Key rotation: gateway.cookie_keys' first key encrypts, all decrypt.
func TestCookieKeyRotation(t *testing.T) {
	want := sessionTokens{AccessToken: "access", RefreshToken: "refresh", IDToken: "id", Expiry: 2e9, Obtained: 1e9}
	old := newTestHandler(t, "http://localhost:8080", [][]byte{testKey1})
	rotated := newTestHandler(t, "http://localhost:8080", [][]byte{testKey2, testKey1})
	newOnly := newTestHandler(t, "http://localhost:8080", [][]byte{testKey2})

	byOld := setCookies(func(w http.ResponseWriter) { _ = old.saveSession(w, withCookies(nil), want) })
	if got, ok := rotated.loadSession(withCookies(byOld)); !ok || got != want {
		t.Errorf("old-key cookie with [new, old] keys: %+v %v", got, ok)
	}
	if _, ok := newOnly.loadSession(withCookies(byOld)); ok {
		t.Error("old-key cookie decoded after the old key was dropped")
	}
	byRotated := setCookies(func(w http.ResponseWriter) { _ = rotated.saveSession(w, withCookies(nil), want) })
	if got, ok := newOnly.loadSession(withCookies(byRotated)); !ok || got != want {
		t.Errorf("cookie written with [new, old] keys is not encrypted with the new key: %+v %v", got, ok)
	}
	if _, ok := old.loadSession(withCookies(byRotated)); ok {
		t.Error("cookie written with [new, old] keys decodes with the old key alone")
	}
	// An undecodable session is cleared, not kept.
	rec := httptest.NewRecorder()
	if _, ok := newOnly.AccessToken(rec, withCookies(byOld)); ok {
		t.Error("AccessToken accepted an old-key cookie")
	}
	if c := rec.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("undecodable session not cleared: %v", c)
	}
}

// A session of RS256 tokens is larger than one cookie holds: it is split
// into chunks that each fit, and reassembled.
func TestSessionChunks(t *testing.T) {
	e := newEnv(t, func(f *fakeIssuer) { f.bigClaims = true })
	if resp, body := e.get(t, "/app/x"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "hello alice") {
		t.Fatalf("login with big tokens: %d %q", resp.StatusCode, body)
	}
	cs := e.sessionCookies(t)
	if len(cs) < 2 {
		t.Fatalf("%d session cookies, want the session split in several", len(cs))
	}
	for _, c := range cs {
		if n := len(c.Name) + len(c.Value); n > 4000 {
			t.Errorf("cookie %s is %d bytes", c.Name, n)
		}
	}
	// Shrinking: a session written in fewer chunks expires the extra ones.
	r := withCookies(map[string]*http.Cookie{"a": cs[0], "b": cs[1]})
	r.AddCookie(&http.Cookie{Name: sessionCookie + "_4", Value: "stale"})
	got := setCookies(func(w http.ResponseWriter) {
		_ = e.login.saveSession(w, r, sessionTokens{AccessToken: "a", Expiry: 1})
	})
	if c := got[sessionCookie+"_4"]; c == nil || c.MaxAge >= 0 {
		t.Errorf("stale chunk not expired: %v", got)
	}
	if c := got[sessionCookie+"_0"]; c == nil || !strings.HasPrefix(c.Value, "1.") {
		t.Errorf("chunk 0 = %v, want count 1", c)
	}
}

// The typical RS256 session (no padding) must not need more than two
// cookies.
func TestSessionSizeRS256(t *testing.T) {
	e := newEnv(t, nil)
	e.get(t, "/app/x")
	total := 0
	for _, c := range e.sessionCookies(t) {
		total += len(c.Value)
	}
	if n := len(e.sessionCookies(t)); n == 0 || n > 2 {
		t.Errorf("RS256 session in %d cookies (%d bytes)", n, total)
	}
	t.Logf("RS256 session: %d bytes in %d cookie(s)", total, len(e.sessionCookies(t)))
}

// SPEC §4: "refreshes them before expiry (one refresh per session at a
// time)". Concurrent requests of one session share one refresh; a request
// arriving later with the replaced refresh token gets the same result
// without a second call.
func TestOneRefreshInFlight(t *testing.T) {
	e := newEnv(t, func(f *fakeIssuer) { f.refreshDelay = 200 * time.Millisecond })
	e.get(t, "/app/x")
	u, _ := url.Parse(e.srv.URL + "/")
	cookies := e.browser.Jar.Cookies(u)
	request := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/app/x", nil)
		for _, c := range cookies {
			r.AddCookie(c)
		}
		return r
	}
	old, _ := e.login.loadSession(request())
	e.advance(time.Hour - 10*time.Second)

	const n = 20
	tokens := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			tok, ok := e.login.AccessToken(rec, request())
			if !ok {
				t.Errorf("request %d: no token", i)
			}
			if len(rec.Result().Cookies()) == 0 {
				t.Errorf("request %d: refreshed session not written", i)
			}
			tokens[i] = tok
		}()
	}
	wg.Wait()
	if c := e.issuer.refreshCalls.Load(); c != 1 {
		t.Errorf("%d refresh calls for %d concurrent requests, want 1", c, n)
	}
	for i, tok := range tokens {
		if tok == old.AccessToken || tok != tokens[0] {
			t.Errorf("request %d got a different or the old token", i)
		}
	}
	// Late straggler with the old cookie.
	if tok, ok := e.login.AccessToken(httptest.NewRecorder(), request()); !ok || tok != tokens[0] {
		t.Errorf("late request with the replaced refresh token: %v", ok)
	}
	if c := e.issuer.refreshCalls.Load(); c != 1 {
		t.Errorf("%d refresh calls after a late request, want 1", c)
	}
}

// A request that still carries the refresh token a refresh replaced
// gets that refresh's result only while the issuer's reuse grace lasts,
// counted from when the refresh began: afterwards it goes to the issuer,
// which refuses the rotated token as reused (RFC 9700 §4.14.2), and the
// session is cleared. The cache never outlives the grace, nor a minute.
func TestRecentRefreshNeverOutlivesGrace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		grace  time.Duration
		later  time.Duration // the straggler comes this long after the refresh
		cached bool
	}{
		{"within the grace", testGrace, testGrace - time.Second, true},
		{"at the end of the grace", testGrace, testGrace, false},
		{"after the grace", testGrace, testGrace + time.Second, false},
		{"no grace", 0, 0, false},
		{"a grace beyond the cap", time.Hour, maxRecentTTL, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.login.cfg.RefreshReuseGrace = tc.grace
			e.get(t, "/app/x")
			u, _ := url.Parse(e.srv.URL + "/")
			old := e.browser.Jar.Cookies(u)
			request := func() *http.Request {
				r := httptest.NewRequest(http.MethodGet, "/app/x", nil)
				for _, c := range old {
					r.AddCookie(c)
				}
				return r
			}
			e.advance(time.Hour - 10*time.Second)
			first, ok := e.login.AccessToken(httptest.NewRecorder(), request())
			if !ok || e.issuer.refreshCalls.Load() != 1 {
				t.Fatalf("refresh: ok %v, %d calls to the issuer", ok, e.issuer.refreshCalls.Load())
			}

			e.advance(tc.later)
			tok, ok := e.login.AccessToken(httptest.NewRecorder(), request())
			calls := e.issuer.refreshCalls.Load()
			if tc.cached {
				if !ok || tok != first || calls != 1 {
					t.Errorf("replaced refresh token %s after the refresh (grace %s): ok %v, same token %v, %d issuer calls; want the cached result",
						tc.later, tc.grace, ok, tok == first, calls)
				}
				return
			}
			if ok || calls != 2 {
				t.Errorf("replaced refresh token %s after the refresh (grace %s): ok %v, %d issuer calls; want it sent to the issuer and refused",
					tc.later, tc.grace, ok, calls)
			}
		})
	}
}

// The issuer refusing the refresh (revoked, reused, logged out) ends the
// browser session.
func TestRefreshRefusedClearsSession(t *testing.T) {
	e := newEnv(t, nil)
	e.get(t, "/app/x")
	e.issuer.refuse.Store(true)
	e.advance(time.Hour - 10*time.Second)
	resp, err := e.noFollow().Get(e.srv.URL + "/app/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("after a refused refresh: %d, want a login redirect", resp.StatusCode)
	}
	if n := len(e.sessionCookies(t)); n != 0 {
		t.Errorf("%d session cookies left after a refused refresh", n)
	}
}

func TestSignOutCrossSiteConfirms(t *testing.T) {
	e := newEnv(t, nil)
	e.get(t, "/app/x")
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+SignOutPath, nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := e.noFollow().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `method="post"`) {
		t.Errorf("cross-site sign-out: %d %s", resp.StatusCode, body)
	}
	if len(e.sessionCookies(t)) == 0 {
		t.Error("a cross-site request signed the user out")
	}
}

func TestOwnsCookie(t *testing.T) {
	h := newTestHandler(t, "http://localhost:8080", [][]byte{testKey1})
	for name, want := range map[string]bool{
		"erpgate_session_0": true, "erpgate_session_3": true, "erpgate_login_abc": true,
		"erpgate_sessionx": false, "session": false, "app_erpgate_session_0": false,
	} {
		if got := h.OwnsCookie(name); got != want {
			t.Errorf("OwnsCookie(%q) = %v", name, got)
		}
	}
}

func TestUnknownEndpoint(t *testing.T) {
	h := newTestHandler(t, "http://localhost:8080", [][]byte{testKey1})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/oauth2/nope", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("/oauth2/nope: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, CallbackPath, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST callback: %d", rec.Code)
	}
}
