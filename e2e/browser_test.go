package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// Bounds of the browser test: the whole flow, and each step in it.
const (
	browserTestTimeout = 2 * time.Minute
	browserStepTimeout = 30 * time.Second
)

// TestBrowserLogin signs in through the gateway in a real headless
// Chromium, the way a person would (SPEC §4 "Browser login"): a protected
// HTML page sends the browser to the login page; a wrong password is
// refused in words; the right one lands on the page, which shows who is
// signed in; signing out ends the session, so the page asks for the
// password again.
func TestBrowserLogin(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath(chromiumPath)
	requireDep(t, err == nil, "Chromium at "+chromiumPath+" (apt-get install chromium)")
	g := startGateway(t, gatewayOptions{})
	page := g.PublicURL + "/api/domain/html/x"

	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	ctx = newBrowser(t, ctx)

	b := newChromeTab(t, ctx, g)

	// 1. The protected page sends the browser to the issuer's login page.
	b.step("open the protected page", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#login")))
	if u := b.location(); u.Path != "/id/account/login" && u.Path != "/id/connect/authorize" {
		t.Errorf("login page at %s, want the issuer's login page", u)
	}

	// 2. A wrong password is refused with an error on the page.
	b.step("wrong password",
		chromedp.SendKeys(chromedp.CSS("#login"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), "not-alices-password"),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.CSS("#error")),
	)
	errText := b.read("error text", chromedp.Text(chromedp.CSS("#error")))
	if strings.TrimSpace(errText) == "" {
		t.Error("the error element is empty after a wrong password")
	}

	// 3. The right password lands on the page, signed in as alice.
	b.step("right password",
		clearInputs("login", "password"),
		chromedp.SendKeys(chromedp.CSS("#login"), aliceLogin),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.CSS("#subject")),
	)
	subject := b.read("subject", chromedp.Text(chromedp.CSS("#subject")))
	if subject != aliceLogin {
		t.Errorf("the page shows subject %q, want alice", subject)
	}
	if u := b.location(); u.String() != page {
		t.Errorf("after login the browser is at %s, want %s", u, page)
	}
	// Another protected page needs no new login.
	b.step("second page", chromedp.Navigate(g.PublicURL+"/api/domain/html/y"), chromedp.WaitVisible(chromedp.CSS("#subject")))

	// 4. Sign out: the issuer ends the session and sends the browser to
	// public_url + "/".
	b.step("sign out", chromedp.Navigate(g.PublicURL+"/oauth2/sign_out"))
	b.waitForLocation("the landing page after sign-out", func(u *url.URL) bool { return u.Path == "/" })

	// 5. The protected page asks for the password again.
	b.step("protected page after sign-out", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#password")))
	n := readAs(b, "count #subject", chromedp.Evaluate[int](`document.querySelectorAll("#subject").length`))
	if n != 0 {
		t.Error("the protected page is shown after sign-out")
	}
}

// clearInputs empties the text inputs with these ids.
func clearInputs(ids ...string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, id := range ids {
			js := `(() => { const e = document.getElementById(` + strconv.Quote(id) + `); e.value = ""; return e.value === "" })()`
			ok, err := chromedp.Evaluate[bool](js)(ctx, t)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("could not clear #%s", id)
			}
		}
		return nil
	})
}

// newBrowser starts a headless Chromium with a fresh profile for the
// test; it is stopped when the test ends.
func newBrowser(t *testing.T, ctx context.Context, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	opts = append(opts, extra...) // e.g. --accept-lang
	if os.Getenv("ERPGATE_E2E_BROWSER_LOG") != "" {
		opts = append(opts, chromedp.CombinedOutput(os.Stderr))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx) // logs to the standard logger: t.Logf may not be called after the test
	t.Cleanup(func() {
		_ = chromedp.Cancel(bctx) // closes the browser and waits for it
		cancelBrowser()
		cancelAlloc()
	})
	// Start it now, so a browser that cannot start fails here. (Not with
	// a step timeout: the first run's context is the browser's lifetime,
	// which ctx bounds.)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return bctx
}
