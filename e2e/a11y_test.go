package e2e

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The accessibility and phone checks of every page a person sees, in a
// real headless Chromium:
//
//   - axe-core (e2e/testdata/js, from npm) finds no WCAG 2.1 A or AA
//     violation;
//   - the page does not scroll sideways (scrollWidth within the viewport)
//     and, on a phone, lays out at the phone's width;
//   - every control (input, button, select, link) is rendered, not
//     zero-sized, inside the viewport horizontally and not covered;
//   - a form error is tied to its fields: aria-invalid="true" and
//     aria-describedby naming the visible error text (WCAG 3.3.1, 1.3.1);
//   - the border of every text field has 3:1 contrast against the colour
//     behind it (WCAG 1.4.11 Non-text Contrast).
//
// Each page is one row of a11yPages; each row runs at every viewport of
// a11yViewports, in a fresh browser context (no cookies from other rows).

// a11yTags are the axe-core rule tags checked: WCAG 2.0 and 2.1, levels A
// and AA.
var a11yTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

// axePath is axe-core as npm installs it from e2e/testdata/js/package-lock.json.
const axePath = "testdata/js/node_modules/axe-core/axe.min.js"

// pageChecksJS measures the layout, the controls, the field borders and
// the error ties (see the file).
//
//go:embed testdata/js/page_checks.js
var pageChecksJS string

// a11yTestTimeout bounds TestAccessibility: a few seconds per page and
// viewport, and a gateway per row that needs its own config.
const a11yTestTimeout = 5 * time.Minute

// a11yViewport is a screen the pages are checked on.
type a11yViewport struct {
	name          string
	width, height int64
	scale         float64
	mobile        bool // a phone: mobile layout viewport, touch
}

var a11yViewports = []a11yViewport{
	{name: "phone", width: 390, height: 844, scale: 3, mobile: true},
	{name: "desktop", width: 1280, height: 800, scale: 1},
}

func (vp a11yViewport) String() string {
	return fmt.Sprintf("%s %dx%d", vp.name, vp.width, vp.height)
}

// emulate makes the tab that screen; it is set before the page loads.
func (vp a11yViewport) emulate() chromedp.Action[chromedp.Void] {
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(vp.scale)}
	if vp.mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	} else {
		opts = append(opts, chromedp.EmulateLandscape)
	}
	return chromedp.EmulateViewport(vp.width, vp.height, opts...)
}

// a11yEnv is what a row reaches its page with.
type a11yEnv struct {
	g *Gateway
	// crossSite returns a page on another site (http://localhost:…, the
	// gateway is http://127.0.0.1:…) whose link #go leads to target: a
	// click on it is a cross-site navigation (Sec-Fetch-Site: cross-site).
	crossSite func(target string) string
}

// a11yPage is one page a person sees, and how to reach it.
type a11yPage struct {
	name string
	// config edits the gateway's config for this row, which then gets a
	// gateway of its own; rows without one share a demo gateway.
	config func(config string) string
	// signedIn signs alice in (through the tokens page) first.
	signedIn bool
	// url is where the browser goes.
	url func(e a11yEnv) string
	// then runs on that page to reach the state that is checked: fill in
	// a form and submit it, follow a link.
	then []chromedp.Action[chromedp.Void]
	// want is a CSS selector of an element that must be visible on the
	// page reached; text, if set, a regexp its visible text must match.
	// The checks run once both hold.
	want string
	text string
	// errorFields are the ids of the fields the page's form error must be
	// tied to; empty on a page that shows no form error.
	errorFields []string
}

// pendingPages are rows of a11yPages whose page is not built yet; they are
// skipped with the reason. Delete a name when its page lands.
var pendingPages = map[string]string{}

// a11yPages are the pages checked. Adding a page is adding a row.
func a11yPages() []a11yPage {
	return []a11yPage{
		{
			name: "login",
			url:  func(e a11yEnv) string { return a11yAuthorizeURL(e.g, spaClient) },
			want: "#login",
		},
		{
			name:        "login, wrong password",
			url:         func(e a11yEnv) string { return a11yAuthorizeURL(e.g, spaClient) },
			then:        []chromedp.Action[chromedp.Void]{a11yFillLogin(aliceLogin, "not-alices-password")},
			want:        "#error",
			errorFields: []string{"login", "password"},
		},
		{
			// Issue 19: the app offers identity providers; the page shows
			// a button per provider beside the password form.
			name:   "login, with identity providers",
			config: a11yProviders,
			url:    func(e a11yEnv) string { return a11yAuthorizeURL(e.g, spaClient) },
			want:   "#provider-corp",
		},
		{
			// The provider cannot be reached (nothing listens at its
			// issuer): a page says so and leads back to the choice.
			name:   "sign-in, identity provider unavailable",
			config: a11yProviders,
			url:    func(e a11yEnv) string { return a11yAuthorizeURL(e.g, spaClient) },
			then:   []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS("#provider-corp")), chromedp.Click(chromedp.CSS("#provider-corp"))},
			want:   "#next",
			text:   `Corp SSO`,
		},
		{
			name: "authorization error, unknown client",
			url:  func(e a11yEnv) string { return a11yAuthorizeURL(e.g, "com.example/no-such-app") },
			want: "#error",
		},
		{
			name:     "end-session confirmation",
			signedIn: true,
			url:      func(e a11yEnv) string { return e.g.Issuer() + "/connect/endsession" },
			want:     "#confirm",
		},
		{
			name:     "signed out",
			signedIn: true,
			url:      func(e a11yEnv) string { return e.g.Issuer() + "/connect/endsession" },
			then:     []chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.CSS("#confirm"))},
			want:     "#message",
			text:     `(?i)signed out`,
		},
		{
			name:     "tokens",
			signedIn: true,
			url:      func(e a11yEnv) string { return e.g.PublicURL + tokensPagePath },
			want:     "#create-token",
		},
		{
			name:     "tokens, new token",
			signedIn: true,
			url:      func(e a11yEnv) string { return e.g.PublicURL + tokensPagePath },
			then: []chromedp.Action[chromedp.Void]{
				chromedp.SetValue(chromedp.CSS("#app"), gatewayApp),
				chromedp.SendKeys(chromedp.CSS("#token-name"), "a11y"), // read is preselected
				chromedp.Click(chromedp.CSS("#create")),
			},
			want: "#new-token-value",
		},
		{
			name: "gateway, protected page sends to login",
			url:  func(e a11yEnv) string { return e.g.PublicURL + "/api/domain/html/x" },
			want: "#login",
		},
		{
			// A same-site GET signs out at once; a cross-site one is asked
			// to confirm (browserlogin/signout.go).
			name: "gateway, sign-out confirmation",
			url:  func(e a11yEnv) string { return e.crossSite(e.g.PublicURL + "/oauth2/sign_out") },
			then: []chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.CSS("#go"))},
			want: `form[action="/oauth2/sign_out"] button`,
		},
		{
			name: "gateway, sign-in expired",
			url:  func(e a11yEnv) string { return e.g.PublicURL + "/oauth2/callback?code=x&state=not-this-browsers" },
			want: "#error",
		},
		{
			// Chromium navigations send Accept: text/html.
			name: "gateway, not found",
			url:  func(e a11yEnv) string { return e.g.PublicURL + "/no/route/matches/this" },
			want: "body",
			text: `(?i)not[ _]found|no route`,
		},
		{
			// license.reserved keeps admin's seat, so one slot leaves none
			// for alice: her first call through the gateway is refused.
			name:   "gateway, all licenses in use",
			config: func(c string) string { return a11yReplace(c, "  slots: 10\n", "  slots: 1\n") },
			url:    func(e a11yEnv) string { return e.g.PublicURL + "/api/domain/html/x" },
			then:   []chromedp.Action[chromedp.Void]{a11yFillLogin(aliceLogin, alicePassword)},
			want:   "h1",
			text:   `(?i)licenses are in use`,
		},
		{
			name:     "account",
			signedIn: true,
			url:      func(e a11yEnv) string { return e.g.Issuer() + "/account" },
			want:     "h1",
			text:     `alice`,
		},
		{
			name:     "account, password",
			signedIn: true,
			url:      func(e a11yEnv) string { return e.g.Issuer() + "/account/password" },
			want:     "#password-form",
		},
		{
			// No current password: refused without counting as a failed
			// sign-in, so the rows after it are not throttled.
			name:     "account, password refused",
			signedIn: true,
			url:      func(e a11yEnv) string { return e.g.Issuer() + "/account/password" },
			then: []chromedp.Action[chromedp.Void]{
				chromedp.SendKeys(chromedp.CSS("#new-password"), "short"),
				chromedp.SendKeys(chromedp.CSS("#new-password-again"), "other"),
				chromedp.Click(chromedp.CSS("#change-password")),
			},
			want:        "#current-password-error",
			errorFields: []string{"current-password", "new-password", "new-password-again"},
		},
		{
			name:     "account, sessions",
			signedIn: true,
			url:      func(e a11yEnv) string { return e.g.Issuer() + "/account/sessions" },
			want:     "#this-browser",
		},
		{
			// Issue 20: the account page's second factors, off, and the
			// enrolment with its QR code and the secret in text.
			name:     "account, two-step sign-in",
			signedIn: true,
			url:      func(e a11yEnv) string { return e.g.Issuer() + "/account/security" },
			want:     "#enrol-totp",
		},
		{
			name:     "account, two-step sign-in enrolment",
			signedIn: true,
			url:      func(e a11yEnv) string { return e.g.Issuer() + "/account/security" },
			then:     []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS("#enrol-totp")), chromedp.Click(chromedp.CSS("#enrol-totp"))},
			want:     "#qr",
		},
		{
			// An app with mfa: required: after the password, a user
			// without a factor enrols on the second-step page.
			name:   "second step, enrolment at sign-in",
			config: a11yRequireMFA,
			url:    func(e a11yEnv) string { return a11yAuthorizeURL(e.g, spaClient) },
			then:   []chromedp.Action[chromedp.Void]{a11yFillLogin(aliceLogin, alicePassword)},
			want:   "#qr",
		},
		{
			// A wrong first code: the error is tied to the code field.
			name:   "second step, wrong code",
			config: a11yRequireMFA,
			url:    func(e a11yEnv) string { return a11yAuthorizeURL(e.g, spaClient) },
			then: []chromedp.Action[chromedp.Void]{a11yFillLogin(aliceLogin, alicePassword),
				chromedp.WaitVisible(chromedp.CSS("#code")), chromedp.SendKeys(chromedp.CSS("#code"), "000000"),
				chromedp.Click(chromedp.CSS("#submit"))},
			want:        "#error",
			errorFields: []string{"code"},
		},
		{
			// Issue 20: the passkeys section with none yet and the form
			// that adds one, on a gateway whose public_url is on
			// localhost (an RP id is a domain). The section with a
			// passkey listed is checked in TestPasskeyBrowser, whose
			// virtual authenticator registered it.
			name:   "account, passkeys",
			config: passkeyConfig,
			url:    func(e a11yEnv) string { return passkeyOrigin(e.g) + tokensPagePath },
			then: []chromedp.Action[chromedp.Void]{a11yFillLogin(aliceLogin, alicePassword),
				chromedp.WaitVisible(chromedp.CSS("#create-token")), navigatePath("/id/account/security")},
			want: "#add-passkey",
		},
		{
			// The login page's "Sign in with a passkey".
			name:   "login, passkey sign-in",
			config: passkeyConfig,
			url:    func(e a11yEnv) string { return passkeyOrigin(e.g) + tokensPagePath },
			want:   "#passkey-signin",
		},
		{
			name:     "tokens, revoke confirmation",
			signedIn: true,
			url:      func(e a11yEnv) string { return e.g.PublicURL + tokensPagePath },
			then: []chromedp.Action[chromedp.Void]{
				chromedp.SendKeys(chromedp.CSS("#token-name"), "a11y"),
				chromedp.Click(chromedp.CSS("#create")),
				chromedp.WaitVisible(chromedp.CSS("#new-token-value")),
				chromedp.Click(chromedp.CSS(`button[id^="revoke-"]`)),
			},
			want: "#confirm-revoke",
		},
		{
			// An app with consent: required asks after the sign-in (SPEC
			// §3).
			name: "consent",
			config: func(c string) string {
				return a11yReplace(c, "  - uri: com.example/spa ", "  - consent: required\n    uri: com.example/spa ")
			},
			url:  func(e a11yEnv) string { return a11yAuthorizeURL(e.g, spaClient) },
			then: []chromedp.Action[chromedp.Void]{a11yFillLogin(aliceLogin, alicePassword)},
			want: `form[action$="/account/consent"] #allow`,
			text: `Example SPA`,
		},
	}
}

// TestAccessibility runs the checks on every page of a11yPages at every
// viewport; a failure lists every problem found on that page.
func TestAccessibility(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath(chromiumPath)
	requireDep(t, err == nil, "Chromium at "+chromiumPath+" (apt-get install chromium)")
	axe := a11yReadAxe(t)
	shared := startGateway(t, gatewayOptions{})
	crossSite := a11yCrossSiteLinks(t)

	ctx, cancel := context.WithTimeout(t.Context(), a11yTestTimeout)
	defer cancel()
	ctx = newBrowser(t, ctx)

	var summary []string
	for _, p := range a11yPages() {
		t.Run(p.name, func(t *testing.T) {
			if why, ok := pendingPages[p.name]; ok {
				t.Skip("page not built yet: " + why)
			}
			e := a11yEnv{g: shared, crossSite: crossSite}
			if p.config != nil {
				e.g = startGateway(t, gatewayOptions{Edit: p.config})
			}
			for _, vp := range a11yViewports {
				t.Run(vp.name, func(t *testing.T) {
					b, done := newA11yTab(t, ctx, e.g, vp)
					defer done()
					if p.signedIn {
						b.step("sign in as alice", a11ySignIn(e.g)...)
					}
					b.step("open "+p.name, chromedp.Navigate(p.url(e)))
					if len(p.then) > 0 {
						b.step("reach "+p.name, p.then...)
					}
					a11yWaitForPage(b, p.want, p.text)
					f := a11yCheckPage(b, axe, vp, p.errorFields)
					a11yScreenshot(t, b, p.name, vp)
					problems := f.problems(vp)
					for _, r := range f.Incomplete {
						if len(r.Nodes) > 0 {
							t.Logf("axe could not decide %s (%s) on %d elements, e.g. %s", r.ID, r.Help, len(r.Nodes), r.Nodes[0])
						}
					}
					if len(problems) > 0 {
						t.Errorf("%s at %s, %s: %d problems\n%s", p.name, vp, b.location(), len(problems), a11yReport(problems, true))
						summary = append(summary, fmt.Sprintf("%-40s %-8s %s", p.name, vp.name, a11yReport(problems, false)))
					}
				})
			}
		})
	}
	if len(summary) > 0 {
		t.Logf("pages with problems:\n%s", strings.Join(summary, "\n"))
	}
}

// TestA11yCheckerCatchesViolations shows the checks fail where they
// should, so a broken checker cannot pass every page: a page with an
// unlabelled field on a pale border, a 600px element, a button off the
// screen, a zero-sized one and an error tied to nothing fails each check;
// a small page that does everything right passes them all.
func TestA11yCheckerCatchesViolations(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath(chromiumPath)
	requireDep(t, err == nil, "Chromium at "+chromiumPath+" (apt-get install chromium)")
	axe := a11yReadAxe(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		switch r.URL.Path {
		case "/bad":
			fmt.Fprint(w, a11yBadPage)
		case "/good":
			fmt.Fprint(w, a11yGoodPage)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	ctx = newBrowser(t, ctx)
	check := func(path string, vp a11yViewport) (a11yFindings, []a11yProblem) {
		t.Helper()
		b, done := newA11yTab(t, ctx, nil, vp)
		defer done()
		b.step("open "+path, chromedp.Navigate(srv.URL+path), chromedp.WaitVisible(chromedp.CSS("h1")))
		f := a11yCheckPage(b, axe, vp, []string{"name"})
		return f, f.problems(vp)
	}

	phone := a11yViewports[0]
	f, problems := check("/bad", phone)
	t.Logf("the bad page at %s:\n%s", phone, a11yReport(problems, true))
	has := func(what string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("the checks missed %s on the bad page", what)
		}
	}
	rules := map[string]bool{}
	for _, r := range f.Axe {
		rules[r.ID] = true
	}
	has("the unlabelled input (axe label)", rules["label"])
	has("the missing lang (axe html-has-lang)", rules["html-has-lang"])
	has("the missing title (axe document-title)", rules["document-title"])
	has("the pale text (axe color-contrast)", rules["color-contrast"])
	has("the sideways scroll", f.Layout.ScrollWidth > int(phone.width) || f.Layout.InnerWidth != int(phone.width))
	var wide, escaped bool
	for _, o := range f.Layout.Overflowing {
		wide = wide || strings.Contains(o.HTML, "a 600px wide element")
		escaped = escaped || o.Element == "span#escape"
	}
	has("the 600px element among those sticking out", wide)
	has("the absolutely positioned span that escapes its scroller", escaped)
	var paleBorder, offScreen, zeroSized, untied bool
	for _, b := range f.Layout.Borders {
		paleBorder = paleBorder || (b.Element == `input#name[name="name"]` && !b.OK && b.BorderRatio < 1.2)
	}
	for _, c := range f.Layout.Unreachable {
		offScreen = offScreen || (strings.HasPrefix(c.Element, "button#far") && strings.Contains(c.Why, "outside the viewport"))
		zeroSized = zeroSized || (strings.HasPrefix(c.Element, "button#tiny") && strings.Contains(c.Why, "zero-sized"))
	}
	for _, e := range f.Layout.ErrorTies {
		untied = untied || strings.HasPrefix(e.Element, "input#name")
	}
	has("the #eee border on white (1.16:1)", paleBorder)
	has("the button 450px from the left", offScreen)
	has("the zero-sized button", zeroSized)
	has("the error not tied to its field", untied)

	for _, vp := range a11yViewports {
		if _, problems := check("/good", vp); len(problems) > 0 {
			t.Errorf("the good page at %s fails the checks:\n%s", vp, a11yReport(problems, true))
		}
	}
}

// a11yBadPage breaks every check.
const a11yBadPage = `<!doctype html>
<html><head><meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="margin:0;background:#fff">
<h1>Bad</h1>
<p role="alert">Something is wrong.</p>
<form><input id="name" name="name" style="border:1px solid #eee"></form>
<p style="color:#ccc">pale text</p>
<div style="width:600px">a 600px wide element</div>
<div style="overflow-x:auto"><span id="escape" style="position:absolute;left:700px;width:1px;height:1px;overflow:hidden">escapes its scroller</span></div>
<button id="far" style="position:absolute;left:450px;top:0">far</button>
<button id="tiny" style="width:0;height:0;padding:0;border:0;overflow:hidden">tiny</button>
</body></html>
`

// a11yGoodPage passes every check.
const a11yGoodPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Good</title></head>
<body style="margin:0;padding:16px;background:#fff;color:#222;font:16px system-ui,sans-serif">
<main>
<h1>Good</h1>
<form>
<p id="name-error" role="alert" style="color:#b42318">Enter your name.</p>
<label for="name">Name</label>
<input id="name" name="name" aria-invalid="true" aria-describedby="name-error" style="display:block;width:100%;box-sizing:border-box;border:1px solid #767676">
<button type="submit" style="margin-top:8px">Send</button>
</form>
<p><a href="/good">Again</a></p>
</main>
</body></html>
`

// newA11yTab opens a tab in a fresh browser context (its own cookies) at
// the viewport; done closes it.
func newA11yTab(t *testing.T, browser context.Context, g *Gateway, vp a11yViewport) (*chromeTab, func()) {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	// Open the tab now, on the browser's context: the context of a tab's
	// first run is the tab's lifetime, so it must not be a step's.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("opening a tab: %v", err)
	}
	b := newChromeTab(t, ctx, g)
	b.step("emulate "+vp.String(), vp.emulate())
	return b, func() {
		_ = chromedp.Cancel(ctx)
		cancel()
	}
}

// a11yWaitForPage waits, within one step's bound, until the page has loaded
// and shows want, and its visible text matches the regexp text (if set).
// It outlasts navigations, which a page's own polling does not.
func a11yWaitForPage(b *chromeTab, want, text string) {
	b.t.Helper()
	re := regexp.MustCompile(text)
	js := `(() => {
  const e = document.readyState === "complete" && document.querySelector(` + strconv.Quote(want) + `);
  return {shown: !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility === "visible", text: document.body ? document.body.innerText : ""};
})()`
	type state struct {
		Shown bool   `json:"shown"`
		Text  string `json:"text"`
	}
	sctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	var last state
	for {
		s, err := chromedp.Run(sctx, chromedp.Evaluate[state](js))
		if err == nil {
			last = s
			if s.Shown && re.MatchString(s.Text) {
				return
			}
		}
		select {
		case <-sctx.Done():
			b.fatalf("the page does not show %s with text matching %q; it reads:\n%s\n", want, text, a11yIndent(last.Text, "    "))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// a11yReadAxe returns axe-core's source; without it the test skips, or fails
// under CI.
func a11yReadAxe(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(axePath)
	requireDep(t, err == nil, "axe-core at e2e/"+axePath+" (cd e2e/testdata/js && npm ci)")
	return string(src)
}

// a11ySignIn signs alice in through the tokens page, which sends a
// signed-out browser through the gateway's sign-in: afterwards the browser
// has both the gateway's and the issuer's session.
func a11ySignIn(g *Gateway) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(g.PublicURL + tokensPagePath),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		a11yFillLogin(aliceLogin, alicePassword),
		chromedp.WaitVisible(chromedp.CSS("#create-token")),
	}
}

// a11yFillLogin fills in the login page and submits it.
func a11yFillLogin(login, password string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS("#login")),
		clearInputs("login", "password"),
		chromedp.SendKeys(chromedp.CSS("#login"), login),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#submit")),
	)
}

// a11yAuthorizeURL is an authorization request (code, PKCE S256, state)
// for clientID with the sample app's redirect URI.
func a11yAuthorizeURL(g *Gateway, clientID string) string {
	sum := sha256.Sum256([]byte(randomHex(32)))
	q := url.Values{"client_id": {clientID}, "redirect_uri": {spaRedirect}, "response_type": {"code"},
		"scope": {spaScope}, "state": {randomHex(8)}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	return g.Issuer() + "/connect/authorize?" + q.Encode()
}

// a11yReplace replaces old, which must be in config, once.
func a11yReplace(config, old, new string) string {
	if !strings.Contains(config, old) {
		panic(fmt.Sprintf("a11y_test: config.example.yaml no longer contains %q", old))
	}
	return strings.Replace(config, old, new, 1)
}

// a11yCrossSiteLinks serves, on http://localhost:…, a page whose link #go
// leads to the address in its query.
func a11yCrossSiteLinks(t *testing.T) func(target string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><title>Elsewhere</title><a id="go" href="%s">Go</a></html>`,
			html.EscapeString(r.URL.Query().Get("to")))
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://localhost:" + u.Port() + "/?to="
	return func(target string) string { return base + url.QueryEscape(target) }
}

// a11yFindings is what a11yCheckPage saw on a page.
type a11yFindings struct {
	Axe        []axeRule
	Incomplete []axeRule
	Layout     a11yLayout
}

// axeRule is one axe-core rule's result (axe's violations and incomplete
// entries).
type axeRule struct {
	ID      string    `json:"id"`
	Impact  string    `json:"impact"`
	Help    string    `json:"help"`
	HelpURL string    `json:"helpUrl"`
	Nodes   []axeNode `json:"nodes"`
}

type axeNode struct {
	Target  []string `json:"target"`
	HTML    string   `json:"html"`
	Summary string   `json:"summary"`
}

func (n axeNode) String() string {
	return strings.Join(n.Target, " ") + "  " + n.HTML
}

// a11yLayout is the report of testdata/js/page_checks.js.
type a11yLayout struct {
	InnerWidth   int    `json:"innerWidth"`
	ScrollWidth  int    `json:"scrollWidth"`
	ViewportMeta string `json:"viewportMeta"`
	Overflowing  []struct {
		Element string `json:"element"`
		HTML    string `json:"html"`
		Right   int    `json:"right"`
	} `json:"overflowing"`
	Unreachable []struct {
		Element string `json:"element"`
		HTML    string `json:"html"`
		Why     string `json:"why"`
	} `json:"unreachable"`
	Borders []struct {
		Element     string  `json:"element"`
		Border      string  `json:"border"`
		BorderRatio float64 `json:"borderRatio"`
		Fill        string  `json:"fill"`
		FillRatio   float64 `json:"fillRatio"`
		Background  string  `json:"background"`
		OK          bool    `json:"ok"`
	} `json:"borders"`
	ErrorTies []struct {
		Element string `json:"element"`
		HTML    string `json:"html"`
		Why     string `json:"why"`
	} `json:"errorTies"`
}

// axeRunJS runs axe-core on the whole document for a11yTags and keeps
// what a report needs. A target inside a shadow root is a list of
// selectors.
const axeRunJS = `axe.run(document, {runOnly: {type: "tag", values: %s}, resultTypes: ["violations"]}).then((r) => {
  const rule = (v) => ({id: v.id, impact: v.impact || "", help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({target: n.target.map((s) => Array.isArray(s) ? s.join(" >>> ") : String(s)),
      html: n.html, summary: n.failureSummary || ""}))});
  return {violations: r.violations.map(rule), incomplete: r.incomplete.map(rule)};
})`

// a11yCheckPage runs axe-core and page_checks.js on the page the tab shows.
// axe is injected with Runtime.evaluate, which the page's CSP does not
// govern (the pages allow no script), so the page is checked as served.
func a11yCheckPage(b *chromeTab, axe string, vp a11yViewport, errorFields []string) a11yFindings {
	b.t.Helper()
	var f a11yFindings
	b.step("inject axe-core", chromedp.Evaluate[chromedp.Void](axe))
	if v := b.read("axe-core version", chromedp.Evaluate[string](`typeof axe === "object" ? axe.version : ""`)); v == "" {
		b.fatalf("axe-core did not load into the page")
	}
	tags, _ := json.Marshal(a11yTags)
	res := readAs(b, "run axe-core", chromedp.Evaluate[struct {
		Violations []axeRule `json:"violations"`
		Incomplete []axeRule `json:"incomplete"`
	}](fmt.Sprintf(axeRunJS, tags), chromedp.EvalAwaitPromise))
	f.Axe, f.Incomplete = res.Violations, res.Incomplete
	opts, _ := json.Marshal(map[string]any{"width": vp.width, "errorFields": errorFields})
	f.Layout = readAs(b, "check the layout", chromedp.Evaluate[a11yLayout]("("+strings.TrimSpace(pageChecksJS)+")("+string(opts)+")"))
	return f
}

// a11yProblem is one thing wrong on a page: its kind (an axe rule id,
// "sideways scroll", …) and what a person fixing it needs to know.
type a11yProblem struct{ kind, detail string }

// problems says, one entry each, what is wrong on the page.
func (f a11yFindings) problems(vp a11yViewport) []a11yProblem {
	var out []a11yProblem
	for _, r := range f.Axe {
		var s strings.Builder
		fmt.Fprintf(&s, "  axe %s (%s): %s\n      %s", r.ID, r.Impact, r.Help, r.HelpURL)
		for _, n := range r.Nodes {
			fmt.Fprintf(&s, "\n      - %s\n%s", n, a11yIndent(n.Summary, "          "))
		}
		out = append(out, a11yProblem{r.ID, s.String()})
	}
	l := f.Layout
	if l.InnerWidth != int(vp.width) || l.ScrollWidth > int(vp.width) {
		var s strings.Builder
		fmt.Fprintf(&s, "  sideways scroll: scrollWidth %d, innerWidth %d, viewport %d", l.ScrollWidth, l.InnerWidth, vp.width)
		if l.InnerWidth != int(vp.width) {
			fmt.Fprintf(&s, " (the layout viewport is not the screen's width; viewport meta %q)", l.ViewportMeta)
		}
		for _, o := range l.Overflowing {
			fmt.Fprintf(&s, "\n      - %s reaches x %d: %s", o.Element, o.Right, o.HTML)
		}
		out = append(out, a11yProblem{"sideways-scroll", s.String()})
	}
	for _, c := range l.Unreachable {
		out = append(out, a11yProblem{"unreachable-control", fmt.Sprintf("  unreachable control %s: %s\n      %s", c.Element, c.Why, c.HTML)})
	}
	for _, b := range l.Borders {
		if !b.OK {
			out = append(out, a11yProblem{"field-border", fmt.Sprintf("  field border %s: %s is %.2f:1 against %s behind it, its fill %s %.2f:1; want 3:1 (WCAG 1.4.11)",
				b.Element, b.Border, b.BorderRatio, b.Background, b.Fill, b.FillRatio)})
		}
	}
	for _, e := range l.ErrorTies {
		out = append(out, a11yProblem{"error-not-tied", fmt.Sprintf("  error not tied to field %s: %s\n      %s", e.Element, e.Why, e.HTML)})
	}
	return out
}

// a11yReport is problems as text: details, or the kinds on one line.
func a11yReport(problems []a11yProblem, details bool) string {
	var lines []string
	for _, p := range problems {
		if details {
			lines = append(lines, p.detail)
		} else if len(lines) == 0 || lines[len(lines)-1] != p.kind {
			lines = append(lines, p.kind)
		}
	}
	if details {
		return strings.Join(lines, "\n")
	}
	return strings.Join(lines, ", ")
}

func a11yIndent(s, prefix string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// a11yScreenshot saves the page as docs/screenshots shows it when
// ERPGATE_SCREENSHOTS names a directory (README "Pages"):
//
//	ERPGATE_SCREENSHOTS=$PWD/docs/screenshots go test ./e2e -run TestAccessibility
func a11yScreenshot(t *testing.T, b *chromeTab, page string, vp a11yViewport) {
	dir := os.Getenv("ERPGATE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := readAs(b, "screenshot of "+page, chromedp.FullScreenshot(100))
	name := strings.NewReplacer(" ", "-", "/", "-", "(", "", ")", "", ",", "").Replace(strings.ToLower(page))
	if err := os.WriteFile(filepath.Join(dir, name+"-"+vp.name+".png"), png, 0o644); err != nil {
		t.Errorf("saving the screenshot: %v", err)
	}
}

// a11yProviders lets the example SPA offer two identity providers: an
// OpenID provider whose issuer nothing answers (the page never needs it
// until its button is used) and a directory.
func a11yProviders(c string) string {
	c = a11yReplace(c, "  - uri: com.example/spa ", "  - identity_providers: [corp, corp-ad]\n    uri: com.example/spa ")
	return c + `
identity_providers:
  - {id: corp, type: oidc, name: Corp SSO, issuer: "http://127.0.0.1:9", client_id: erpgate, client_secret: unused}
  - {id: corp-ad, type: ldap, name: Corporate account, url: "ldap://127.0.0.1:9", user_base: "dc=example,dc=com"}
`
}

// a11yRequireMFA makes the example SPA ask every user for a second
// factor (apps[].mfa: required).
func a11yRequireMFA(c string) string {
	return a11yReplace(c, "  - uri: com.example/spa ", "  - mfa: required\n    uri: com.example/spa ")
}
