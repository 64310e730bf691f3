package e2e

import (
	"context"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/erpgate/erpgate/mfa"
)

// TestMFABrowser sets up an authenticator app on the account page and
// signs in with it, in a real headless Chromium against the built
// binary (issue 20): the secret is read off the page as a person would
// type it into an app, and the codes are computed here with RFC 6238.
func TestMFABrowser(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath(chromiumPath)
	requireDep(t, err == nil, "Chromium at "+chromiumPath+" (apt-get install chromium)")
	g := startGateway(t, gatewayOptions{})
	page := g.PublicURL + "/api/domain/html/x"

	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	ctx = newBrowser(t, ctx)
	b := newChromeTab(t, ctx, g)

	signIn := chromedp.Steps(
		chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#login"), aliceLogin),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Click(chromedp.CSS("#submit")),
	)
	// 1. A password alone signs in while alice has no second factor.
	b.step("sign in with the password", signIn, chromedp.WaitVisible(chromedp.CSS("#subject")))

	// 2. The account page enrols an authenticator app.
	b.step("open two-step sign-in", chromedp.Navigate(g.Issuer()+"/account/security"),
		chromedp.WaitVisible(chromedp.CSS("#enrol-totp")), chromedp.Click(chromedp.CSS("#enrol-totp")),
		chromedp.WaitVisible(chromedp.CSS("#qr svg")))
	secret := strings.ReplaceAll(b.read("the secret", chromedp.Text(chromedp.CSS("#secret"))), " ", "")
	enrolled := time.Now()
	code, err := mfa.Code(secret, enrolled)
	if err != nil {
		t.Fatalf("the page's secret %q: %v", secret, err)
	}
	b.step("confirm the first code", chromedp.SendKeys(chromedp.CSS("#code"), code),
		chromedp.Click(chromedp.CSS("#confirm-totp")), chromedp.WaitVisible(chromedp.CSS("#recovery-codes")))
	if codes := strings.Fields(b.read("recovery codes", chromedp.Text(chromedp.CSS("#recovery-codes")))); len(codes) != mfa.RecoveryCodes {
		t.Errorf("%d recovery codes shown", len(codes))
	}
	if u := b.location(); strings.Contains(u.String(), secret) || strings.Contains(u.String(), code) {
		t.Errorf("a secret is in the URL %s", u)
	}

	// 3. Signed out, the password leads to the second step; the next
	// step's code (inside the ±1 window, after the one the enrolment
	// used) signs in.
	b.step("sign out", chromedp.Navigate(g.PublicURL+"/oauth2/sign_out"))
	b.waitForLocation("the landing page after sign-out", func(u *url.URL) bool { return u.Path == "/" })
	b.step("password, then the second step", signIn, chromedp.WaitVisible(chromedp.CSS("#code")))
	if u := b.location(); u.Path != "/id/account/mfa" {
		t.Errorf("second step at %s", u)
	}
	next, _ := mfa.Code(secret, enrolled.Add(mfa.Period))
	b.step("the app's code", chromedp.SendKeys(chromedp.CSS("#code"), next),
		chromedp.Click(chromedp.CSS("#submit")), chromedp.WaitVisible(chromedp.CSS("#subject")))
	if subject := b.read("subject", chromedp.Text(chromedp.CSS("#subject"))); subject != aliceLogin {
		t.Errorf("signed in as %q", subject)
	}
	if m := g.metrics(t); !strings.Contains(m, `erpgate_mfa_total{factor="totp",result="success"} 2`) ||
		!strings.Contains(m, "erpgate_mfa_enrolments_total 1") {
		t.Errorf("mfa metrics:\n%s", grepLines(m, "erpgate_mfa"))
	}
}
