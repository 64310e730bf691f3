package e2e

import (
	"context"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/erpgate/erpgate/mfa"
)

// TestStepUpMFABrowser is RFC 9470 end to end in Chromium against the
// built binary (issue 20): a third-party app (on another origin) holds
// alice's password-only token; a route that requires a second factor
// (require_auth: {acr: mfa}) refuses it with the challenge; the app asks
// again with the challenge's acr_values; the identity server keeps her
// sign-in but asks for a second factor — she has none, so it has her
// enrol an authenticator app on the way — and the new token passes the
// same call. The ERP session (sid) is the same before and after.
func TestStepUpMFABrowser(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath(chromiumPath)
	requireDep(t, err == nil, "Chromium at "+chromiumPath+" (apt-get install chromium)")
	web := startWebRP(t)
	g := startGateway(t, gatewayOptions{Edit: func(cfg string) string {
		cfg = withApps(t, web.appYAML())(cfg)
		up := regexp.MustCompile(`(?m)^    upstream: (\S+)`).FindStringSubmatch(cfg)[1]
		return regexp.MustCompile(`(?m)^routes:.*\n`).ReplaceAllLiteralString(cfg, `routes:
  - name: payroll
    match: {path_prefix: /api/domain/odata/Payroll/}
    upstream: `+up+`
    audience: DomainAPI
    scopes: [read]
    require_auth: {acr: mfa}
`)
	}})
	web.connect(t, g)
	api := g.PublicURL + "/api/domain/odata/Payroll/Slips"

	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	ctx = newBrowser(t, ctx)
	b := newChromeTab(t, ctx, g)

	// 1. A password sign-in: the token says acr pwd, and the route asks
	// for more (RFC 9470 §3).
	b.step("the app's sign-in", chromedp.Navigate(web.URL()+"/start"), chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#login"), aliceLogin),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.CSS("#signed-in-as")))
	first := web.SignIns()[0]
	if _, c := jwtParts(t, first.AccessToken); c["acr"] != "pwd" {
		t.Fatalf("password sign-in: acr %v, want pwd", c["acr"])
	}
	resp := g.call(t, http.MethodGet, api, first.AccessToken)
	challenge := resp.Header.Get("WWW-Authenticate")
	m := regexp.MustCompile(`acr_values="([^"]+)"`).FindStringSubmatch(challenge)
	if resp.Status != http.StatusUnauthorized || !strings.Contains(challenge, `error="insufficient_user_authentication"`) || m == nil {
		t.Fatalf("password-only token at the mfa route: %s, WWW-Authenticate %q", resp, challenge)
	}

	// 2. RFC 9470 §4: the app asks again with acr_values. Alice is still
	// signed in, so no password: the second step, where she enrols.
	b.step("the app asks for acr_values="+m[1], chromedp.Navigate(web.URL()+"/start?"+url.Values{"acr_values": {m[1]}}.Encode()),
		chromedp.WaitVisible(chromedp.CSS("#secret")))
	if u := b.location(); u.Path != "/id/account/mfa" {
		t.Errorf("step-up at %s, want the second step", u)
	}
	secret := strings.ReplaceAll(b.read("the secret", chromedp.Text(chromedp.CSS("#secret"))), " ", "")
	code, err := mfa.Code(secret, time.Now())
	if err != nil {
		t.Fatalf("the page's secret %q: %v", secret, err)
	}
	b.step("confirm the authenticator's code", chromedp.SendKeys(chromedp.CSS("#code"), code),
		chromedp.Click(chromedp.CSS("#submit")), chromedp.WaitVisible(chromedp.CSS("#recovery-codes")))
	b.step("continue to the app", chromedp.Click(chromedp.CSS("#next")), chromedp.WaitVisible(chromedp.CSS("#signed-in-as")))

	// 3. The new token is of a two-factor sign-in, under the same
	// session, and the same call passes.
	ins := web.SignIns()
	if len(ins) != 2 {
		t.Fatalf("the app completed %d sign-ins, want 2", len(ins))
	}
	_, c := jwtParts(t, ins[1].AccessToken)
	if c["acr"] != "mfa" || !strings.Contains(strings.Join(anyStrings(c["amr"]), " "), "otp") {
		t.Errorf("after the step-up: acr %v amr %v, want mfa with otp", c["acr"], c["amr"])
	}
	if ins[1].SID != first.SID {
		t.Errorf("the step-up changed the session: sid %s, was %s", ins[1].SID, first.SID)
	}
	if resp := g.call(t, http.MethodGet, api, ins[1].AccessToken); resp.Status != http.StatusOK {
		t.Errorf("the same call after the step-up: %s", resp)
	}
}

// anyStrings is a JSON array of strings as []string.
func anyStrings(v any) []string {
	var out []string
	if a, ok := v.([]any); ok {
		for _, e := range a {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
