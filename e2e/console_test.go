package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The admin console (issue 18) in Chromium, on the built binary: served
// on the admin listener, signed in through the identity server on
// public_url — another site (localhost against 127.0.0.1), as a console
// on an internal admin host is — and each job done as an operator would.

const (
	adminLogin    = "admin"
	adminPassword = "admin-demo-password"
	// issuerResetPath is the reset page under the issuer.
	issuerResetPath = "/account/reset"
)

// console is a gateway with the console on http://localhost:<admin
// port>, and a browser.
type console struct {
	t   *testing.T
	g   *Gateway
	url string // the console's origin
	b   *chromeTab
}

var adminListenLine = regexp.MustCompile(`(?m)^admin_listen: 127\.0\.0\.1:(\d+)`)

func startConsole(t *testing.T) *console { return startConsoleWith(t, nil) }

// startConsoleWith is startConsole with the config edited first.
func startConsoleWith(t *testing.T, edit func(string) string) *console {
	t.Helper()
	_, err := exec.LookPath(chromiumPath)
	requireDep(t, err == nil, "Chromium at "+chromiumPath+" (apt-get install chromium)")
	var origin string
	g := startGateway(t, gatewayOptions{Edit: func(cfg string) string {
		if edit != nil {
			cfg = edit(cfg)
		}
		m := adminListenLine.FindStringSubmatch(cfg)
		if m == nil || !strings.Contains(cfg, "admin_ui: {enabled: true}") {
			t.Fatal("config.example.yaml has no admin_listen or admin_ui line; update e2e/console_test.go")
		}
		origin = "http://localhost:" + m[1]
		return strings.Replace(cfg, "admin_ui: {enabled: true}", "admin_ui: {enabled: true, url: "+strconv.Quote(origin)+"}", 1)
	}})
	ctx, cancel := context.WithTimeout(t.Context(), 3*browserTestTimeout)
	t.Cleanup(cancel)
	ctx = newBrowser(t, ctx)
	return &console{t: t, g: g, url: origin, b: newChromeTab(t, ctx, g)}
}

// signIn opens the console, is sent to the identity server's login
// page, and signs in as login; the browser comes back to the console.
func (c *console) signIn(b *chromeTab, login, password string) {
	c.t.Helper()
	b.step("open the console", chromedp.Navigate(c.url+"/admin/ui/"), chromedp.WaitVisible(chromedp.CSS("#password")))
	if u := b.location(); at(u) != c.g.Issuer()+"/account/login" {
		b.fatalf("the console sent the browser to %s, want the login page", u)
	}
	b.step("sign in as "+login,
		chromedp.SendKeys(chromedp.CSS("#login"), login),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#submit")),
	)
	b.waitForLocation("back on the console", func(u *url.URL) bool { return u.Scheme+"://"+u.Host == c.url })
}

// open shows a console page and waits for sel.
func (c *console) open(path, sel string) {
	c.t.Helper()
	c.b.step("open "+path, chromedp.Navigate(c.url+"/admin/ui"+path), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// submit clicks sel and waits for want on the answer.
func (c *console) submit(what, sel, want string) {
	c.t.Helper()
	c.b.step(what, chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS(want)))
}

func (c *console) text(sel string) string {
	c.t.Helper()
	return strings.TrimSpace(c.b.read("read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// proxied is the status of a proxied call with token.
func (c *console) proxied(token string) int {
	c.t.Helper()
	return c.g.call(c.t, http.MethodGet, c.g.PublicURL+personsPath, token).Status
}

// refusedWithin polls a proxied call with token until it is 401, and
// fails when that takes longer than limit.
func (c *console) refusedWithin(what, token string, limit time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	for {
		if s := c.proxied(token); s == http.StatusUnauthorized {
			return time.Since(start)
		} else if time.Since(start) > limit {
			c.t.Fatalf("%s: the token still gets %d after %s, want 401 within %s", what, s, time.Since(start), limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConsoleJobs: an administrator signs in to the console through the
// identity server on another site, creates an app (its secret shown
// once), whose client-credentials token then reaches the API; edits its
// scopes and reference-token policy; issues it a service access token
// (shown once), which reaches the API until it is revoked; disables it
// in the console, and the same token is refused at the proxy within 1 s; ends a session, whose token is then refused; creates a user, who
// signs in and, not being an administrator, is told so by the console;
// issues the user a reset link, with which the user sets a new password
// and signs in with it.
func TestConsoleJobs(t *testing.T) {
	t.Parallel()
	c := startConsole(t)
	c.signIn(c.b, adminLogin, adminPassword)
	c.open("/", "#license-used")
	if got := c.text("#license-limit"); got != "10" {
		t.Errorf("license limit %q, want 10 (config.example.yaml)", got)
	}

	// An app, its secret shown once.
	const app = "com.example/console-made"
	c.open("/apps/new", "#app-uri")
	c.b.step("fill the new app",
		chromedp.SendKeys(chromedp.CSS("#app-uri"), app),
		chromedp.SendKeys(chromedp.CSS("#app-name"), "Made in the console"),
		chromedp.SendKeys(chromedp.CSS("#app-system-user"), systemUser),
	)
	c.submit("create the app", "#save", "#secret-value")
	secret := c.text("#secret-value")
	if len(secret) < 20 {
		t.Fatalf("secret %q", secret)
	}
	token := c.g.token(t, app, secret)
	if s := c.proxied(token); s != http.StatusOK {
		t.Fatalf("the new app's token at the proxy: %d, want 200", s)
	}
	c.open("/apps", "#apps")
	if html := c.b.read("apps page", chromedp.OuterHTML(chromedp.CSS("main"))); strings.Contains(html, secret) {
		t.Error("the apps page shows the secret again")
	}

	// Edit it: allow scope update too; a token may then ask for it.
	c.open("/apps/edit?uri="+url.QueryEscape(app), "#app-form")
	c.b.step("allow update and reference tokens", chromedp.Click(chromedp.CSS("#scope-update")),
		chromedp.SetValue(chromedp.CSS("#app-reftokens"), "administrators_only"))
	c.submit("save the app", "#save", "#message")
	if resp, tr := c.g.requestToken(t, app, secret, secretPost, "scope", "update"); resp.Status != http.StatusOK || !strings.Contains(tr.Scope, "update") {
		t.Fatalf("a token with scope update after the edit: %s", resp)
	}

	// A service access token for it: its value shown once, then revoked.
	c.open("/tokens", "#issue-token")
	c.b.step("fill the token", chromedp.SendKeys(chromedp.CSS("#token-app"), app), chromedp.SendKeys(chromedp.CSS("#token-name"), "console e2e"))
	c.submit("issue the token", "#issue", "#new-token-value")
	sat := c.text("#new-token-value")
	if s := c.g.call(t, http.MethodGet, c.g.PublicURL+personsPath, "", "X-Api-Key", sat).Status; s != http.StatusOK {
		t.Fatalf("the issued reference token at the proxy: %d, want 200", s)
	}
	c.open("/tokens?app="+url.QueryEscape(app), "#tokens")
	c.submit("revoke the token", `#tokens button[id^="revoke-"]`, "#message")
	if s := c.g.call(t, http.MethodGet, c.g.PublicURL+personsPath, "", "X-Api-Key", sat).Status; s != http.StatusUnauthorized {
		t.Fatalf("the revoked reference token at the proxy: %d, want 401", s)
	}

	// The kill switch: the token is refused at the proxy within 1 s.
	c.open("/apps", "#apps")
	c.submit("disable the app", `tr[data-uri="`+app+`"] button[id^="disable-"]`, "#message")
	took := c.refusedWithin("disabled app", token, time.Second)
	t.Logf("measured: the disabled app's token refused %s after the console answered", took)

	// End a session: the service session of the demo's sync app.
	syncToken := c.g.token(t, syncClient, syncSecret)
	if s := c.proxied(syncToken); s != http.StatusOK {
		t.Fatalf("sync app at the proxy: %d", s)
	}
	c.open("/sessions?app="+url.QueryEscape(syncClient), "#sessions")
	c.submit("end the sync app's session", `#sessions button[id^="end-"]`, "#message")
	c.refusedWithin("ended session", syncToken, time.Second)

	// A user made in the console signs in; not an administrator, the
	// console says so.
	const (
		login    = "carol"
		password = "carol-console-pass-1"
		newPass  = "carol-reset-pass-22"
	)
	c.open("/users/new", "#user-login")
	c.b.step("fill the new user",
		chromedp.SendKeys(chromedp.CSS("#user-login"), login),
		chromedp.SendKeys(chromedp.CSS("#user-name"), "Carol Console"),
		chromedp.SendKeys(chromedp.CSS("#user-password"), password),
	)
	c.submit("create the user", "#save", "#user-"+login)

	carolCtx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	carol := newChromeTab(t, newBrowser(t, carolCtx), c.g)
	c.signIn(carol, login, password)
	carol.step("not an administrator", chromedp.WaitVisible(chromedp.CSS("#error")), chromedp.WaitVisible(chromedp.CSS("#signout")))
	if got := strings.TrimSpace(carol.read("refusal", chromedp.Text(chromedp.CSS("#error")))); !strings.Contains(got, "not an administrator") {
		t.Errorf("carol on the console reads %q, want that she is not an administrator", got)
	}

	// A reset link: shown once in the console, used once by the user.
	c.open("/users/edit?login="+login, "#reset")
	c.submit("issue a reset link", "#reset", "#reset-link-value")
	link := c.text("#reset-link-value")
	if !strings.HasPrefix(link, c.g.Issuer()+"/") {
		t.Fatalf("reset link %q, want one on the identity server %s", link, c.g.Issuer())
	}
	carol.step("open the reset link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#new-password")))
	carol.step("set a new password",
		chromedp.SendKeys(chromedp.CSS("#new-password"), newPass),
		chromedp.SendKeys(chromedp.CSS("#new-password-again"), newPass),
		chromedp.Click(chromedp.CSS("#reset-password")),
		chromedp.WaitVisible(chromedp.CSS("#message")),
	)
	if u := carol.location(); at(u) != c.g.Issuer()+issuerResetPath {
		t.Fatalf("the reset form posted to %s, want %s%s", u, c.g.Issuer(), issuerResetPath)
	}
	carol.step("sign in with the new password",
		chromedp.Navigate(c.g.Issuer()+"/account"), chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#login"), login),
		chromedp.SendKeys(chromedp.CSS("#password"), newPass),
		chromedp.Click(chromedp.CSS("#submit")),
	)
	carol.waitForLocation("carol's account page", func(u *url.URL) bool { return at(u) == c.g.Issuer()+"/account" })

	// The console's own actions are on its events page, with the admin's
	// login; the secret and the link are not.
	c.open("/events", "#events")
	events := c.text("#events")
	for _, want := range []string{"app.created", "app.disabled", "session.ended", "user.created", "user.reset_link_issued"} {
		if !strings.Contains(events, want) {
			t.Errorf("the events page lacks %s", want)
		}
	}
	if strings.Contains(events, secret) || strings.Contains(events, link) {
		t.Error("the events page shows a secret")
	}
	for _, e := range auditEvents(t, c.g.Stdout()+c.g.Stderr()) {
		if e.Event == "admin.change" && e.Subject != adminLogin {
			t.Errorf("admin.change by %q, want %s: %+v", e.Subject, adminLogin, e)
		}
	}

	// Sign-out clears the console and ends the identity session: the
	// console asks for the password again.
	c.b.step("sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	c.b.step("confirm sign-out", chromedp.Click(chromedp.CSS("#confirm")))
	c.b.waitForLocation("the signed-out page", func(u *url.URL) bool { return at(u) == c.url+"/admin/ui/signed-out" })
	c.b.step("the console after sign-out", chromedp.Navigate(c.url+"/admin/ui/apps"), chromedp.WaitVisible(chromedp.CSS("#password")))
}

// TestConsoleRefusesForgedForm: a form posted to the console with the
// administrator's cookie but without the page's anti-forgery token (as
// another site's form would be) does nothing.
func TestConsoleRefusesForgedForm(t *testing.T) {
	t.Parallel()
	c := startConsole(t)
	c.signIn(c.b, adminLogin, adminPassword)
	c.open("/apps", "#apps")
	const forged = "com.example/forged"
	js := fmt.Sprintf(`(() => { const f = document.createElement("form"); f.method = "post"; f.action = %q;
		for (const [k, v] of [["uri", %q], ["type", "public"], ["scope", "read"], ["csrf_token", "forged"]]) {
			const i = document.createElement("input"); i.type = "hidden"; i.name = k; i.value = v; f.appendChild(i) }
		document.body.appendChild(f); f.submit() })()`, c.url+"/admin/ui/apps/new", forged)
	c.b.step("post a forged form", chromedp.Evaluate[chromedp.Void](js), chromedp.WaitVisible(chromedp.CSS("#error")))
	c.open("/apps", "#apps")
	if html := c.b.read("apps page", chromedp.OuterHTML(chromedp.CSS("#apps"))); strings.Contains(html, forged) {
		t.Error("a forged form created an app")
	}
}

// TestConsoleSilentSignIn: when the console's access token expires
// (tokens.access_token_ttl, plus the verifier's clock leeway), the next
// page signs in again through the identity session, with no login form:
// the administrator just sees the page.
func TestConsoleSilentSignIn(t *testing.T) {
	t.Parallel()
	c := startConsoleWith(t, func(cfg string) string {
		return strings.Replace(cfg, "access_token_ttl: 1h", "access_token_ttl: 1s", 1)
	})
	c.signIn(c.b, adminLogin, adminPassword)
	c.open("/sessions", "#filter")
	time.Sleep(consoleTokenExpiry)
	c.open("/apps", "#apps")
	if u := c.b.location(); at(u) != c.url+"/admin/ui/apps" {
		t.Errorf("after the token expired the browser is at %s, want the apps page", u)
	}
	var issued int
	for _, e := range auditEvents(t, c.g.Stdout()+c.g.Stderr()) {
		if e.Event == "token.issued" && e.ClientID == "erpgate/admin-console" {
			issued++
		}
	}
	if issued != 2 {
		t.Errorf("the console got %d tokens, want 2: the sign-in and the silent one after expiry", issued)
	}
}

// consoleTokenExpiry outlasts a 1s access token and the 30s leeway the
// gateway's verifier allows for clock skew.
const consoleTokenExpiry = 32 * time.Second
