package issuer

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/erpgate/erpgate/directory"
)

// TestAccountPage: the signed-in user sees their profile and consents
// and revokes their own consent, after which the app asks again; a
// browser without a sign-in is asked to sign in; nobody revokes another
// user's consent; the form needs its anti-forgery token.
func TestAccountPage(t *testing.T) {
	ts := newTestServer(t, func(c *testConfig) {
		consentApp(c)
		c.SignInURL = "http://gw.example/oauth2/start"
	})
	alice := newBrowser(t, ts)
	resp, page := alice.signInTo(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw")
	if !isConsentPage(resp, page) {
		t.Fatalf("no consent page: %d", resp.StatusCode)
	}
	alice.answerConsent(page, "allow")

	resp, page = alice.get(ts.issuer + accountPath)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("account page: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	checkPageHeaders(t, resp)
	for _, want := range []string{`id="profile-name">Alice Example<`, `id="profile-email">alice@example.com`, "Internal user",
		`id="consent-` + webID + `"`, "Web App", "Read your company"} {
		if !strings.Contains(page, want) {
			t.Errorf("the account page lacks %q", want)
		}
	}
	csrf := html.UnescapeString(regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)[1])
	revoke := ts.issuer + accountPath + "/consents/revoke"

	// Without the anti-forgery token nothing is revoked.
	if resp, _ := alice.post(revoke, url.Values{"client_id": {webID}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("revoke without csrf: %d", resp.StatusCode)
	}
	// Another signed-in user posting alice's app id revokes only their own.
	bob := newBrowser(t, ts)
	bob.login(authzQuery("com.example/other", "https://other.example.com/cb", "openid", newPKCE()), "bob", "alice-pw")
	bob.get(ts.issuer + accountPath) // sets bob's anti-forgery cookie; bob has no consents, so no form
	u, _ := url.Parse(ts.issuer + "/")
	bobCSRF := ""
	for _, c := range bob.c.Jar.Cookies(u) {
		if c.Name == csrfCookie {
			bobCSRF = c.Value
		}
	}
	if resp, page := bob.post(revoke, url.Values{"client_id": {webID}, "csrf_token": {bobCSRF}}); resp.StatusCode != http.StatusNotFound ||
		!strings.Contains(page, "no such consent among yours") {
		t.Fatalf("bob revoking alice's consent by its app id: %d, want 404 no such consent", resp.StatusCode)
	}
	if _, err := ts.store.Consent(t.Context(), "alice", webID); err != nil {
		t.Fatalf("another user revoked alice's consent: %v", err)
	}

	resp, page = alice.post(revoke, url.Values{"client_id": {webID}, "csrf_token": {csrf}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "is revoked") || strings.Contains(page, `id="consent-`+webID+`"`) {
		t.Fatalf("revoke: %d\n%s", resp.StatusCode, page)
	}
	if _, err := ts.store.Consent(t.Context(), "alice", webID); err == nil {
		t.Fatal("the consent is still stored")
	}
	resp, page = alice.signInTo(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw")
	if !isConsentPage(resp, page) {
		t.Errorf("after revoking, the app did not ask again: %d", resp.StatusCode)
	}

	// Signed out: sent to sign in, coming back here.
	resp, _ = newBrowser(t, ts).get(ts.issuer + accountPath)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "http://gw.example/oauth2/start?rd=%2Fid%2Faccount" {
		t.Errorf("signed out: %d %q", resp.StatusCode, loc)
	}
	// The login page without an authorization request leads here.
	resp, _ = newBrowser(t, ts).get(ts.issuer + "/account/login")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/id"+accountPath {
		t.Errorf("bare login page: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestAccountProfile: the profile says the user's name, login, email and
// whether it is verified, the user type in words, the language and
// whether the user is an administrator; the page is in the account
// area's navigation, itself marked as the current page.
func TestAccountProfile(t *testing.T) {
	ts, _ := newAccountServer(t, func(c *testConfig) {
		c.Users = append(c.Users, directory.User{Login: "root", ID: "u-9", Name: "Root", Email: "root@example.com", EmailVerified: true,
			Locale: "en-GB", Type: directory.TypeInternal, Admin: true, PasswordHash: alicePasswordHash})
	})
	for _, tc := range []struct {
		user string
		want map[string]string
	}{
		{"alice", map[string]string{"profile-name": "Alice Example", "profile-login": "alice", "profile-email-verified": "not verified",
			"profile-type": "Internal user", "profile-locale": "not set", "profile-admin": "no"}},
		{"bob", map[string]string{"profile-name": "Bob", "profile-email": "none", "profile-type": "Community user", "profile-admin": "no"}},
		{"root", map[string]string{"profile-email-verified": "verified", "profile-locale": "English (en-GB)", "profile-admin": "yes"}},
	} {
		t.Run(tc.user, func(t *testing.T) {
			b := browserSignedInAs(t, ts, tc.user)
			page := accountPageOf(t, b, accountPath)
			for id, want := range tc.want {
				m := regexp.MustCompile(`id="` + id + `">([^<]*)<`).FindStringSubmatch(page)
				if m == nil || html.UnescapeString(m[1]) != want {
					t.Errorf("%s: %v, want %q", id, m, want)
				}
			}
			for _, nav := range []string{`id="nav-profile" href="/id/account" aria-current="page"`, `id="nav-password" href="/id/account/password"`,
				`id="nav-sessions" href="/id/account/sessions"`, `id="nav-consents" href="/id/account#consents"`, `id="nav-signout" href="/id/connect/endsession"`} {
				if !strings.Contains(page, nav) {
					t.Errorf("the navigation lacks %s", nav)
				}
			}
			if strings.Contains(page, `id="nav-tokens"`) {
				t.Error("the navigation links the tokens page, which this server does not serve")
			}
		})
	}
}
