package issuer

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/claims"
)

// browser is a cookie-keeping client that does not follow redirects, so
// each hop can be inspected.
type browser struct {
	t  *testing.T
	ts *testServer
	c  *http.Client
}

func newBrowser(t *testing.T, ts *testServer) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, ts: ts, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, readBody(b.t, resp)
}

func (b *browser) post(u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.PostForm(u, form)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, readBody(b.t, resp)
}

func readBody(t *testing.T, resp *http.Response) string {
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return sb.String()
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// formFields returns the hidden fields of the page's form.
func formFields(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		v.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	v := newSecret() + "x" // 44 characters
	sum := sha256.Sum256([]byte(v))
	return pkce{v, base64.RawURLEncoding.EncodeToString(sum[:])}
}

func authzQuery(clientID, redirect, scope string, p pkce, extra ...string) url.Values {
	q := url.Values{"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {scope}, "state": {"st-123"}, "nonce": {"n-456"}}
	if p.challenge != "" {
		q.Set("code_challenge", p.challenge)
		q.Set("code_challenge_method", "S256")
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return q
}

// login walks authorize → login page → credentials and returns the final
// redirect's query (the authorization response).
func (b *browser) login(q url.Values, user, pw string) url.Values {
	b.t.Helper()
	resp, _ := b.get(b.ts.issuer + "/connect/authorize?" + q.Encode())
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/account/login?") {
		b.t.Fatalf("authorize without a session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page := b.get(b.ts.URL + resp.Header.Get("Location"))
	if resp.StatusCode != 200 || resp.Header.Get("X-Frame-Options") != "DENY" ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		b.t.Fatalf("login page: %d %v", resp.StatusCode, resp.Header)
	}
	f := formFields(page)
	f.Set("login", user)
	f.Set("password", pw)
	resp, page = b.post(b.ts.issuer+"/account/login", f)
	if resp.StatusCode != http.StatusFound {
		b.t.Fatalf("login post: %d %s", resp.StatusCode, page)
	}
	return redirectQuery(b.t, resp, q.Get("redirect_uri"))
}

func redirectQuery(t *testing.T, resp *http.Response, redirect string) url.Values {
	t.Helper()
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, strings.Split(redirect, "?")[0]+"?") {
		t.Fatalf("redirected to %q, want %s", loc, redirect)
	}
	u, _ := url.Parse(loc)
	return u.Query()
}

func (ts *testServer) exchange(t *testing.T, clientID, secret string, form url.Values) tokenResult {
	t.Helper()
	if secret == "" {
		form.Set("client_id", clientID)
		return ts.token(t, form, "", "")
	}
	return ts.token(t, form, clientID, secret)
}

func codeForm(code, redirect, verifier string) url.Values {
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}
	if verifier != "" {
		f.Set("code_verifier", verifier)
	}
	return f
}

func (ts *testServer) accessClaims(t *testing.T, tok string) claims.Access {
	t.Helper()
	p, err := ts.keys.VerifySignature(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	var c claims.Access
	_ = json.Unmarshal(p, &c)
	return c
}

func (ts *testServer) idClaims(t *testing.T, tok string) idClaims {
	t.Helper()
	p, err := ts.keys.VerifySignature(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	var c idClaims
	_ = json.Unmarshal(p, &c)
	return c
}

const webRedirect = "https://app.example.com/cb"

func TestAuthorizationCodeFlow(t *testing.T) {
	ts := newTestServer(t, nil)
	b := newBrowser(t, ts)
	p := newPKCE()
	resp := b.login(authzQuery(webID, webRedirect, "openid profile offline_access read", p), "alice", "alice-pw")
	if resp.Get("state") != "st-123" || resp.Get("iss") != ts.issuer || resp.Get("code") == "" {
		t.Fatalf("authorization response = %v", resp)
	}
	res := ts.exchange(t, webID, webSecret, codeForm(resp.Get("code"), webRedirect, p.verifier))
	if res.status != 200 {
		t.Fatalf("code exchange: %d %v", res.status, res.body)
	}
	at := ts.accessClaims(t, res.body["access_token"].(string))
	if at.Subject != "alice" || at.UserID != "u-2" || at.UserType != "InternalUser" || at.Name != "Alice Example" ||
		at.IsAdmin == nil || *at.IsAdmin || at.SessionID == "" || at.ClientID != webID ||
		strings.Join(at.Scope.Values, " ") != "openid profile offline_access read" {
		t.Errorf("access token claims = %+v", at)
	}
	id := ts.idClaims(t, res.body["id_token"].(string))
	if id.Subject != "alice" || id.Nonce != "n-456" || id.SID != at.SessionID || id.AuthTime != testNow.Unix() ||
		strings.Join(id.Audience, ",") != webID || id.AtHash != atHash("RS256", res.body["access_token"].(string)) ||
		id.Name != "Alice Example" {
		t.Errorf("ID token claims = %+v", id)
	}
	if res.body["refresh_token"] == nil {
		t.Fatal("offline_access granted but no refresh token")
	}

	// Userinfo with the access token.
	req, _ := http.NewRequest("GET", ts.issuer+"/connect/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+res.body["access_token"].(string))
	uresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	_ = json.NewDecoder(uresp.Body).Decode(&info)
	uresp.Body.Close()
	if uresp.StatusCode != 200 || info["sub"] != "alice" || info["email"] != "alice@example.com" {
		t.Errorf("userinfo = %d %v", uresp.StatusCode, info)
	}

	// SSO: a second app is authorized silently, in the same session.
	p2 := newPKCE()
	q2 := authzQuery("com.example/other", "https://other.example.com/cb", "openid", p2)
	r2, _ := b.get(ts.issuer + "/connect/authorize?" + q2.Encode())
	code2 := redirectQuery(t, r2, "https://other.example.com/cb").Get("code")
	if code2 == "" {
		t.Fatalf("SSO did not issue a code: %s", r2.Header.Get("Location"))
	}
	res2 := ts.exchange(t, "com.example/other", "other", codeForm(code2, "https://other.example.com/cb", p2.verifier))
	if res2.status != 200 || ts.accessClaims(t, res2.body["access_token"].(string)).SessionID != at.SessionID {
		t.Fatalf("SSO token: %d %v", res2.status, res2.body)
	}
}

func TestRefreshRotation(t *testing.T) {
	ts := newTestServer(t, nil)
	b := newBrowser(t, ts)
	p := newPKCE()
	resp := b.login(authzQuery(webID, webRedirect, "openid offline_access read", p), "alice", "alice-pw")
	first := ts.exchange(t, webID, webSecret, codeForm(resp.Get("code"), webRedirect, p.verifier))
	rt1 := first.body["refresh_token"].(string)
	sid := ts.accessClaims(t, first.body["access_token"].(string)).SessionID

	refresh := func(rt string) tokenResult {
		return ts.exchange(t, webID, webSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	}
	second := refresh(rt1)
	if second.status != 200 || second.body["refresh_token"] == rt1 {
		t.Fatalf("refresh: %d %v", second.status, second.body)
	}
	if c := ts.accessClaims(t, second.body["access_token"].(string)); c.SessionID != sid {
		t.Fatalf("refresh changed the sid: %s != %s", c.SessionID, sid)
	}
	// Inside the grace window the same successor pair comes back.
	*ts.now = ts.now.Add(time.Second)
	again := refresh(rt1)
	if again.status != 200 || again.body["refresh_token"] != second.body["refresh_token"] || again.body["access_token"] != second.body["access_token"] {
		t.Fatalf("reuse inside grace did not return the same pair: %d %v", again.status, again.body)
	}
	// After the grace window, reuse revokes the family and its access tokens.
	*ts.now = ts.now.Add(5 * time.Second)
	late := refresh(rt1)
	if late.status != 400 || late.body["error"] != "invalid_grant" {
		t.Fatalf("reuse after grace: %d %v", late.status, late.body)
	}
	if res := refresh(second.body["refresh_token"].(string)); res.status != 400 {
		t.Fatalf("successor still works after reuse detection: %d %v", res.status, res.body)
	}
	for _, tok := range []string{first.body["access_token"].(string), second.body["access_token"].(string)} {
		if !ts.revoked.Revoked(ts.accessClaims(t, tok).ID) {
			t.Errorf("access token of the revoked family is not revoked")
		}
	}
}

func TestConcurrentRefreshInsideGrace(t *testing.T) {
	ts := newTestServer(t, nil)
	b := newBrowser(t, ts)
	p := newPKCE()
	resp := b.login(authzQuery(webID, webRedirect, "offline_access read", p), "alice", "alice-pw")
	rt := ts.exchange(t, webID, webSecret, codeForm(resp.Get("code"), webRedirect, p.verifier)).body["refresh_token"].(string)
	var wg sync.WaitGroup
	results := make([]tokenResult, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = ts.exchange(t, webID, webSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.status != 200 || r.body["refresh_token"] != results[0].body["refresh_token"] {
			t.Fatalf("concurrent refresh %d: %d %v (want all the same successor)", i, r.status, r.body)
		}
	}
}

func TestCodeReplayRevokesTokens(t *testing.T) {
	ts := newTestServer(t, nil)
	b := newBrowser(t, ts)
	p := newPKCE()
	resp := b.login(authzQuery(webID, webRedirect, "openid offline_access read", p), "alice", "alice-pw")
	form := codeForm(resp.Get("code"), webRedirect, p.verifier)
	first := ts.exchange(t, webID, webSecret, form)
	if first.status != 200 {
		t.Fatal(first.body)
	}
	replay := ts.exchange(t, webID, webSecret, form)
	if replay.status != 400 || replay.body["error"] != "invalid_grant" {
		t.Fatalf("replayed code: %d %v", replay.status, replay.body)
	}
	if !ts.revoked.Revoked(ts.accessClaims(t, first.body["access_token"].(string)).ID) {
		t.Error("access token issued from a replayed code is not revoked")
	}
	rt := ts.exchange(t, webID, webSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.body["refresh_token"].(string)}})
	if rt.status != 400 {
		t.Errorf("refresh token issued from a replayed code still works: %v", rt.body)
	}
}

// TestCodeExchangeRefusals tries to break the code exchange (RFC 7636, RFC 9700 §2.1.1, §4.5).
func TestCodeExchangeRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(f url.Values, clientID, secret *string)
		advance time.Duration
	}{
		{"wrong verifier", func(f url.Values, _, _ *string) { f.Set("code_verifier", newPKCE().verifier) }, 0},
		{"missing verifier", func(f url.Values, _, _ *string) { f.Del("code_verifier") }, 0},
		{"other redirect uri", func(f url.Values, _, _ *string) { f.Set("redirect_uri", "http://127.0.0.1:7000/cb?tenant=1") }, 0},
		{"missing redirect uri", func(f url.Values, _, _ *string) { f.Del("redirect_uri") }, 0},
		{"code injection into another client", func(f url.Values, id, sec *string) { *id, *sec = "com.example/other", "other" }, 0},
		{"expired code", func(url.Values, *string, *string) {}, 61 * time.Second},
		{"unknown code", func(f url.Values, _, _ *string) { f.Set("code", newSecret()) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, nil)
			p := newPKCE()
			resp := newBrowser(t, ts).login(authzQuery(webID, webRedirect, "read", p), "alice", "alice-pw")
			f := codeForm(resp.Get("code"), webRedirect, p.verifier)
			id, secret := webID, webSecret
			tc.edit(f, &id, &secret)
			*ts.now = ts.now.Add(tc.advance)
			res := ts.exchange(t, id, secret, f)
			if res.status != 400 || res.body["error"] != "invalid_grant" {
				t.Fatalf("got %d %v, want invalid_grant", res.status, res.body)
			}
		})
	}
}

func TestPKCEDowngradeRefused(t *testing.T) {
	ts := newTestServer(t, nil)
	// A confidential app with require_pkce false may omit PKCE; sending a
	// verifier for a code issued without a challenge is refused.
	resp := newBrowser(t, ts).login(authzQuery("com.example/nopkce", "https://legacy.example.com/cb", "read", pkce{}), "alice", "alice-pw")
	res := ts.exchange(t, "com.example/nopkce", "legacy", codeForm(resp.Get("code"), "https://legacy.example.com/cb", newPKCE().verifier))
	if res.status != 400 || res.body["error"] != "invalid_grant" {
		t.Fatalf("verifier without challenge: %d %v", res.status, res.body)
	}
}

// TestAuthorizeErrors: untrusted client or redirect → error page; other
// errors → redirect with error, state and iss (SPEC §3, RFC 9207).
func TestAuthorizeErrors(t *testing.T) {
	ts := newTestServer(t, nil)
	p := newPKCE()
	for _, tc := range []struct {
		name     string
		q        url.Values
		wantPage bool
		wantErr  string
	}{
		{"unknown client", authzQuery("com.example/nobody", webRedirect, "read", p), true, "unauthorized_client"},
		{"disabled client", authzQuery("com.example/off", webRedirect, "read", p), true, "unauthorized_client"},
		{"client without redirect uris", authzQuery(syncID, webRedirect, "read", p), true, "unauthorized_client"},
		{"redirect not registered", authzQuery(webID, "https://evil.example.com/cb", "read", p), true, "invalid_request"},
		{"redirect case differs", authzQuery(webID, "https://APP.example.com/cb", "read", p), true, "invalid_request"},
		{"redirect trailing slash", authzQuery(webID, webRedirect+"/", "read", p), true, "invalid_request"},
		{"redirect extra query", authzQuery(webID, webRedirect+"?x=1", "read", p), true, "invalid_request"},
		{"redirect fragment", authzQuery(webID, webRedirect+"#f", "read", p), true, "invalid_request"},
		{"redirect userinfo", authzQuery(webID, "https://app.example.com@evil.example.com/cb", "read", p), true, "invalid_request"},
		{"redirect dot segments", authzQuery(webID, "https://app.example.com/x/../cb", "read", p), true, "invalid_request"},
		{"redirect IDN look-alike", authzQuery(webID, "https://аpp.example.com/cb", "read", p), true, "invalid_request"},
		{"redirect punycode look-alike", authzQuery(webID, "https://xn--pp-8cd.example.com/cb", "read", p), true, "invalid_request"},
		{"redirect percent-encoded path", authzQuery(webID, "https://app.example.com/%63b", "read", p), true, "invalid_request"},
		{"redirect prefix", authzQuery(webID, "https://app.example.com/cb/more", "read", p), true, "invalid_request"},
		{"redirect missing", authzQuery(webID, "", "read", p), true, "invalid_request"},
		{"no state", authzQuery(webID, webRedirect, "read", p, "state", ""), false, "invalid_request"},
		{"no pkce", authzQuery(webID, webRedirect, "read", pkce{}), false, "invalid_request"},
		{"pkce plain", authzQuery(webID, webRedirect, "read", p, "code_challenge_method", "plain"), false, "invalid_request"},
		{"pkce method missing", authzQuery(webID, webRedirect, "read", p, "code_challenge_method", ""), false, "invalid_request"},
		{"bad scope", authzQuery(webID, webRedirect, "read sec", p), false, "invalid_scope"},
		{"token response type", authzQuery(webID, webRedirect, "read", p, "response_type", "token"), false, "unsupported_response_type"},
		{"prompt none without session", authzQuery(webID, webRedirect, "read", p, "prompt", "none"), false, "login_required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := newBrowser(t, ts).get(ts.issuer + "/connect/authorize?" + tc.q.Encode())
			if tc.wantPage {
				if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(body, tc.wantErr) {
					t.Fatalf("want an error page with %s, got %d Location=%q", tc.wantErr, resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			q := redirectQuery(t, resp, webRedirect)
			if q.Get("error") != tc.wantErr || q.Get("iss") != ts.issuer || q.Get("state") != tc.q.Get("state") {
				t.Fatalf("redirect query = %v, want error %s with state and iss", q, tc.wantErr)
			}
		})
	}
}

func TestLoginPageRules(t *testing.T) {
	ts := newTestServer(t, nil)
	p := newPKCE()
	q := authzQuery(webID, webRedirect, "read", p)
	loginPage := func(b *browser) url.Values {
		resp, _ := b.get(ts.issuer + "/connect/authorize?" + q.Encode())
		_, page := b.get(ts.URL + resp.Header.Get("Location"))
		if !strings.Contains(page, "Web App") {
			t.Fatal("login page does not name the application")
		}
		return formFields(page)
	}
	t.Run("wrong password and unknown user read the same", func(t *testing.T) {
		b := newBrowser(t, ts)
		var pages []string
		for _, login := range []string{"alice", "nobody"} {
			f := loginPage(b)
			f.Set("login", login)
			f.Set("password", "wrong")
			resp, page := b.post(ts.issuer+"/account/login", f)
			if resp.StatusCode != 200 || !strings.Contains(page, english(msgWrongCredentials)) {
				t.Fatalf("%s: %d", login, resp.StatusCode)
			}
			pages = append(pages, strings.ReplaceAll(page, login, "LOGIN"))
		}
		if pages[0] != pages[1] {
			t.Error("the page for a wrong password differs from the page for an unknown user")
		}
	})
	t.Run("csrf token required", func(t *testing.T) {
		b := newBrowser(t, ts)
		f := loginPage(b)
		f.Set("csrf_token", "forged")
		f.Set("login", "alice")
		f.Set("password", "alice-pw")
		resp, _ := b.post(ts.issuer+"/account/login", f)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
			t.Fatalf("login without the CSRF token: %d", resp.StatusCode)
		}
	})
	t.Run("community user refused by an app that does not allow them", func(t *testing.T) {
		b := newBrowser(t, ts)
		f := loginPage(b)
		f.Set("login", "bob")
		f.Set("password", "alice-pw")
		resp, _ := b.post(ts.issuer+"/account/login", f)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("community user on an internal-only app: %d", resp.StatusCode)
		}
	})
	t.Run("throttled after repeated failures from one address", func(t *testing.T) {
		b := newBrowser(t, ts)
		var last *http.Response
		for range loginPairFailureLimit + 1 {
			f := loginPage(b)
			f.Set("login", "alice")
			f.Set("password", "wrong")
			last, _ = b.post(ts.issuer+"/account/login", f)
		}
		if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
			t.Fatalf("after %d failures: %d", loginPairFailureLimit+1, last.StatusCode)
		}
		f := loginPage(b)
		f.Set("login", "alice")
		f.Set("password", "alice-pw")
		if resp, _ := b.post(ts.issuer+"/account/login", f); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("right password while throttled: %d", resp.StatusCode)
		}
	})
}

func TestSessionFixationAndPromptLogin(t *testing.T) {
	ts := newTestServer(t, nil)
	b := newBrowser(t, ts)
	p := newPKCE()
	b.login(authzQuery(webID, webRedirect, "read", p), "alice", "alice-pw")
	u, _ := url.Parse(ts.issuer + "/")
	cookie := func() string {
		for _, c := range b.c.Jar.Cookies(u) {
			if c.Name == identityCookie {
				return c.Value
			}
		}
		return ""
	}
	first := cookie()
	sid, _, _ := strings.Cut(first, ".")
	// prompt=login with the same user: same sid, new cookie secret.
	b.login(authzQuery(webID, webRedirect, "read", p, "prompt", "login"), "alice", "alice-pw")
	second := cookie()
	sid2, _, _ := strings.Cut(second, ".")
	if second == first || sid2 != sid {
		t.Fatalf("re-login: cookie %q -> %q; want same sid, new secret", first, second)
	}
	// An old cookie is worthless after the new sign-in.
	b2 := newBrowser(t, ts)
	b2.c.Jar.SetCookies(u, []*http.Cookie{{Name: identityCookie, Value: first, Path: "/id/"}})
	resp, _ := b2.get(ts.issuer + "/connect/authorize?" + authzQuery(webID, webRedirect, "read", p, "prompt", "none").Encode())
	if q := redirectQuery(t, resp, webRedirect); q.Get("error") != "login_required" {
		t.Fatalf("stale cookie still signs in: %v", q)
	}
}

func TestEndSession(t *testing.T) {
	ts := newTestServer(t, nil)
	b := newBrowser(t, ts)
	p := newPKCE()
	resp := b.login(authzQuery(webID, webRedirect, "openid offline_access read", p), "alice", "alice-pw")
	tok := ts.exchange(t, webID, webSecret, codeForm(resp.Get("code"), webRedirect, p.verifier))
	idt := tok.body["id_token"].(string)

	// Without a hint: a confirmation page, nothing ended.
	r, page := b.get(ts.issuer + "/connect/endsession")
	if r.StatusCode != 200 || !strings.Contains(page, "Sign out?") {
		t.Fatalf("endsession without hint: %d", r.StatusCode)
	}
	// Unregistered post-logout redirect: error page.
	r, _ = b.get(ts.issuer + "/connect/endsession?" + url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"https://evil.example.com/"}}.Encode())
	if r.StatusCode != 400 || r.Header.Get("Location") != "" {
		t.Fatalf("unregistered post_logout_redirect_uri: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	// With a hint: ended, redirected with state.
	r, _ = b.get(ts.issuer + "/connect/endsession?" + url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"https://app.example.com/bye"}, "state": {"s9"}}.Encode())
	if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "https://app.example.com/bye?state=s9" {
		t.Fatalf("endsession: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	sid := ts.accessClaims(t, tok.body["access_token"].(string)).SessionID
	if s, err := ts.store.Session(context.Background(), sid); err != nil || s.EndReason != "logout" {
		t.Fatalf("ERP session after logout: %+v %v", s, err)
	}
	rt := ts.exchange(t, webID, webSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.body["refresh_token"].(string)}})
	if rt.status != 400 {
		t.Fatalf("refresh after logout: %d", rt.status)
	}
	r, _ = b.get(ts.issuer + "/connect/authorize?" + authzQuery(webID, webRedirect, "read", p, "prompt", "none").Encode())
	if q := redirectQuery(t, r, webRedirect); q.Get("error") != "login_required" {
		t.Fatalf("SSO still works after logout: %v", q)
	}
}

func TestIntrospectionAndRevocation(t *testing.T) {
	ts := newTestServer(t, nil)
	b := newBrowser(t, ts)
	p := newPKCE()
	resp := b.login(authzQuery(webID, webRedirect, "openid offline_access read", p), "alice", "alice-pw")
	tok := ts.exchange(t, webID, webSecret, codeForm(resp.Get("code"), webRedirect, p.verifier))
	at, rt := tok.body["access_token"].(string), tok.body["refresh_token"].(string)

	introspect := func(token, id, secret string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", ts.issuer+"/connect/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	if code, m := introspect(at, syncID, syncSecret); code != 200 || m["active"] != true || m["sub"] != "alice" || m["client_id"] != webID {
		t.Fatalf("introspect live access token: %d %v", code, m)
	}
	if _, m := introspect(rt, syncID, syncSecret); m["active"] != true || m["token_type"] != "refresh_token" {
		t.Fatalf("introspect refresh token: %v", m)
	}
	if code, _ := introspect(at, "com.example/spa", ""); code != 401 {
		t.Fatalf("public app introspecting: %d", code)
	}
	if _, m := introspect("garbage.token.here", syncID, syncSecret); m["active"] != false {
		t.Fatalf("garbage is active: %v", m)
	}

	revoke := func(token, id, secret string) int {
		req, _ := http.NewRequest("POST", ts.issuer+"/connect/revocation", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	// Another app cannot revoke it (200, nothing happens).
	if code := revoke(at, "com.example/other", "other"); code != 200 || ts.revoked.Revoked(ts.accessClaims(t, at).ID) {
		t.Fatal("another app revoked the token")
	}
	if code := revoke(at, webID, webSecret); code != 200 || !ts.revoked.Revoked(ts.accessClaims(t, at).ID) {
		t.Fatal("the app could not revoke its access token")
	}
	if _, m := introspect(at, syncID, syncSecret); m["active"] != false {
		t.Fatalf("revoked access token still active: %v", m)
	}
	// Revoking the refresh token revokes its family.
	if code := revoke(rt, webID, webSecret); code != 200 {
		t.Fatal(code)
	}
	if _, m := introspect(rt, syncID, syncSecret); m["active"] != false {
		t.Fatalf("revoked refresh token still active: %v", m)
	}
	if code := revoke("unknown-token", webID, webSecret); code != 200 {
		t.Fatalf("unknown token: %d, want 200", code)
	}
}

func TestFormPostAndMaxAge(t *testing.T) {
	ts := newTestServer(t, nil)
	b := newBrowser(t, ts)
	p := newPKCE()
	b.login(authzQuery(webID, webRedirect, "openid", p), "alice", "alice-pw")

	// response_mode=form_post: an auto-submitting form to the redirect URI.
	resp, page := b.get(ts.issuer + "/connect/authorize?" + authzQuery(webID, webRedirect, "openid", p, "response_mode", "form_post").Encode())
	f := formFields(page)
	if resp.StatusCode != 200 || !strings.Contains(page, `action="`+webRedirect+`"`) || f.Get("code") == "" ||
		f.Get("state") != "st-123" || f.Get("iss") != ts.issuer {
		t.Fatalf("form_post response: %d %v", resp.StatusCode, f)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action https://app.example.com") || !strings.Contains(csp, "script-src 'nonce-") {
		t.Errorf("form_post CSP = %q", csp)
	}

	// max_age: a sign-in older than max_age asks for a new one.
	*ts.now = ts.now.Add(10 * time.Minute)
	resp, _ = b.get(ts.issuer + "/connect/authorize?" + authzQuery(webID, webRedirect, "openid", p, "max_age", "300").Encode())
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/account/login?") {
		t.Fatalf("max_age exceeded: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = b.get(ts.issuer + "/connect/authorize?" + authzQuery(webID, webRedirect, "openid", p, "max_age", "3600").Encode())
	if q := redirectQuery(t, resp, webRedirect); q.Get("code") == "" {
		t.Fatalf("max_age not exceeded but no code: %v", q)
	}
}
