package adminui

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/admin"
	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/webui"
)

// The console against fakes of the admin interfaces and of the identity
// server: sign-in (state, PKCE, the token kept in the cookie), who is let
// in, anti-forgery, and the forms. gateway's and e2e's tests run it on
// the real wiring.

// fakeJudge is the admin API's Authorize over a table of tokens.
type fakeJudge struct {
	mu     sync.Mutex
	tokens map[string]*claims.Access // good tokens
	denied map[string]string         // token -> refusal reason
	// deniedClaims are the refused tokens' claims.
	deniedClaims *claims.Access
}

func (j *fakeJudge) Authorize(_ *http.Request, cred authority.Credential) (*claims.Access, *authority.Refusal) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if cred.Source != authority.SourceCookie {
		return nil, &authority.Refusal{Reason: authority.ReasonInvalidRequest}
	}
	if reason, ok := j.denied[cred.Token]; ok {
		return nil, &authority.Refusal{Reason: reason, Claims: j.deniedClaims}
	}
	if c, ok := j.tokens[cred.Token]; ok {
		return c, nil
	}
	return nil, &authority.Refusal{Reason: authority.ReasonInvalidToken}
}

func (j *fakeJudge) deny(token, reason string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.denied[token] = reason
}

type fakeSessions struct{ ended []string }

func (f *fakeSessions) List(context.Context) ([]session.Info, error) {
	return []session.Info{
		{ID: "sid-1", Subject: "alice", ClientID: "com.example/web", Kind: store.SessionUser, OpenedAt: time.Unix(1e9, 0)},
		{ID: "sid-2", Subject: "admin", ClientID: "com.example/web", Kind: store.SessionUser, Reserved: true, OpenedAt: time.Unix(1e9, 0)},
		{ID: "sid-3", Subject: "svc-sync", ClientID: "com.example/sync", Kind: store.SessionService, OpenedAt: time.Unix(1e9, 0)},
	}, nil
}

func (f *fakeSessions) End(_ context.Context, id, reason string) (session.Info, error) {
	if id != "sid-1" {
		return session.Info{}, session.ErrNotFound
	}
	f.ended = append(f.ended, id+":"+reason)
	return session.Info{ID: id, EndReason: reason}, nil
}

func (f *fakeSessions) License(context.Context) (session.License, error) {
	return session.License{Used: 3, Total: 10, Reserved: 1, Free: 7}, nil
}

// fakeApps validates as the gateway does for what the tests post: a uri
// and a scope are required.
type fakeApps struct {
	apps []admin.AppInfo
	// created and changed are the last Create's and Update's input.
	created config.App
	changed admin.AppChange
}

func (f *fakeApps) List(context.Context) ([]admin.AppInfo, error) { return f.apps, nil }

func (f *fakeApps) Create(_ context.Context, in config.App) (admin.AppInfo, string, error) {
	f.created = in
	var probs []string
	if in.URI == "" {
		probs = append(probs, "app.uri: required")
	}
	for i, u := range in.RedirectURIs {
		if !strings.HasPrefix(u, "https://") {
			probs = append(probs, "app.redirect_uris["+string(rune('0'+i))+"]: must be an absolute https URL, or http on loopback")
		}
	}
	if in.LocalPasswords != nil && !*in.LocalPasswords && len(in.IdentityProviders) == 0 {
		probs = append(probs, "app.local_passwords: false needs identity_providers: nobody could sign in to the app")
	}
	if len(probs) > 0 {
		return admin.AppInfo{}, "", &admin.InvalidError{Problems: probs}
	}
	a := admin.AppInfo{URI: in.URI, Type: in.Type, Scope: in.Scope, Source: "store", Enabled: true}
	f.apps = append(f.apps, a)
	return a, "the-new-secret", nil
}

func (f *fakeApps) SetEnabled(_ context.Context, uri string, enabled bool) (admin.AppInfo, error) {
	for i := range f.apps {
		if f.apps[i].URI == uri {
			f.apps[i].Enabled = enabled
			return f.apps[i], nil
		}
	}
	return admin.AppInfo{}, admin.ErrNotFound
}

func (f *fakeApps) RotateSecret(_ context.Context, uri string) (admin.AppInfo, string, error) {
	a, err := f.SetEnabled(context.Background(), uri, true)
	return a, "rotated-secret", err
}

func (f *fakeApps) Update(_ context.Context, uri string, ch admin.AppChange) (admin.AppInfo, error) {
	f.changed = ch
	if ch.Scope != nil && *ch.Scope == "" {
		return admin.AppInfo{}, &admin.InvalidError{Problems: []string{"app.scope: required"}}
	}
	return admin.AppInfo{URI: uri}, nil
}

type fakeTokens struct{}

func (fakeTokens) Issue(_ context.Context, req reftoken.IssueRequest) (reftoken.Issued, error) {
	if req.Type == store.PersonalAccessToken && req.Subject == "nobody" {
		return reftoken.Issued{}, reftoken.ErrBadRequest
	}
	return reftoken.Issued{Value: "enrt_secretvalue", Token: store.ReferenceToken{ID: "t1", ClientID: req.ClientID}}, nil
}
func (fakeTokens) List(context.Context, string) ([]store.ReferenceToken, error) { return nil, nil }
func (fakeTokens) Revoke(context.Context, string, string) (store.ReferenceToken, error) {
	return store.ReferenceToken{}, store.ErrNotFound
}
func (fakeTokens) State(store.ReferenceToken) string { return reftoken.StateActive }

type fakeUsers struct{}

func (fakeUsers) List(context.Context) ([]admin.UserInfo, error) { return nil, nil }
func (fakeUsers) Get(_ context.Context, login string) (admin.UserInfo, error) {
	return admin.UserInfo{Login: login, Source: "store", Type: "internal"}, nil
}
func (fakeUsers) Create(_ context.Context, in admin.UserInput) (admin.UserInfo, error) {
	if in.Email != "" && !strings.Contains(in.Email, "@") {
		return admin.UserInfo{}, &admin.InvalidError{Problems: []string{"user.email: must be a bare email address"}}
	}
	return admin.UserInfo{Login: in.Login}, nil
}
func (fakeUsers) Update(_ context.Context, login string, _ admin.UserEdit) (admin.UserInfo, error) {
	return admin.UserInfo{Login: login}, nil
}
func (fakeUsers) SetPassword(context.Context, string, string) error { return nil }
func (fakeUsers) ResetLink(context.Context, string) (string, time.Time, error) {
	return "https://gw.example/id/account/reset?t=once", time.Unix(2e9, 0), nil
}
func (fakeUsers) Delete(context.Context, string) error       { return nil }
func (fakeUsers) ResetFactors(context.Context, string) error { return nil }

// idp is a fake token endpoint: it checks the PKCE verifier against the
// challenge the authorize redirect carried, and answers with token.
type idp struct {
	mu        sync.Mutex
	challenge string
	token     string
}

func (p *idp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	p.mu.Lock()
	defer p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if r.URL.Path != "/id/connect/token" || r.PostForm.Get("code") != "the-code" || r.PostForm.Get("client_id") != config.AdminConsoleApp ||
		base64.RawURLEncoding.EncodeToString(sum[:]) != p.challenge {
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": p.token, "token_type": "Bearer", "expires_in": 300})
}

type testConsole struct {
	srv      *httptest.Server
	client   *http.Client
	judge    *fakeJudge
	idp      *idp
	sessions *fakeSessions
	apps     *fakeApps
	recent   *audit.Recent
	idpURL   string
	// providers are the configured identity providers the app form
	// offers; a test may change them, as a reload does.
	providers []IdentityProvider
}

func newTestConsole(t *testing.T) *testConsole {
	t.Helper()
	tc := &testConsole{
		judge: &fakeJudge{tokens: map[string]*claims.Access{
			"tok-admin": {Subject: "admin", ClientID: config.AdminConsoleApp},
		}, denied: map[string]string{"tok-alice": admin.ReasonNotAdmin}, deniedClaims: &claims.Access{Subject: "alice"}},
		idp: &idp{token: "tok-admin"}, sessions: &fakeSessions{}, recent: audit.NewRecent(10),
		providers: []IdentityProvider{{ID: "entra", Name: "Microsoft"}, {ID: "corp-ad"}},
		apps: &fakeApps{apps: []admin.AppInfo{{URI: "com.example/sync", Type: "confidential", Source: "store", Enabled: true},
			{URI: "com.example/web", Type: "confidential", Source: "config", Enabled: true}}},
	}
	idpSrv := httptest.NewServer(tc.idp)
	t.Cleanup(idpSrv.Close)
	tc.idpURL = idpSrv.URL
	tc.srv = httptest.NewUnstartedServer(nil)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	kit, err := webui.New(webui.Config{AssetsPath: StaticPath, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{
		Admin: tc.judge, Sessions: tc.sessions, Apps: tc.apps, Tokens: fakeTokens{}, Users: fakeUsers{},
		Recent: tc.recent, Audit: audit.New(slog.DiscardHandler).KeepIn(tc.recent), Pages: func() *webui.Kit { return kit },
		ClientID: config.AdminConsoleApp, Issuer: idpSrv.URL + "/id", URL: "http://" + tc.srv.Listener.Addr().String(),
		TokenClient: idpSrv.Client(), CookieKeys: [][]byte{[]byte("0123456789abcdef0123456789abcdef")}, Logger: logger,

		IdentityProviders: func() []IdentityProvider { return tc.providers },
	})
	if err != nil {
		t.Fatal(err)
	}
	tc.srv.Config.Handler = c
	tc.srv.Start()
	t.Cleanup(tc.srv.Close)
	jar, _ := cookiejar.New(nil)
	tc.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return tc
}

// get fetches path of the console, not following redirects.
func (tc *testConsole) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := tc.client.Get(tc.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func (tc *testConsole) post(t *testing.T, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := tc.client.PostForm(tc.srv.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// signIn runs the sign-in: the console's redirect to the authorization
// endpoint, then the callback with the code the identity server would
// send, for tok.
func (tc *testConsole) signIn(t *testing.T, tok string) {
	t.Helper()
	resp, _ := tc.get(t, Path+"/login?rd="+url.QueryEscape(Path+"/apps"))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	authz, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || authz.Path != "/id/connect/authorize" {
		t.Fatalf("login sends to %v", authz)
	}
	aq := authz.Query()
	for k, want := range map[string]string{"response_type": "code", "client_id": config.AdminConsoleApp, "scope": "sec",
		"code_challenge_method": "S256", "redirect_uri": tc.srv.URL + Path + "/callback"} {
		if aq.Get(k) != want {
			t.Errorf("authorize %s = %q, want %q", k, aq.Get(k), want)
		}
	}
	if aq.Get("state") == "" || aq.Get("code_challenge") == "" {
		t.Fatalf("authorize without state or PKCE: %v", aq)
	}
	tc.idp.mu.Lock()
	tc.idp.challenge, tc.idp.token = aq.Get("code_challenge"), tok
	tc.idp.mu.Unlock()
	resp, body := tc.get(t, Path+"/callback?code=the-code&state="+url.QueryEscape(aq.Get("state")))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Path+"/apps" {
		t.Fatalf("callback: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie && (!ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != Path+"/" || strings.Contains(ck.Value, tok)) {
			t.Errorf("console cookie %+v: want HttpOnly, SameSite=Lax, Path=%s/, the token encrypted", ck, Path)
		}
	}
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf is the anti-forgery token of the page at path.
func (tc *testConsole) csrf(t *testing.T, path string) string {
	t.Helper()
	_, body := tc.get(t, path)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%s has no csrf_token", path)
	}
	return m[1]
}

// TestSignInAndAuthorization: a browser without a console session is
// sent to sign in; after the code flow (state, PKCE) the administrator
// sees the pages; a token the judge refuses afterwards sends the browser
// to sign in again (an expired or revoked token), and a non-admin's
// token gets a 403 page saying so.
func TestSignInAndAuthorization(t *testing.T) {
	tc := newTestConsole(t)
	resp, _ := tc.get(t, Path+"/sessions?user=alice")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != Path+"/login?rd="+url.QueryEscape(Path+"/sessions?user=alice") {
		t.Fatalf("signed out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	tc.signIn(t, "tok-admin")
	resp, body := tc.get(t, Path+"/")
	if resp.StatusCode != 200 || !strings.Contains(body, `id="license-used">3<`) || !strings.Contains(body, "admin") {
		t.Fatalf("license page: %d %s", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("anti-framing headers: %v", resp.Header)
	}
	// Sign-out redirects to the identity server: form-action names it.
	if issuer, _ := url.Parse(tc.idpURL); !strings.Contains(csp, "form-action 'self' "+issuer.Scheme+"://"+issuer.Host) {
		t.Errorf("CSP %q: form-action lacks the identity server", csp)
	}
	// The token expires (or is revoked): the next click signs in again.
	tc.judge.deny("tok-admin", authority.ReasonInvalidToken)
	if resp, _ := tc.get(t, Path+"/apps"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), Path+"/login?rd=") {
		t.Fatalf("expired token: %d %s, want a sign-in redirect", resp.StatusCode, resp.Header.Get("Location"))
	}
	// After sign-in the browser comes back to the form's page.
	if resp, _ := tc.post(t, Path+"/sessions/end", url.Values{"session": {"sid-1"}}); resp.StatusCode != http.StatusSeeOther ||
		resp.Header.Get("Location") != Path+"/login?rd="+url.QueryEscape(Path+"/sessions") {
		t.Fatalf("POST with an expired token: %d %s, want 303 to sign in and back to the sessions", resp.StatusCode, resp.Header.Get("Location"))
	}
	if len(tc.sessions.ended) != 0 {
		t.Fatalf("a refused token ended %v", tc.sessions.ended)
	}

	tc.signIn(t, "tok-alice")
	resp, body = tc.get(t, Path+"/")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not an administrator") {
		t.Fatalf("non-admin: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(body, "console-nav") {
		t.Error("the non-admin page shows the console's navigation")
	}
	if !strings.Contains(body, `id="signout"`) {
		t.Error("the non-admin page offers no sign-out (to sign in as an administrator)")
	}
}

// TestSignOut: sign-out needs the form's token (no other site signs an
// administrator out), clears the console cookie and ends the identity
// session at the identity server, which sends the browser back.
func TestSignOut(t *testing.T) {
	tc := newTestConsole(t)
	tc.signIn(t, "tok-admin")
	if resp, _ := tc.post(t, Path+"/signout", url.Values{"csrf_token": {"forged"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged sign-out: %d", resp.StatusCode)
	}
	csrf := tc.csrf(t, Path+"/")
	tc.judge.deny("tok-admin", authority.ReasonInvalidToken) // an expired token signs out too
	resp, _ := tc.post(t, Path+"/signout", url.Values{"csrf_token": {csrf}})
	end, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || at(end) != tc.idpURL+"/id/connect/endsession" ||
		end.Query().Get("client_id") != config.AdminConsoleApp || end.Query().Get("post_logout_redirect_uri") != tc.srv.URL+Path+"/signed-out" {
		t.Fatalf("sign-out: %d %s", resp.StatusCode, end)
	}
	tc.judge.mu.Lock()
	delete(tc.judge.denied, "tok-admin") // the token would pass: only the cleared cookie refuses
	tc.judge.mu.Unlock()
	if resp, _ := tc.get(t, Path+"/"); resp.StatusCode != http.StatusFound {
		t.Errorf("after sign-out the console answers %d, want a sign-in redirect", resp.StatusCode)
	}
	if resp, body := tc.get(t, Path+"/signed-out"); resp.StatusCode != 200 || !strings.Contains(body, "signed out") {
		t.Errorf("signed-out page: %d", resp.StatusCode)
	}
}

func at(u *url.URL) string { return u.Scheme + "://" + u.Host + u.Path }

// TestCallbackRefusals: a callback whose state is not the login
// cookie's, or that names another issuer (RFC 9207), signs nobody in;
// rd cannot send the browser off the console.
func TestCallbackRefusals(t *testing.T) {
	tc := newTestConsole(t)
	if resp, _ := tc.get(t, Path+"/callback?code=the-code&state=forged"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("callback without a login: %d", resp.StatusCode)
	}
	resp, _ := tc.get(t, Path+"/login?rd="+url.QueryEscape("//evil.example/x"))
	authz, _ := url.Parse(resp.Header.Get("Location"))
	state := authz.Query().Get("state")
	tc.idp.challenge = authz.Query().Get("code_challenge")
	if resp, _ := tc.get(t, Path+"/callback?code=the-code&state=wrong-"+state); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("callback with another state: %d", resp.StatusCode)
	}
	resp, _ = tc.get(t, Path+"/login?rd="+url.QueryEscape("//evil.example/x"))
	authz, _ = url.Parse(resp.Header.Get("Location"))
	tc.idp.challenge = authz.Query().Get("code_challenge")
	if resp, _ := tc.get(t, Path+"/callback?code=the-code&iss=https://evil.example&state="+url.QueryEscape(authz.Query().Get("state"))); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("callback naming another issuer: %d", resp.StatusCode)
	}
	resp, _ = tc.get(t, Path+"/login?rd="+url.QueryEscape("//evil.example/x"))
	authz, _ = url.Parse(resp.Header.Get("Location"))
	tc.idp.challenge = authz.Query().Get("code_challenge")
	resp, _ = tc.get(t, Path+"/callback?code=the-code&state="+url.QueryEscape(authz.Query().Get("state")))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Path+"/" {
		t.Errorf("rd off the console: sent to %q, want %s/", resp.Header.Get("Location"), Path)
	}
	for _, p := range []string{"//evil", "/admin/ui//evil", "/admin/ui/\\evil", "https://evil/admin/ui/", "/other"} {
		if localPath(p) {
			t.Errorf("localPath(%q) = true", p)
		}
	}
}

// TestCSRF: every form needs the session's anti-forgery token; without
// it, or with another, nothing is done.
func TestCSRF(t *testing.T) {
	tc := newTestConsole(t)
	tc.signIn(t, "tok-admin")
	for _, tok := range []string{"", "forged"} {
		resp, _ := tc.post(t, Path+"/sessions/end", url.Values{"session": {"sid-1"}, "csrf_token": {tok}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("csrf_token %q: %d, want 403", tok, resp.StatusCode)
		}
		if resp, _ := tc.post(t, Path+"/apps/disable", url.Values{"uri": {"com.example/sync"}, "csrf_token": {tok}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("disable with csrf_token %q: %d", tok, resp.StatusCode)
		}
	}
	if len(tc.sessions.ended) != 0 || !tc.apps.apps[0].Enabled {
		t.Fatalf("a forged form acted: ended %v, app %+v", tc.sessions.ended, tc.apps.apps[0])
	}
	csrf := tc.csrf(t, Path+"/sessions")
	resp, _ := tc.post(t, Path+"/sessions/end", url.Values{"session": {"sid-1"}, "csrf_token": {csrf}, "user": {"alice"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Path+"/sessions?user=alice&done=session_ended" {
		t.Fatalf("end with the token: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if len(tc.sessions.ended) != 1 || tc.sessions.ended[0] != "sid-1:"+store.EndAdmin {
		t.Fatalf("ended %v", tc.sessions.ended)
	}
	// The action is audited as the API audits it, with the admin's login.
	got := tc.recent.Latest(1)
	if len(got) != 1 || got[0].Name != audit.AdminChange || got[0].Subject != "admin" || got[0].Reason != "session.ended" {
		t.Errorf("audit: %+v", got)
	}
}

// TestFormsKeepInput: a refused form comes back with what was typed and
// why, with status 400.
func TestFormsKeepInput(t *testing.T) {
	tc := newTestConsole(t)
	tc.signIn(t, "tok-admin")
	csrf := tc.csrf(t, Path+"/apps/new")
	for _, tt := range []struct {
		name, path string
		form       url.Values
		want       []string // in the answer
	}{
		{"app", Path + "/apps/new", url.Values{"uri": {"com.example/typed"}, "name": {"Typed name"}, "scope": {"read", "update"},
			"redirect_uris": {"http://evil.example/cb"}, "type": {"public"}},
			[]string{`value="com.example/typed"`, `value="Typed name"`, "http://evil.example/cb", `id="scope-update" name="scope" value="update" checked`,
				`<option value="public" selected>`, "app.redirect_uris[0]: must be an absolute https URL"}},
		{"app edit", Path + "/apps/edit", url.Values{"uri": {"com.example/sync"}, "name": {"Renamed"}, "redirect_uris": {"https://a.example/cb"}},
			[]string{`value="Renamed"`, "https://a.example/cb", "app.scope: required"}},
		{"token", Path + "/tokens", url.Values{"type": {store.PersonalAccessToken}, "app": {"com.example/web"}, "name": {"Typed token"}, "expires_days": {"30"}},
			[]string{`value="com.example/web"`, `value="Typed token"`, `id="token-user-error"`, `aria-invalid="true"`}},
		{"user", Path + "/users/new", url.Values{"login": {"newbie"}, "name": {"New Person"}, "email": {"not-an-address"}, "password": {"secret-typed"}},
			[]string{`value="newbie"`, `value="New Person"`, `value="not-an-address"`, "user.email: must be a bare email address"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.form.Set("csrf_token", csrf)
			resp, body := tc.post(t, tt.path, tt.form)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("the answer lacks %q", w)
				}
			}
			if strings.Contains(body, "secret-typed") {
				t.Error("a typed password is sent back")
			}
		})
	}
}

// TestSecretsShownOnce: a new app's secret and an issued token's value
// are on the answer to the POST, and on no page after it.
func TestSecretsShownOnce(t *testing.T) {
	tc := newTestConsole(t)
	tc.signIn(t, "tok-admin")
	csrf := tc.csrf(t, Path+"/apps/new")
	resp, body := tc.post(t, Path+"/apps/new", url.Values{"csrf_token": {csrf}, "uri": {"com.example/made"}, "type": {"confidential"}, "scope": {"read"},
		"local_passwords": {"on"}})
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, `id="secret-value">the-new-secret<`) {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	resp, body = tc.post(t, Path+"/tokens", url.Values{"csrf_token": {csrf}, "type": {"sat"}, "app": {"com.example/made"}, "expires_days": {"7"}})
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, "enrt_secretvalue") {
		t.Fatalf("issue: %d %s", resp.StatusCode, body)
	}
	for _, p := range []string{"/apps", "/tokens", "/", "/events"} {
		if _, body := tc.get(t, Path+p); strings.Contains(body, "the-new-secret") || strings.Contains(body, "enrt_secretvalue") {
			t.Errorf("%s shows a secret again", p)
		}
	}
	if resp, body := tc.post(t, Path+"/users/reset", url.Values{"csrf_token": {csrf}, "login": {"newbie"}}); resp.StatusCode != http.StatusCreated ||
		!strings.Contains(body, "https://gw.example/id/account/reset?t=once") {
		t.Fatalf("reset link: %d %s", resp.StatusCode, body)
	}
	// Resetting second factors asks for the confirmation, then is done
	// and audited as the admin API's DELETE …/factors is.
	if resp, _ := tc.post(t, Path+"/users/factors", url.Values{"csrf_token": {csrf}, "login": {"newbie"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("reset factors without the confirmation: %d", resp.StatusCode)
	}
	if resp, _ := tc.post(t, Path+"/users/factors", url.Values{"csrf_token": {csrf}, "login": {"newbie"}, "confirm": {"on"}}); resp.StatusCode != http.StatusSeeOther ||
		!strings.Contains(resp.Header.Get("Location"), "done=factors_reset") {
		t.Errorf("reset factors: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = tc.get(t, Path+"/events")
	if !strings.Contains(body, "user.factors_reset") {
		t.Errorf("events page lacks the factor reset: %s", body)
	}
	_, body = tc.get(t, Path+"/events")
	if !strings.Contains(body, "app.created") || !strings.Contains(body, "user.reset_link_issued") || strings.Contains(body, "t=once") {
		t.Errorf("events page: %s", body)
	}
}

// TestAppFormBindingAndLogout: the console sets what the admin API sets
// for issue 21 — DPoP, back-channel logout, token exchange — on a new app
// and on an edit, and the edit form shows the stored values.
func TestAppFormBindingAndLogout(t *testing.T) {
	tc := newTestConsole(t)
	tc.signIn(t, "tok-admin")
	csrf := tc.csrf(t, Path+"/apps/new")
	if _, body := tc.get(t, Path+"/apps/new"); !strings.Contains(body, `<option value="optional" selected>`) {
		t.Errorf("a new app's DPoP is not optional by default:\n%s", body)
	}
	resp, body := tc.post(t, Path+"/apps/new", url.Values{"csrf_token": {csrf}, "uri": {"com.example/bound"}, "type": {"confidential"},
		"scope": {"read"}, "dpop": {"required"}, "backchannel_logout_uri": {" https://rp.example.com/bcl "},
		"backchannel_logout_session_required": {"on"}, "token_exchange": {"on"}, "local_passwords": {"on"}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	if c := tc.apps.created; c.DPoP != "required" || c.BackchannelLogoutURI != "https://rp.example.com/bcl" || !c.BackchannelLogoutSessionRequired || !c.TokenExchange {
		t.Errorf("created %+v", c)
	}

	tc.apps.apps[0].DPoP, tc.apps.apps[0].BackchannelLogoutURI, tc.apps.apps[0].TokenExchange = "required", "https://sync.example.com/bcl", true
	_, body = tc.get(t, Path+"/apps/edit?uri=com.example%2Fsync")
	for _, want := range []string{`<option value="required" selected>`, `value="https://sync.example.com/bcl"`, `id="app-exchange" name="token_exchange" checked`} {
		if !strings.Contains(body, want) {
			t.Errorf("edit form lacks %s", want)
		}
	}
	resp, body = tc.post(t, Path+"/apps/edit", url.Values{"csrf_token": {csrf}, "uri": {"com.example/sync"}, "scope": {"read"},
		"dpop": {"optional"}, "backchannel_logout_uri": {""}})
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", resp.StatusCode, body)
	}
	ch := tc.apps.changed
	if ch.DPoP == nil || *ch.DPoP != "optional" || ch.BackchannelLogoutURI == nil || *ch.BackchannelLogoutURI != "" ||
		ch.BackchannelLogoutSessionRequired == nil || *ch.BackchannelLogoutSessionRequired || ch.TokenExchange == nil || *ch.TokenExchange {
		t.Errorf("changed %+v: want dpop optional, no logout URI, sid and exchange off", ch)
	}
}

// TestAppFormSignIn: the console sets what the admin API sets for issue
// 19 — the identity providers an app's login page offers, in order, and
// whether it takes local passwords — on a new app and on an edit; the
// edit form shows the stored choice first, in its order, and an id the
// config no longer has, so that it can be unchecked; a refused form keeps
// what was ticked.
func TestAppFormSignIn(t *testing.T) {
	tc := newTestConsole(t)
	tc.signIn(t, "tok-admin")
	csrf := tc.csrf(t, Path+"/apps/new")
	_, body := tc.get(t, Path+"/apps/new")
	for _, want := range []string{`id="app-local-passwords" name="local_passwords" checked>`,
		`id="idp-entra" name="identity_provider" value="entra">`, "Sign in with Microsoft <code>entra</code>",
		`id="idp-corp-ad" name="identity_provider" value="corp-ad">`, "Sign in with corp-ad</span>"} {
		if !strings.Contains(body, want) {
			t.Errorf("new-app form lacks %s", want)
		}
	}
	if strings.Index(body, `id="idp-entra"`) > strings.Index(body, `id="idp-corp-ad"`) {
		t.Error("new-app form: providers not in the config's order")
	}

	resp, body := tc.post(t, Path+"/apps/new", url.Values{"csrf_token": {csrf}, "uri": {"com.example/federated"}, "type": {"public"},
		"scope": {"read"}, "identity_provider": {"corp-ad", "entra"}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	if c := tc.apps.created; !slices.Equal(c.IdentityProviders, []string{"corp-ad", "entra"}) || c.LocalPasswords == nil || *c.LocalPasswords {
		t.Errorf("created %v, local passwords %v: want corp-ad, entra and no local passwords", c.IdentityProviders, c.LocalPasswords)
	}

	// Refused (nobody could sign in): shown again as ticked, with why.
	resp, body = tc.post(t, Path+"/apps/new", url.Values{"csrf_token": {csrf}, "uri": {"com.example/closed"}, "type": {"public"}, "scope": {"read"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "app.local_passwords: false needs identity_providers") ||
		!strings.Contains(body, `id="app-local-passwords" name="local_passwords">`) {
		t.Errorf("refused create: %d %s", resp.StatusCode, body)
	}

	tc.apps.apps[0].IdentityProviders, tc.apps.apps[0].LocalPasswords = []string{"corp-ad", "okta"}, false
	_, body = tc.get(t, Path+"/apps/edit?uri=com.example%2Fsync")
	for _, want := range []string{`id="app-local-passwords" name="local_passwords">`,
		`id="idp-corp-ad" name="identity_provider" value="corp-ad" checked>`,
		`id="idp-okta" name="identity_provider" value="okta" checked> <span>Sign in with okta <span class="hint">(no longer in the config file)</span>`,
		`id="idp-entra" name="identity_provider" value="entra">`} {
		if !strings.Contains(body, want) {
			t.Errorf("edit form lacks %s", want)
		}
	}
	if a, b, c := strings.Index(body, `id="idp-corp-ad"`), strings.Index(body, `id="idp-okta"`), strings.Index(body, `id="idp-entra"`); a > b || b > c {
		t.Errorf("edit form: providers at %d, %d, %d; want the app's first, in its order, then the others", a, b, c)
	}
	resp, body = tc.post(t, Path+"/apps/edit", url.Values{"csrf_token": {csrf}, "uri": {"com.example/sync"}, "scope": {"read"},
		"identity_provider": {"entra"}, "local_passwords": {"on"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", resp.StatusCode, body)
	}
	if ch := tc.apps.changed; ch.IdentityProviders == nil || !slices.Equal(*ch.IdentityProviders, []string{"entra"}) ||
		ch.LocalPasswords == nil || !*ch.LocalPasswords {
		t.Errorf("changed %+v: want entra and local passwords", ch)
	}
	// None ticked is a choice the edit sends: [], not "unchanged".
	tc.post(t, Path+"/apps/edit", url.Values{"csrf_token": {csrf}, "uri": {"com.example/sync"}, "scope": {"read"}, "local_passwords": {"on"}})
	if ch := tc.apps.changed; ch.IdentityProviders == nil || len(*ch.IdentityProviders) != 0 {
		t.Errorf("changed %+v: want identity_providers []", ch)
	}

	// A reload that removes every provider: the form says so.
	tc.providers = nil
	tc.apps.apps[0].IdentityProviders, tc.apps.apps[0].LocalPasswords = nil, true
	if _, body = tc.get(t, Path+"/apps/edit?uri=com.example%2Fsync"); !strings.Contains(body, `id="app-no-providers"`) ||
		strings.Contains(body, `name="identity_provider"`) {
		t.Errorf("edit form without providers: %s", body)
	}
}

// TestNotices: a "done" parameter shows only the console's own texts.
func TestNotices(t *testing.T) {
	tc := newTestConsole(t)
	tc.signIn(t, "tok-admin")
	if _, body := tc.get(t, Path+"/apps?done=app_disabled"); !strings.Contains(body, "The app was disabled") {
		t.Error("known notice not shown")
	}
	if _, body := tc.get(t, Path+"/apps?done=%3Cscript%3E"); strings.Contains(body, "script&gt;") || strings.Contains(body, `id="message"`) {
		t.Error("an unknown notice is shown")
	}
}

// TestCatalogHasConsoleKeys: every key the console names is in every
// catalog (webui's catalog test covers the packages it walks).
func TestCatalogHasConsoleKeys(t *testing.T) {
	used := regexp.MustCompile(`(?:\.T|\.TH|\.Count|Msg)[ (]"(console\.[a-z0-9_.]+)"`)
	var keys []string
	for _, glob := range []string{"*.go", "web/*.html"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range used.FindAllStringSubmatch(string(b), -1) {
				keys = append(keys, m[1])
			}
		}
	}
	for _, k := range notices {
		keys = append(keys, k)
	}
	keys = append(keys, "console.source.config", "console.source.store", "console.source.builtin", "console.tokens.type.pat", "console.tokens.type.sat", // built with print
		"console.app.consent.implicit", "console.app.consent.required", "console.app.reftokens.none",
		"console.app.reftokens.authenticated_users", "console.app.reftokens.administrators_only")
	if len(keys) < 100 {
		t.Fatalf("found only %d keys", len(keys))
	}
	// webui's TestCatalogsComplete keeps the other catalogs in step
	// with English.
	en := webui.Language("en")
	for _, k := range keys {
		if en.T(k) == k {
			t.Errorf("the catalogs lack %s", k)
		}
	}
}
