package e2e

import (
	"context"
	"encoding/json"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// publicURLLine is the config's public_url after deriveConfig.
var publicURLLine = regexp.MustCompile(`(?m)^public_url: http://127\.0\.0\.1:(\d+)`)

// TestPasskeyBrowser registers a passkey in real Chromium through the
// DevTools protocol's virtual authenticator (CTAP2, internal transport,
// resident keys, user verification), then uses it as the second factor
// after the password, then signs in with it alone, then removes it
// (issue 20). The gateway runs on http://localhost:PORT: a WebAuthn
// relying party id is a domain, never an IP address.
func TestPasskeyBrowser(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath(chromiumPath)
	requireDep(t, err == nil, "Chromium at "+chromiumPath+" (apt-get install chromium)")
	g := startGateway(t, gatewayOptions{Edit: passkeyConfig})
	pub := passkeyOrigin(g)
	page := pub + "/api/domain/html/x"

	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	ctx = newBrowser(t, ctx)
	b := newChromeTab(t, ctx, g)

	b.step("virtual authenticator", virtualAuthenticator())

	signOut := func() {
		t.Helper()
		b.step("sign out", chromedp.Navigate(pub+"/oauth2/sign_out"))
		b.waitForLocation("the landing page after sign-out", func(u *url.URL) bool { return u.Path == "/" })
	}
	userinfo := func(what string) map[string]any {
		t.Helper()
		b.step(what+": userinfo", chromedp.Navigate(pub+"/oauth2/userinfo"))
		text := b.read(what+": userinfo body", chromedp.Text(chromedp.CSS("body")))
		var ui map[string]any
		if err := json.Unmarshal([]byte(text), &ui); err != nil {
			b.fatalf("%s: userinfo %q: %v", what, text, err)
		}
		return ui
	}
	amr := func(ui map[string]any) []string {
		var out []string
		list, _ := ui["amr"].([]any)
		for _, m := range list {
			s, _ := m.(string)
			out = append(out, s)
		}
		return out
	}
	password := func(what string, then string) {
		t.Helper()
		b.step(what,
			chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#password")),
			chromedp.SendKeys(chromedp.CSS("#login"), aliceLogin),
			chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
			chromedp.Click(chromedp.CSS("#submit")),
			chromedp.WaitVisible(chromedp.CSS(then)),
		)
	}

	// 1. Password only (no factor yet), then register a passkey.
	password("password sign-in", "#subject")
	b.step("register a passkey",
		chromedp.Navigate(pub+"/id/account/security"),
		chromedp.WaitVisible(chromedp.CSS("#add-passkey")), // passkey.js shows it
		chromedp.SendKeys(chromedp.CSS("#passkey-name"), "Chromium key"),
		chromedp.Click(chromedp.CSS("#add-passkey")),
		chromedp.WaitVisible(chromedp.CSS("#passkeys")),
	)
	if list := b.read("passkey list", chromedp.Text(chromedp.CSS("#passkeys"))); !strings.Contains(list, "Chromium key") {
		t.Fatalf("the passkey list says %q", list)
	}
	// The section with a passkey listed, and below the second step that
	// offers it, pass the accessibility checks (e2e/a11y_test.go), at the
	// desktop viewport.
	vp := a11yViewports[len(a11yViewports)-1]
	b.step("desktop viewport", vp.emulate(), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#passkeys")))
	if problems := a11yCheckPage(b, a11yReadAxe(t), vp, nil).problems(vp); len(problems) > 0 {
		t.Errorf("the passkeys section at %s: %d accessibility problems\n%s", vp, len(problems), a11yReport(problems, true))
	}
	signOut()

	// 2. Password, then the passkey as the second factor.
	password("password before the second step", "#passkey-second")
	if problems := a11yCheckPage(b, a11yReadAxe(t), vp, nil).problems(vp); len(problems) > 0 {
		t.Errorf("the second step with a passkey at %s: %d accessibility problems\n%s", vp, len(problems), a11yReport(problems, true))
	}
	b.step("passkey as second factor", chromedp.Click(chromedp.CSS("#passkey-second")), chromedp.WaitVisible(chromedp.CSS("#subject")))
	ui := userinfo("second factor")
	if ui["acr"] != "mfa" || !slices.Equal(amr(ui), []string{"pwd", "hwk", "mfa"}) {
		t.Errorf("after the passkey second step: acr %v amr %v", ui["acr"], ui["amr"])
	}
	signOut()

	// 3. Passwordless: "Sign in with a passkey", no login typed.
	b.step("passwordless",
		chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#passkey-signin")),
		chromedp.Click(chromedp.CSS("#passkey-signin")),
		chromedp.WaitVisible(chromedp.CSS("#subject")),
	)
	if s := b.read("subject", chromedp.Text(chromedp.CSS("#subject"))); s != aliceLogin {
		t.Errorf("passwordless sign-in as %q, want alice", s)
	}
	ui = userinfo("passwordless")
	if ui["acr"] != "mfa" || !slices.Equal(amr(ui), []string{"hwk", "mfa"}) {
		t.Errorf("after the passwordless sign-in: acr %v amr %v", ui["acr"], ui["amr"])
	}

	// 4. Remove it; a passwordless sign-in with it then fails (the
	// authenticator still holds the credential, the gateway no more).
	b.step("remove the passkey",
		chromedp.Navigate(pub+"/id/account/security"), chromedp.WaitVisible(chromedp.CSS("#remove-passkey-0")),
		chromedp.Click(chromedp.CSS("#remove-passkey-0")),
		chromedp.WaitVisible(chromedp.CSS("#passkeys-none")),
	)
	signOut()
	b.step("passwordless after removal",
		chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#passkey-signin")),
		chromedp.Click(chromedp.CSS("#passkey-signin")),
		chromedp.WaitVisible(chromedp.CSS("#error")),
	)
	if e := b.read("error", chromedp.Text(chromedp.CSS("#error"))); !strings.Contains(e, "passkey was not accepted") {
		t.Errorf("passwordless after removal says %q", e)
	}
}

// passkeyConfig puts the derived config's public_url (and the gateway
// app's redirect URIs) on http://localhost:PORT: a WebAuthn relying
// party id is a domain, so an issuer on 127.0.0.1 offers no passkeys.
func passkeyConfig(cfg string) string {
	m := publicURLLine.FindStringSubmatch(cfg)
	if m == nil {
		panic("passkey_browser_test: the derived config has no public_url line")
	}
	return strings.ReplaceAll(cfg, "http://127.0.0.1:"+m[1], "http://localhost:"+m[1])
}

// passkeyOrigin is the public_url of a gateway started with passkeyConfig.
func passkeyOrigin(g *Gateway) string {
	return strings.Replace(g.PublicURL, "127.0.0.1", "localhost", 1)
}

// virtualAuthenticator enables the DevTools WebAuthn domain on the tab
// and adds a platform authenticator (CTAP2, internal transport) with
// resident keys and user verification that succeeds.
func virtualAuthenticator() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
				HasResidentKey: true, HasUserVerification: true, IsUserVerified: true,
				// Without it a presence test waits for a touch forever.
				AutomaticPresenceSimulation: true,
			}})
		return err
	})
}

// navigatePath goes to path on the page's own origin (for steps that do
// not know the gateway's address).
func navigatePath(path string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(() => { location.assign(`+strconv.Quote(path)+`); return true })()`)(ctx, t)
		return err
	})
}
