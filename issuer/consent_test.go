package issuer

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/erpgate/erpgate/directory"
)

// consentApp is webID with consent: required.
func consentApp(tc *testConfig) {
	for i := range tc.Apps {
		if tc.Apps[i].ID == webID {
			tc.Apps[i].ConsentRequired = true
		}
	}
}

// signInTo walks authorize → login and returns the answer to the login
// POST: the consent page, or the redirect to the app.
func (b *browser) signInTo(q url.Values, user, pw string) (*http.Response, string) {
	b.t.Helper()
	resp, page := b.get(b.ts.issuer + "/connect/authorize?" + q.Encode())
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.Contains(loc, "/account/login?") {
		return resp, page // signed in already: the consent page or the app
	}
	_, page = b.get(b.ts.URL + loc)
	f := formFields(page)
	f.Set("login", user)
	f.Set("password", pw)
	return b.post(b.ts.issuer+"/account/login", f)
}

// answerConsent posts the consent page's form with decision.
func (b *browser) answerConsent(page, decision string) *http.Response {
	b.t.Helper()
	f := formFields(page)
	f.Set("decision", decision)
	resp, _ := b.post(b.ts.issuer+consentPath, f)
	return resp
}

func isConsentPage(resp *http.Response, page string) bool {
	return resp.StatusCode == http.StatusOK && strings.Contains(page, `id="allow"`) && strings.Contains(page, `action="/id/account/consent"`)
}

// TestConsentRequired: an app with consent: required shows the consent
// page once per user, app and scopes (SPEC §3); asking for more asks
// again; prompt=consent always asks; prompt=none answers
// consent_required (OIDC Core §3.1.2.6); deny answers access_denied.
func TestConsentRequired(t *testing.T) {
	ts := newTestServer(t, consentApp)
	b := newBrowser(t, ts)

	// First sign-in: the consent page names the scopes in words.
	resp, page := b.signInTo(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw")
	if !isConsentPage(resp, page) {
		t.Fatalf("no consent page after sign-in: %d\n%s", resp.StatusCode, page)
	}
	for _, want := range []string{"Web App", "Know who you are", "Read your company", `id="scope-read"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the consent page lacks %q", want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://app.example.com;") {
		t.Errorf("consent CSP %q must let the answer redirect to the app's origin, and only it", csp)
	}
	resp = b.answerConsent(page, "allow")
	if q := redirectQuery(t, resp, webRedirect); q.Get("code") == "" || q.Get("state") != "st-123" {
		t.Fatalf("allow: %v", q)
	}
	c, err := ts.store.Consent(t.Context(), "alice", webID)
	if err != nil || strings.Join(c.Scopes, " ") != "openid read" {
		t.Fatalf("stored consent = %+v, %v", c, err)
	}

	// The same scopes again: no page.
	resp, _ = b.signInTo(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw")
	if q := redirectQuery(t, resp, webRedirect); q.Get("code") == "" {
		t.Fatalf("a remembered consent asked again: %v", q)
	}

	// More scopes: asked again, the new one marked.
	resp, page = b.signInTo(authzQuery(webID, webRedirect, "openid read update", newPKCE()), "alice", "alice-pw")
	if !isConsentPage(resp, page) || !strings.Contains(page, "more than you allowed before") {
		t.Fatalf("asking for more did not ask again: %d\n%s", resp.StatusCode, page)
	}

	// prompt=none with consent needed: consent_required to the app.
	resp, _ = b.get(ts.issuer + "/connect/authorize?" + authzQuery(webID, webRedirect, "openid update", newPKCE(), "prompt", "none").Encode())
	if q := redirectQuery(t, resp, webRedirect); q.Get("error") != "consent_required" {
		t.Fatalf("prompt=none: %v", q)
	}

	// Deny: access_denied, nothing remembered.
	resp = b.answerConsent(page, "deny")
	if q := redirectQuery(t, resp, webRedirect); q.Get("error") != "access_denied" || q.Get("code") != "" {
		t.Fatalf("deny: %v", q)
	}
	if c, _ := ts.store.Consent(t.Context(), "alice", webID); strings.Contains(strings.Join(c.Scopes, " "), "update") {
		t.Errorf("a denied scope was remembered: %v", c.Scopes)
	}

	// prompt=consent asks even for what is remembered.
	resp, page = b.signInTo(authzQuery(webID, webRedirect, "openid read", newPKCE(), "prompt", "consent"), "alice", "alice-pw")
	if !isConsentPage(resp, page) {
		t.Fatalf("prompt=consent did not ask: %d", resp.StatusCode)
	}
	if strings.Contains(page, "more than you allowed before") || strings.Contains(page, "· new") {
		t.Error("prompt=consent for the scopes already allowed says the app asks for more")
	}
	if f := formFields(page); f.Get("prompt") != "" {
		t.Errorf("the consent form carries prompt=%q on: answering it would ask again", f.Get("prompt"))
	}
}

// TestConsentImplicitAndPrompt: an app whose registration is the consent
// never asks, unless the request says prompt=consent; prompt=login
// consent asks for both, in turn.
func TestConsentImplicitAndPrompt(t *testing.T) {
	ts := newTestServer(t, nil)
	b := newBrowser(t, ts)
	if q := b.login(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw"); q.Get("code") == "" {
		t.Fatalf("implicit consent: %v", q)
	}
	resp, page := b.signInTo(authzQuery(webID, webRedirect, "openid read", newPKCE(), "prompt", "login consent"), "alice", "alice-pw")
	if !isConsentPage(resp, page) {
		t.Fatalf("prompt=login consent: the login was not followed by consent: %d\n%s", resp.StatusCode, page)
	}
	if q := redirectQuery(t, b.answerConsent(page, "allow"), webRedirect); q.Get("code") == "" {
		t.Fatalf("allow: %v", q)
	}
}

// TestConsentAnswerAttacks: the consent answer is bound to the signed-in
// user and to the page's anti-forgery token; it cannot change the
// request it answers.
func TestConsentAnswerAttacks(t *testing.T) {
	ts := newTestServer(t, consentApp)
	b := newBrowser(t, ts)
	resp, page := b.signInTo(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw")
	if !isConsentPage(resp, page) {
		t.Fatalf("no consent page: %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		name   string
		change func(url.Values)
		check  func(t *testing.T, resp *http.Response)
	}{
		{"no csrf token", func(f url.Values) { f.Del("csrf_token") }, func(t *testing.T, resp *http.Response) {
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status %d, want 403", resp.StatusCode)
			}
		}},
		{"another user's name", func(f url.Values) { f.Set("login", "bob") }, func(t *testing.T, resp *http.Response) {
			if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/account/login?") {
				t.Errorf("answer for another user: %d %s, want the login page", resp.StatusCode, resp.Header.Get("Location"))
			}
		}},
		{"an unregistered redirect", func(f url.Values) { f.Set("redirect_uri", "https://evil.example/cb") }, func(t *testing.T, resp *http.Response) {
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Errorf("unregistered redirect: %d %s, want the error page", resp.StatusCode, resp.Header.Get("Location"))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := formFields(page)
			f.Set("decision", "allow")
			tc.change(f)
			resp, _ := b.post(ts.issuer+consentPath, f)
			tc.check(t, resp)
			if _, err := ts.store.Consent(t.Context(), "alice", webID); err == nil {
				t.Fatal("a forged answer was remembered")
			}
		})
	}
	// A browser that is not signed in cannot answer for anyone.
	stranger := newBrowser(t, ts)
	f := formFields(page)
	f.Set("decision", "allow")
	resp, _ = stranger.post(ts.issuer+consentPath, f)
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/account/login?") {
		t.Errorf("a signed-out answer: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A user the app no longer allows is refused at the answer too.
	ts.directory.SetConfig(appsWith(func(a *directory.App) {
		if a.ID == webID {
			a.ConsentRequired, a.AllowInternalUsers = true, false
		}
	}), testUsers())
	f = formFields(page)
	f.Set("decision", "allow")
	resp, _ = b.post(ts.issuer+consentPath, f)
	if q := redirectQuery(t, resp, webRedirect); q.Get("error") != "access_denied" {
		t.Errorf("a withdrawn user type consented: %v", q)
	}
}

// appsWith is testApps changed by edit.
func appsWith(edit func(*directory.App)) []directory.App {
	apps := testApps()
	for i := range apps {
		edit(&apps[i])
	}
	return apps
}
