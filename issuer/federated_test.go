package issuer

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/federation"
	"github.com/erpgate/erpgate/internal/testop"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
)

// The federated sign-in end to end, against a real OpenID provider (npm
// oidc-provider, internal/testop) on loopback: the login page's button,
// the provider's own login page, the callback, the tokens.

// fedUsers is the registry the gateway gives the issuer
// (gateway.Users), over the test's store and directory.
type fedUsers struct {
	st  *memory.Store
	dir *directory.Table
}

func (u fedUsers) CreateFederatedUser(ctx context.Context, in directory.User) error {
	in.ID, in.CreatedAt, in.UpdatedAt = "fed-"+in.Login, testNow, testNow
	if u.dir.ConfigUser(in.Login) != nil {
		return store.ErrConflict
	}
	if err := u.st.CreateUser(ctx, in); err != nil {
		return err
	}
	return u.dir.Sync(ctx)
}

func (u fedUsers) EmailOwner(ctx context.Context, email string) (string, error) {
	var found []string
	for _, f := range u.dir.ConfigUsers() {
		if strings.EqualFold(f.Email, email) {
			found = append(found, f.Login)
		}
	}
	stored, err := u.st.Users(ctx)
	if err != nil {
		return "", err
	}
	for _, s := range stored {
		if strings.EqualFold(s.Email, email) {
			found = append(found, s.Login)
		}
	}
	if len(found) != 1 {
		return "", nil
	}
	return found[0], nil
}

// fedAccounts are the people the provider knows.
var fedAccounts = []testop.Account{
	{ID: "sub-ann", Claims: map[string]any{"preferred_username": "ann", "name": "Ann Internal",
		"email": "ann@example.com", "email_verified": true}},
	{ID: "sub-bo", Claims: map[string]any{"preferred_username": "bo", "name": "Bo Outside",
		"email": "bo@partner.example", "email_verified": true}},
	{ID: "sub-alice-unverified", Claims: map[string]any{"preferred_username": "alice.x",
		"email": "alice@example.com", "email_verified": false}},
	{ID: "sub-alice", Claims: map[string]any{"preferred_username": "alice.y",
		"email": "alice@example.com", "email_verified": true}},
}

type fedServer struct {
	*testServer
	op *testop.Provider
}

// newFedServer is the test issuer with one OpenID provider, "corp",
// offered by webID; opIssuer, when set, is the issuer the provider
// advertises (a wrong one); mutate adjusts further.
func newFedServer(t *testing.T, opIssuer string, mutate func(*testConfig, *Provider)) *fedServer {
	t.Helper()
	var op *testop.Provider
	ts := newTestServer(t, func(tc *testConfig) {
		op = testop.Start(t, testop.Options{
			Issuer: opIssuer,
			Clients: []testop.Client{{ID: "erpgate", Secret: "op-secret",
				RedirectURIs:           []string{tc.Issuer + "/account/callback/corp"},
				PostLogoutRedirectURIs: []string{tc.Issuer + "/account/logout/federated"}}},
			Accounts: fedAccounts,
		})
		oidc, err := federation.NewOIDC(federation.OIDCConfig{ID: "corp", Issuer: op.URL(), ClientID: "erpgate",
			ClientSecret: "op-secret", RedirectURL: tc.Issuer + "/account/callback/corp", EndSession: true,
			HTTPClient: &http.Client{Timeout: 5 * time.Second}, DiscoveryTimeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		p := Provider{ID: "corp", Name: "Corp", Domains: []string{"example.com"}, Redirect: oidc,
			Rules: federation.Rules{InternalDomains: []string{"example.com"}, LinkExisting: federation.LinkByVerifiedEmail}}
		for i := range tc.Apps {
			if tc.Apps[i].ID == webID {
				tc.Apps[i].IdentityProviders = []string{"corp"}
			}
		}
		tc.FederatedLinks = tc.store
		tc.FederatedUsers = fedUsers{st: tc.store, dir: tc.Directory.(*directory.Table)}
		if mutate != nil {
			mutate(tc, &p)
		}
		tc.Providers = []Provider{p}
	})
	return &fedServer{testServer: ts, op: op}
}

var providerLink = regexp.MustCompile(`id="provider-corp" href="([^"]+)">([^<]*)<`)

// start opens the login page of q and follows the provider's button;
// it returns the redirect to the provider (or the page it answered).
func (fs *fedServer) start(t *testing.T, b *browser, q url.Values) (*http.Response, string) {
	t.Helper()
	resp, page := b.get(fs.issuer + "/account/login?" + q.Encode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login page: %d", resp.StatusCode)
	}
	m := providerLink.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("login page has no provider-corp button:\n%s", page)
	}
	if m[2] != "Sign in with Corp" {
		t.Errorf("button text %q", m[2])
	}
	return b.get(fs.URL + html.UnescapeString(m[1]))
}

// signIn runs the whole sign-in of account and returns the issuer's
// answer to the provider's callback.
func (fs *fedServer) signIn(t *testing.T, b *browser, q url.Values, account string) (*http.Response, string) {
	t.Helper()
	resp, _ := fs.start(t, b, q)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), fs.op.URL()) {
		t.Fatalf("button: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	back, err := fs.op.SignIn(b.c, resp.Header.Get("Location"), account)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(back.String(), fs.issuer+"/account/callback/corp?") {
		t.Fatalf("provider sent the browser to %s", back)
	}
	return b.get(back.String())
}

func (fs *fedServer) federatedCount(result string) float64 {
	return testutil.ToFloat64(fs.metrics.FederatedLogins.WithLabelValues("corp", result))
}

func TestFederatedSignIn(t *testing.T) {
	fs := newFedServer(t, "", func(tc *testConfig, _ *Provider) {
		for _, a := range exchangeApps() {
			if a.ID == midID {
				tc.Apps = append(tc.Apps, a)
			}
		}
	})
	p := newPKCE()
	q := authzQuery(webID, webRedirect, "openid profile offline_access read", p)
	resp, page := fs.signIn(t, newBrowser(t, fs.testServer), q, "sub-ann")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d %s", resp.StatusCode, page)
	}
	code := redirectQuery(t, resp, webRedirect)
	if code.Get("state") != "st-123" || code.Get("code") == "" {
		t.Fatalf("authorization response %v", code)
	}
	tok := fs.exchange(t, webID, webSecret, codeForm(code.Get("code"), webRedirect, p.verifier))
	if tok.status != 200 {
		t.Fatalf("token: %d %v", tok.status, tok.body)
	}
	at := fs.accessClaims(t, tok.body["access_token"].(string))
	if at.Subject != "ann" || at.IdentityProvider != "corp" || !slices.Equal(at.AuthMethods, []string{"pwd"}) ||
		at.UserType != directory.ClaimInternalUser || at.Email != "ann@example.com" {
		t.Errorf("access token claims %+v", at)
	}
	idt := fs.idClaims(t, tok.body["id_token"].(string))
	if idt.Subject != "ann" || idt.IDP != "corp" || !slices.Equal(idt.AMR, []string{"pwd"}) || idt.Nonce != "n-456" {
		t.Errorf("ID token claims %+v", idt)
	}
	// The first sign-in created the user by the rules, and linked it.
	if u := fs.directory.User("ann"); u == nil || u.Type != directory.TypeInternal || u.PasswordHash != "" || !u.EmailVerified {
		t.Fatalf("created user %+v", u)
	}
	if l, err := fs.store.FederatedLink(t.Context(), "corp", "sub-ann"); err != nil || l.Login != "ann" {
		t.Fatalf("link %+v %v", l, err)
	}
	// Refresh keeps how the user signed in.
	rt := fs.exchange(t, webID, webSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.body["refresh_token"].(string)}})
	if rt.status != 200 {
		t.Fatalf("refresh: %d %v", rt.status, rt.body)
	}
	if c := fs.accessClaims(t, rt.body["access_token"].(string)); c.IdentityProvider != "corp" || !slices.Equal(c.AuthMethods, []string{"pwd"}) {
		t.Errorf("refreshed token claims %+v", c)
	}
	// An exchanged token (RFC 8693) keeps them: it acts for the same sign-in.
	ex := fs.exchange(t, midID, midSecret, exchangeForm(tok.body["access_token"].(string)))
	if ex.status != 200 {
		t.Fatalf("token exchange: %d %v", ex.status, ex.body)
	}
	if c := fs.accessClaims(t, ex.body["access_token"].(string)); c.IdentityProvider != "corp" || !slices.Equal(c.AuthMethods, []string{"pwd"}) {
		t.Errorf("exchanged token claims %+v", c)
	}
	// Userinfo says it too.
	req, _ := http.NewRequest(http.MethodGet, fs.issuer+"/connect/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.body["access_token"].(string))
	ui, err := fs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	_ = json.NewDecoder(ui.Body).Decode(&info)
	ui.Body.Close()
	if info["idp"] != "corp" || info["sub"] != "ann" {
		t.Errorf("userinfo %v", info)
	}
	for _, tk := range []string{tok.body["access_token"].(string), rt.body["refresh_token"].(string)} {
		ireq, _ := http.NewRequest(http.MethodPost, fs.issuer+"/connect/introspect", strings.NewReader(url.Values{"token": {tk}}.Encode()))
		ireq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		ireq.SetBasicAuth(url.QueryEscape(webID), url.QueryEscape(webSecret))
		ir, err := fs.Client().Do(ireq)
		if err != nil {
			t.Fatal(err)
		}
		var intro map[string]any
		_ = json.NewDecoder(ir.Body).Decode(&intro)
		ir.Body.Close()
		if intro["active"] != true || intro["idp"] != "corp" || len(intro["amr"].([]any)) != 1 {
			t.Errorf("introspection %v", intro)
		}
	}

	// A second sign-in, in another browser, reuses the link: no second user.
	before, _ := fs.store.Users(t.Context())
	p2 := newPKCE()
	resp, page = fs.signIn(t, newBrowser(t, fs.testServer), authzQuery(webID, webRedirect, "openid read", p2), "sub-ann")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("second callback: %d %s", resp.StatusCode, page)
	}
	after, _ := fs.store.Users(t.Context())
	if len(after) != len(before) {
		t.Errorf("users %d -> %d: the second sign-in created another", len(before), len(after))
	}
	if n := fs.federatedCount("success"); n != 2 {
		t.Errorf("erpgate_federated_logins_total{result=success} = %v, want 2", n)
	}

	// A password sign-in says pwd and no idp.
	pw := newPKCE()
	lq := newBrowser(t, fs.testServer).login(authzQuery(webID, webRedirect, "openid read", pw), "alice", "alice-pw")
	ptok := fs.exchange(t, webID, webSecret, codeForm(lq.Get("code"), webRedirect, pw.verifier))
	if c := fs.accessClaims(t, ptok.body["access_token"].(string)); c.IdentityProvider != "" || !slices.Equal(c.AuthMethods, []string{"pwd"}) {
		t.Errorf("password sign-in claims %+v", c)
	}
}

// TestFederatedRules: what the rules refuse, and linking by verified
// email only.
func TestFederatedRules(t *testing.T) {
	var auditLog syncBuffer
	fs := newFedServer(t, "", func(tc *testConfig, _ *Provider) {
		tc.Audit = audit.New(slog.NewJSONHandler(&auditLog, nil))
	})
	q := authzQuery(webID, webRedirect, "openid read", newPKCE())
	for _, tc := range []struct {
		account, reason, text string
	}{
		{"sub-bo", "idp_user_refused", "may not sign in here"},               // others: refuse
		{"sub-alice-unverified", "idp_email_unverified", "has not verified"}, // alice has the email; unverified does not link
	} {
		resp, page := fs.signIn(t, newBrowser(t, fs.testServer), q, tc.account)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, tc.text) || !strings.Contains(page, tc.reason) {
			t.Errorf("%s: %d, want 403 saying %q (%s):\n%s", tc.account, resp.StatusCode, tc.text, tc.reason, page)
		}
		if n := fs.federatedCount(tc.reason); n != 1 {
			t.Errorf("%s: erpgate_federated_logins_total{result=%s} = %v", tc.account, tc.reason, n)
		}
		if _, err := fs.store.FederatedLink(t.Context(), "corp", tc.account); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: a refused identity was linked (%v)", tc.account, err)
		}
	}
	if fs.directory.User("bo") != nil || fs.directory.User("alice.x") != nil {
		t.Error("a refused identity became a user")
	}
	// A verified email links to the existing user, whose claims the
	// tokens carry.
	p := newPKCE()
	resp, page := fs.signIn(t, newBrowser(t, fs.testServer), authzQuery(webID, webRedirect, "openid read", p), "sub-alice")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("verified email: %d %s", resp.StatusCode, page)
	}
	tok := fs.exchange(t, webID, webSecret, codeForm(redirectQuery(t, resp, webRedirect).Get("code"), webRedirect, p.verifier))
	if c := fs.accessClaims(t, tok.body["access_token"].(string)); c.Subject != "alice" || c.IdentityProvider != "corp" {
		t.Errorf("linked sign-in claims %+v", c)
	}
	// The audit log says what happened, with the provider.
	lines := strings.Split(auditLog.String(), "\n")
	for _, want := range [][]string{
		{`"event":"login.failed"`, `"reason":"idp_user_refused"`, `"idp":"corp"`},
		{`"event":"login.failed"`, `"reason":"idp_email_unverified"`, `"idp":"corp"`},
		{`"event":"federation.linked"`, `"subject":"alice"`, `"reason":"linked_by_email"`, `"idp":"corp"`},
		{`"event":"login.succeeded"`, `"subject":"alice"`, `"idp":"corp"`},
	} {
		if !slices.ContainsFunc(lines, func(l string) bool {
			return !slices.ContainsFunc(want, func(part string) bool { return !strings.Contains(l, part) })
		}) {
			t.Errorf("no audit line has all of %v:\n%s", want, auditLog.String())
		}
	}
}

// syncBuffer is a bytes.Buffer for a log written from server goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestFederatedStateAndNonce: the answer must belong to this browser's
// pending sign-in, once, with the nonce sent.
func TestFederatedStateAndNonce(t *testing.T) {
	fs := newFedServer(t, "", nil)
	q := authzQuery(webID, webRedirect, "openid read", newPKCE())

	// Replay: the same answer again, with the same cookies.
	b := newBrowser(t, fs.testServer)
	resp, _ := fs.start(t, b, q)
	back, err := fs.op.SignIn(b.c, resp.Header.Get("Location"), "sub-ann")
	if err != nil {
		t.Fatal(err)
	}
	jar := b.c.Jar
	u, _ := url.Parse(fs.issuer + "/account/callback/corp")
	saved := jar.Cookies(u)
	if r, page := b.get(back.String()); r.StatusCode != http.StatusFound {
		t.Fatalf("first answer: %d %s", r.StatusCode, page)
	}
	jar.SetCookies(u, saved) // the attacker kept the cookie too
	if r, page := b.get(back.String()); r.StatusCode != http.StatusBadRequest || !strings.Contains(page, "idp_state_mismatch") {
		t.Errorf("replayed answer: %d, want 400 idp_state_mismatch:\n%s", r.StatusCode, page)
	}

	// A state this browser never sent (login CSRF): refused.
	b = newBrowser(t, fs.testServer)
	resp, _ = fs.start(t, b, q)
	back, err = fs.op.SignIn(b.c, resp.Header.Get("Location"), "sub-ann")
	if err != nil {
		t.Fatal(err)
	}
	other := newBrowser(t, fs.testServer)
	if r, _ := other.get(back.String()); r.StatusCode != http.StatusBadRequest {
		t.Errorf("answer in another browser: %d, want 400", r.StatusCode)
	}
	tampered := *back
	tq := tampered.Query()
	tq.Set("state", "x"+tq.Get("state"))
	tampered.RawQuery = tq.Encode()
	if r, _ := b.get(tampered.String()); r.StatusCode != http.StatusBadRequest {
		t.Errorf("tampered state: %d, want 400", r.StatusCode)
	}

	// Nonce: the pending sign-in's nonce is not the ID token's.
	b = newBrowser(t, fs.testServer)
	resp, _ = fs.start(t, b, q)
	back, err = fs.op.SignIn(b.c, resp.Header.Get("Location"), "sub-ann")
	if err != nil {
		t.Fatal(err)
	}
	var cs []*http.Cookie
	for _, c := range b.c.Jar.Cookies(u) {
		if strings.HasPrefix(c.Name, federatedCookie) {
			raw, _ := base64.RawURLEncoding.DecodeString(c.Value)
			var pend pendingFederated
			_ = json.Unmarshal(raw, &pend)
			pend.Nonce = "another-nonce"
			raw, _ = json.Marshal(pend)
			cs = append(cs, &http.Cookie{Name: c.Name, Value: base64.RawURLEncoding.EncodeToString(raw), Path: "/id/account/callback/corp"})
		}
	}
	b.c.Jar.SetCookies(u, cs)
	if r, page := b.get(back.String()); r.StatusCode != http.StatusBadRequest || !strings.Contains(page, "idp_nonce_mismatch") {
		t.Errorf("nonce mismatch: %d, want 400 idp_nonce_mismatch:\n%s", r.StatusCode, page)
	}
	if n := fs.federatedCount("idp_nonce_mismatch"); n != 1 {
		t.Errorf("nonce mismatches counted %v", n)
	}

	// The person cancelled at the provider.
	b = newBrowser(t, fs.testServer)
	resp, _ = fs.start(t, b, q)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	cancel := url.Values{"error": {"access_denied"}, "state": {loc.Query().Get("state")}}
	if r, page := b.get(fs.issuer + "/account/callback/corp?" + cancel.Encode()); r.StatusCode != http.StatusForbidden || !strings.Contains(page, "cancelled") {
		t.Errorf("access_denied: %d:\n%s", r.StatusCode, page)
	}
}

// TestFederatedProviderTrouble: a provider that is down, or that names
// another issuer, gives a page in words, not a crash or a redirect.
func TestFederatedProviderTrouble(t *testing.T) {
	q := authzQuery(webID, webRedirect, "openid read", newPKCE())
	t.Run("down", func(t *testing.T) {
		fs := newFedServer(t, "", nil)
		fs.op.Stop()
		resp, page := fs.start(t, newBrowser(t, fs.testServer), q)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(page, "cannot be reached") || resp.Header.Get("Retry-After") == "" {
			t.Errorf("provider down: %d %s", resp.StatusCode, page)
		}
		if n := fs.federatedCount("idp_unavailable"); n != 1 {
			t.Errorf("unavailable counted %v", n)
		}
		// Local passwords still work for the app.
		newBrowser(t, fs.testServer).login(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw")
	})
	t.Run("wrong issuer", func(t *testing.T) {
		fs := newFedServer(t, "https://impostor.example", nil)
		resp, page := fs.start(t, newBrowser(t, fs.testServer), q)
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(page, "idp_wrong_issuer") {
			t.Errorf("wrong issuer: %d %s", resp.StatusCode, page)
		}
	})
}

// TestFederatedLoginPage: local_passwords: false hides and refuses the
// password form; a login_hint in the provider's domain skips the page.
func TestFederatedLoginPage(t *testing.T) {
	fs := newFedServer(t, "", func(tc *testConfig, _ *Provider) {
		for i := range tc.Apps {
			if tc.Apps[i].ID == webID {
				tc.Apps[i].NoLocalPasswords = true
			}
		}
	})
	q := authzQuery(webID, webRedirect, "openid read", newPKCE())
	b := newBrowser(t, fs.testServer)
	resp, page := b.get(fs.issuer + "/account/login?" + q.Encode())
	if resp.StatusCode != 200 || strings.Contains(page, `id="password"`) || !strings.Contains(page, `id="provider-corp"`) {
		t.Fatalf("login page of an app without local passwords: %d\n%s", resp.StatusCode, page)
	}
	f := url.Values{}
	for k, v := range q {
		f[k] = v
	}
	f.Set("csrf_token", csrfOf(t, b, fs.issuer))
	f.Set("login", "alice")
	f.Set("password", "alice-pw")
	if r, page := b.post(fs.issuer+"/account/login", f); r.StatusCode != http.StatusForbidden || r.Header.Get("Location") != "" {
		t.Errorf("password post to an app without local passwords: %d %s", r.StatusCode, page)
	}

	hinted := authzQuery(webID, webRedirect, "openid read", newPKCE(), "login_hint", "ann@Example.com")
	r, _ := b.get(fs.issuer + "/connect/authorize?" + hinted.Encode())
	r, _ = b.get(fs.URL + r.Header.Get("Location")) // the login page
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), fs.op.URL()) || loc.Query().Get("login_hint") != "ann@Example.com" {
		t.Errorf("login_hint in a provider's domain: %d %s", r.StatusCode, loc)
	}
}

// csrfOf is the browser's anti-forgery cookie.
func csrfOf(t *testing.T, b *browser, issuer string) string {
	t.Helper()
	u, _ := url.Parse(issuer + "/account/login")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == csrfCookie {
			return c.Value
		}
	}
	t.Fatal("no CSRF cookie")
	return ""
}

// TestFederatedLogout: logout ends erpgate's session first, then the
// provider's, and comes back to the app's post_logout_redirect_uri.
func TestFederatedLogout(t *testing.T) {
	fs := newFedServer(t, "", nil)
	p := newPKCE()
	b := newBrowser(t, fs.testServer)
	resp, page := fs.signIn(t, b, authzQuery(webID, webRedirect, "openid read", p), "sub-ann")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d %s", resp.StatusCode, page)
	}
	tok := fs.exchange(t, webID, webSecret, codeForm(redirectQuery(t, resp, webRedirect).Get("code"), webRedirect, p.verifier))
	sid := fs.accessClaims(t, tok.body["access_token"].(string)).SessionID
	r, _ := b.get(fs.issuer + "/connect/endsession?" + url.Values{"id_token_hint": {tok.body["id_token"].(string)},
		"post_logout_redirect_uri": {"https://app.example.com/bye"}, "state": {"s9"}}.Encode())
	if r.StatusCode != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), fs.op.URL()) {
		t.Fatalf("endsession: %d %s, want the provider's end_session_endpoint", r.StatusCode, r.Header.Get("Location"))
	}
	// erpgate's own logout is complete before the browser leaves.
	if s, err := fs.store.Session(t.Context(), sid); err != nil || s.EndReason != store.EndLogout {
		t.Errorf("ERP session when leaving for the provider: %+v %v", s, err)
	}
	back, err := fs.op.SignOut(b.c, r.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(back.String(), fs.issuer+"/account/logout/federated?") {
		t.Fatalf("provider came back to %s", back)
	}
	r, _ = b.get(back.String())
	if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "https://app.example.com/bye?state=s9" {
		t.Errorf("after the provider: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	// A stale return (no cookie) goes to the signed-out page, not to a
	// redirect anyone chose.
	if r, page := newBrowser(t, fs.testServer).get(back.String()); r.StatusCode != http.StatusOK || r.Header.Get("Location") != "" {
		t.Errorf("stale return: %d %s", r.StatusCode, page)
	}
}

// TestFederatedLogoutConfirmation: a logout without id_token_hint asks
// first, and the confirmation's answer redirects on to the provider — so
// the page's CSP form-action names the provider's origin (CSP3 applies
// form-action to the redirects after a submission; without it a browser
// stops at erpgate's page and the provider's session lives on).
func TestFederatedLogoutConfirmation(t *testing.T) {
	fs := newFedServer(t, "", nil)
	p := newPKCE()
	b := newBrowser(t, fs.testServer)
	if resp, page := fs.signIn(t, b, authzQuery(webID, webRedirect, "openid read", p), "sub-ann"); resp.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d %s", resp.StatusCode, page)
	}
	r, page := b.get(fs.issuer + "/connect/endsession")
	if r.StatusCode != http.StatusOK || !strings.Contains(page, `id="confirm"`) {
		t.Fatalf("endsession without a hint: %d, want the confirmation:\n%s", r.StatusCode, page)
	}
	csp := r.Header.Get("Content-Security-Policy")
	_, formAction, _ := strings.Cut(csp, "form-action ")
	formAction, _, _ = strings.Cut(formAction, ";")
	if !slices.Contains(strings.Fields(formAction), fs.op.URL()) {
		t.Errorf("the confirmation's form-action is %q, want it to name the provider %s", formAction, fs.op.URL())
	}
	// A password sign-in's confirmation names no provider.
	local := newBrowser(t, fs.testServer)
	local.login(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw")
	r, _ = local.get(fs.issuer + "/connect/endsession")
	if strings.Contains(r.Header.Get("Content-Security-Policy"), fs.op.URL()) {
		t.Errorf("a password sign-in's logout confirmation names the provider: %s", r.Header.Get("Content-Security-Policy"))
	}
}

// TestFederatedUserAtEveryDoor: a federated user is an ordinary user;
// disabled, they are refused at userinfo, introspection, refresh and a
// new federated sign-in.
func TestFederatedUserAtEveryDoor(t *testing.T) {
	fs := newFedServer(t, "", nil)
	p := newPKCE()
	resp, page := fs.signIn(t, newBrowser(t, fs.testServer), authzQuery(webID, webRedirect, "openid offline_access read", p), "sub-ann")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d %s", resp.StatusCode, page)
	}
	tok := fs.exchange(t, webID, webSecret, codeForm(redirectQuery(t, resp, webRedirect).Get("code"), webRedirect, p.verifier))
	at := tok.body["access_token"].(string)

	u, err := fs.store.User(t.Context(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled, u.UpdatedAt = true, testNow.Add(time.Second)
	if err := fs.store.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if err := fs.directory.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, fs.issuer+"/connect/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	ui, err := fs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ui.Body.Close()
	if ui.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo of a disabled federated user: %d", ui.StatusCode)
	}
	ireq, _ := http.NewRequest(http.MethodPost, fs.issuer+"/connect/introspect", strings.NewReader(url.Values{"token": {at}}.Encode()))
	ireq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	ireq.SetBasicAuth(url.QueryEscape(webID), url.QueryEscape(webSecret))
	ir, err := fs.Client().Do(ireq)
	if err != nil {
		t.Fatal(err)
	}
	var intro map[string]any
	_ = json.NewDecoder(ir.Body).Decode(&intro)
	ir.Body.Close()
	if intro["active"] != false {
		t.Errorf("introspection of a disabled federated user's token: %v", intro)
	}
	if rt := fs.exchange(t, webID, webSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.body["refresh_token"].(string)}}); rt.status != 400 {
		t.Errorf("refresh of a disabled federated user: %d", rt.status)
	}
	resp, page = fs.signIn(t, newBrowser(t, fs.testServer), authzQuery(webID, webRedirect, "openid read", newPKCE()), "sub-ann")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "idp_user_disabled") {
		t.Errorf("sign-in of a disabled federated user: %d %s", resp.StatusCode, page)
	}
}

// TestFederatedPromptLogin: an app asking for a fresh sign-in (prompt
// login or max_age) gets one at the provider too, not its silent SSO.
func TestFederatedPromptLogin(t *testing.T) {
	fs := newFedServer(t, "", nil)
	for _, extra := range [][]string{{"prompt", "login"}, {"max_age", "0"}, nil} {
		q := authzQuery(webID, webRedirect, "openid read", newPKCE(), extra...)
		resp, _ := fs.start(t, newBrowser(t, fs.testServer), q)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if got, want := loc.Query().Get("prompt"), map[bool]string{true: "login", false: ""}[extra != nil]; got != want {
			t.Errorf("%v: prompt at the provider %q, want %q", extra, got, want)
		}
	}
}
