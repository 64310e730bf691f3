package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/internal/testop"
	"github.com/erpgate/erpgate/sampleapi"
)

// TestFederatedSignInBrowser signs in to a third-party app (another
// origin than the gateway's, as real apps are) in Chromium through the
// company's OpenID provider — the npm oidc-provider, on its own origin:
// the app's login page offers the provider's button; the provider's own
// login page signs the person in; back at the gateway, the provider's
// rules make her an internal user; the app gets tokens naming the
// provider (idp, amr) and calls an ERP API through the gateway as her.
// Signing out of the app also ends her session at the provider
// (RP-initiated logout), so the next sign-in asks the provider's
// password again.
func TestFederatedSignInBrowser(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath(chromiumPath)
	requireDep(t, err == nil, "Chromium at "+chromiumPath+" (apt-get install chromium)")
	web := startWebRP(t)
	var op *testop.Provider
	g := startGateway(t, gatewayOptions{Edit: func(cfg string) string {
		cfg = withApps(t, web.appYAML("identity_providers: [corp]", "local_passwords: false"))(cfg)
		public := publicURL(t, cfg)
		// The provider is started once the gateway's address is known:
		// its client's redirect URI is the gateway's callback.
		op = testop.Start(t, testop.Options{
			Clients: []testop.Client{{
				ID: "erpgate-at-corp", Secret: "corp-client-secret",
				RedirectURIs:           []string{public + "/id/account/callback/corp"},
				PostLogoutRedirectURIs: []string{public + "/id/account/logout/federated"},
			}},
			Accounts: []testop.Account{{ID: "corp-0042", Claims: map[string]any{
				"preferred_username": "maria", "name": "Maria Ivanova",
				"email": "maria@corp.example", "email_verified": true,
			}}},
		})
		return cfg + fmt.Sprintf(`
identity_providers:
  - id: corp
    type: oidc
    name: Corp SSO
    issuer: %s
    client_id: erpgate-at-corp
    client_secret: corp-client-secret
    end_session: true
    users:
      internal_domains: [corp.example]
`, op.Issuer())
	}})
	web.connect(t, g)

	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	ctx = newBrowser(t, ctx)
	b := newChromeTab(t, ctx, g)

	// 1. The app sends the browser to the gateway's login page, which
	// offers the provider and no password form (local_passwords: false).
	b.step("the app's sign-in", chromedp.Navigate(web.URL()+"/start"), chromedp.WaitVisible(chromedp.CSS("#provider-corp")))
	if n := readAs(b, "password fields", chromedp.Evaluate[int](`document.querySelectorAll("#password").length`)); n != 0 {
		t.Error("the login page shows a password form to an app with local_passwords: false")
	}
	// 2. Its button leads to the provider's own login page.
	b.step("the provider's button", chromedp.Click(chromedp.CSS("#provider-corp")), chromedp.WaitVisible(chromedp.CSS(op.LoginPageMarker())))
	if u := b.location(); u.Host != mustHost(t, op.URL()) {
		t.Fatalf("the provider's button led to %s, want the provider at %s", u, op.URL())
	}
	// 3. Signing in there brings her back to the app, signed in as the
	// user the rules made.
	b.step("sign in at the provider",
		chromedp.SendKeys(chromedp.CSS(op.LoginPageMarker()), "corp-0042"),
		chromedp.SendKeys(chromedp.CSS("#password"), testop.Password),
		chromedp.Submit(chromedp.CSS(op.LoginPageMarker())),
		chromedp.WaitVisible(chromedp.CSS("#signed-in-as")),
	)
	if u := b.location(); at(u) != web.URL()+"/callback" {
		t.Fatalf("after the provider's sign-in the browser is at %s, want the app's callback", u)
	}
	signIns := web.SignIns()
	if len(signIns) != 1 {
		t.Fatalf("the app completed %d sign-ins, want 1", len(signIns))
	}
	in := signIns[0]
	if in.Subject != "maria" {
		t.Errorf("the app signed in %q, want maria (the provider's preferred_username)", in.Subject)
	}
	_, claims := jwtParts(t, in.AccessToken)
	if claims["idp"] != "corp" || claims["user_type"] != directory.ClaimInternalUser || fmt.Sprint(claims["amr"]) != "[pwd]" {
		t.Errorf("access token idp=%v user_type=%v amr=%v, want corp, %s, [pwd]", claims["idp"], claims["user_type"], claims["amr"], directory.ClaimInternalUser)
	}
	// 4. The app calls an ERP API through the gateway as maria.
	r := g.call(t, http.MethodGet, g.PublicURL+"/api/domain/odata/federation_echo", in.AccessToken)
	echo, err := sampleapi.DecodeEcho(bytes.NewReader(r.Body))
	if r.Status != http.StatusOK || err != nil || echo.Auth.Subject != "maria" || echo.Auth.UserType != directory.ClaimInternalUser {
		t.Errorf("API call with the app's token: %s", r)
	}

	// 5. Signing out of the app (without id_token_hint, so erpgate asks
	// first) ends the session at the gateway, then at the provider, whose
	// own page asks too, and lands on the app's signed-out page.
	b.step("sign out of the app", chromedp.Navigate(web.URL()+"/logout"), chromedp.WaitVisible(chromedp.CSS(`#confirm`)))
	b.step("confirm at the gateway", chromedp.Click(chromedp.CSS(`#confirm`)))
	b.waitForLocation("the provider's sign-out page", func(u *url.URL) bool { return u.Host == mustHost(t, op.URL()) })
	b.step("confirm at the provider", chromedp.WaitVisible(chromedp.CSS(`button[name="logout"]`)), chromedp.Click(chromedp.CSS(`button[name="logout"]`)))
	b.waitForLocation("the app's signed-out page", func(u *url.URL) bool { return at(u) == web.URL()+"/signed-out" })
	if r := g.call(t, http.MethodGet, g.PublicURL+"/api/domain/odata/federation_echo", in.AccessToken); r.Status != http.StatusUnauthorized {
		t.Errorf("API call after sign-out: %s, want 401", r)
	}
	// 6. The next sign-in asks the provider's password again: her
	// session there ended too.
	b.step("sign in again", chromedp.Navigate(web.URL()+"/start"), chromedp.WaitVisible(chromedp.CSS("#provider-corp")),
		chromedp.Click(chromedp.CSS("#provider-corp")), chromedp.WaitVisible(chromedp.CSS(op.LoginPageMarker())))
}
