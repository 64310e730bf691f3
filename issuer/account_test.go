package issuer

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
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
	if resp, _ := bob.post(revoke, url.Values{"client_id": {webID}, "csrf_token": {bobCSRF}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("bob's revoke was not taken at all (%d): the test would prove nothing", resp.StatusCode)
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
