package e2e

import (
	"context"
	"net/url"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestForwardAuthChromium: a person on a phone signs in through each
// real edge in headless Chromium. The edge turns the gateway's answer to
// its auth subrequest into the login redirect (nginx from a 401 with
// Location, Caddy by relaying the 302); the login page fits the phone;
// the right password lands back on the page asked for, its query kept,
// with the API seeing the person; signing out through the edge ends the
// session, so the page asks for the password again.
func TestForwardAuthChromium(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath(chromiumPath)
	requireDep(t, err == nil, "Chromium at "+chromiumPath+" (apt-get install chromium)")
	for _, k := range edgeKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			w := startEdge(t, k, nil)
			page := w.edge + "/api/domain/html/x?tab=1"
			ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
			defer cancel()
			b := newChromeTab(t, newBrowser(t, ctx), w.g)
			b.step("phone screen", phoneScreen.emulate())

			b.step("open the page through the edge", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#login")))
			if u := b.location(); u.Host != mustHost(t, w.edge) || u.Path != "/id/account/login" && u.Path != "/id/connect/authorize" {
				t.Errorf("login page at %s, want the issuer's login page on the edge %s", u, w.edge)
			}
			fit := readAs(b, "login page layout", chromedp.Evaluate[phoneFit](`({innerWidth: window.innerWidth,
  scrollWidth: document.documentElement.scrollWidth, found: !!document.querySelector("#submit")})`))
			if fit.InnerWidth != int(phoneScreen.width) || fit.ScrollWidth > fit.InnerWidth || !fit.Found {
				t.Errorf("login page on the phone: %+v, want %dpx wide, no sideways scroll, a submit button", fit, phoneScreen.width)
			}

			b.step("sign in",
				chromedp.SendKeys(chromedp.CSS("#login"), aliceLogin),
				chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
				chromedp.Click(chromedp.CSS("#submit")),
				chromedp.WaitVisible(chromedp.CSS("#subject")),
			)
			if s := b.read("subject", chromedp.Text(chromedp.CSS("#subject"))); s != aliceLogin {
				t.Errorf("the API saw subject %q through %s, want %s", s, k.name, aliceLogin)
			}
			if u := b.location(); u.String() != page {
				t.Errorf("after sign-in at %s, want %s", u, page)
			}

			b.step("sign out through the edge", chromedp.Navigate(w.edge+"/oauth2/sign_out"))
			b.waitForLocation("the landing after sign-out", func(u *url.URL) bool { return u.Path == "/" })
			b.step("the page after sign-out", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#password")))
		})
	}
}

// mustHost is the host:port of a URL.
func mustHost(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}
