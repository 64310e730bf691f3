package e2e

import (
	"context"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Cross-origin sign-in in Chromium: third-party apps (thirdparty_test.go)
// on origins other than the gateway's, as real apps are. A login form
// whose CSP says form-action 'self' makes Chromium abort the 302 to such
// an app's callback (CSP3 §6.7.2.10 applies form-action to redirects
// after a submission: net::ERR_ABORTED), which the same-origin browser
// tests cannot see. Each test asserts the browser really lands on the
// app's origin, and that the app signed alice in.

// crossOrigin is a gateway with the third-party apps registered, and a
// browser for one test.
type crossOrigin struct {
	t   *testing.T
	g   *Gateway
	web *webRP
	spa *spaRP
	b   *chromeTab
}

func startCrossOrigin(t *testing.T) *crossOrigin {
	t.Helper()
	_, err := exec.LookPath(chromiumPath)
	requireDep(t, err == nil, "Chromium at "+chromiumPath+" (apt-get install chromium)")
	// The apps listen first, so their origins are known to the config.
	web, spa := startWebRP(t), startSPA(t)
	g := startGateway(t, gatewayOptions{Edit: withApps(t, web.appYAML(), spa.appYAML())})
	web.connect(t, g)
	spa.connect(g)
	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	t.Cleanup(cancel)
	ctx = newBrowser(t, ctx) // its cleanup runs before cancel
	return &crossOrigin{t: t, g: g, web: web, spa: spa, b: newChromeTab(t, ctx, g)}
}

// at is scheme://host/path of u: where the browser is, query aside.
func at(u *url.URL) string { return u.Scheme + "://" + u.Host + u.Path }

// loginPage opens start, which must lead to the gateway's login page.
func (c *crossOrigin) loginPage(name, start string) {
	c.t.Helper()
	c.b.step(name, chromedp.Navigate(start), chromedp.WaitVisible(chromedp.CSS("#password")))
	if u := c.b.location(); at(u) != c.g.Issuer()+"/account/login" {
		c.b.fatalf("%s: the login page is at %s, want %s/account/login", name, u, c.g.Issuer())
	}
}

// watchCSP keeps the page's Content-Security-Policy violations in
// window.__csp, for failure messages.
func watchCSP() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(() => {
  window.__csp = [];
  document.addEventListener("securitypolicyviolation",
    e => window.__csp.push(e.violatedDirective + " blocked " + e.blockedURI + " (" + e.effectiveDirective + ")"));
  return true;
})()`)(ctx, t)
		return err
	})
}

// cspViolations reads what watchCSP kept, if the page is still there.
func (c *crossOrigin) cspViolations() string {
	sctx, cancel := context.WithTimeout(c.b.ctx, browserStepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[[]string](`window.__csp || []`))
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	if len(v) == 0 {
		return "none"
	}
	return strings.Join(v, "; ")
}

// signIn submits alice's credentials on the login page the browser
// shows and waits until the browser is at want (scheme://host/path).
func (c *crossOrigin) signIn(want string) {
	c.t.Helper()
	c.b.step("submit the login form",
		watchCSP(),
		clearInputs("login", "password"),
		chromedp.SendKeys(chromedp.CSS("#login"), aliceLogin),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Click(chromedp.CSS("#submit")),
	)
	c.arrive("after signing in", want, true)
}

// arrive waits until the browser is at want; on the way, the page may be
// the one watchCSP watched, whose violations a failure names.
func (c *crossOrigin) arrive(what, want string, watched bool) {
	c.t.Helper()
	if _, err := c.b.pollLocation(func(u *url.URL) bool { return at(u) == want }); err != nil {
		csp := ""
		if watched {
			csp = "; CSP violations on the page: " + c.cspViolations()
		}
		c.b.fatalf("%s: the browser never reached %s (%v)%s", what, want, err, csp)
	}
}

// appShows waits for the app's page to show element id, and returns its
// text; a refusal by the app (#rp-error) fails the test with its reason.
func (c *crossOrigin) appShows(id string) string {
	c.t.Helper()
	c.b.step("the app's page", chromedp.WaitVisible(chromedp.CSS("#"+id+", #rp-error")))
	refused := readAs(c.b, "app refusal", chromedp.Evaluate[string](
		`(() => { const e = document.getElementById("rp-error"); return e ? e.textContent : "" })()`))
	if refused != "" {
		c.b.fatalf("the app refused: %s", refused)
	}
	return c.b.read("#"+id, chromedp.Text(chromedp.CSS("#"+id)))
}

// signedIn checks that the app shows alice and that its last sign-in
// came back to origin by method; it returns the sign-in.
func (c *crossOrigin) signedIn(origin, method string) rpSignIn {
	c.t.Helper()
	if who := c.appShows("signed-in-as"); who != aliceLogin {
		c.t.Errorf("the app shows %q signed in, want %s", who, aliceLogin)
	}
	s := c.web.SignIns()
	if len(s) == 0 {
		c.b.fatalf("the app shows a sign-in it did not record")
	}
	last := s[len(s)-1]
	if last.Origin != origin || last.Method != method || last.Subject != aliceLogin || last.SID == "" {
		c.t.Errorf("the app's sign-in %+v, want alice at %s by %s with a sid", last, origin, method)
	}
	return last
}

// formAction is the source list of the form-action directive of csp.
func formAction(csp string) []string {
	for _, d := range strings.Split(csp, ";") {
		if f := strings.Fields(d); len(f) > 0 && strings.EqualFold(f[0], "form-action") {
			return f[1:]
		}
	}
	return nil
}

// cspOf opens start and returns the Content-Security-Policy of the page
// it ends on, and that page's URL.
func (c *crossOrigin) cspOf(name, start string) (csp string, page *url.URL) {
	c.t.Helper()
	resp := readAs(c.b, name, chromedp.NavigateResponse(start))
	for k, v := range resp.Headers {
		if strings.EqualFold(k, "Content-Security-Policy") {
			csp, _ = v.(string)
		}
	}
	u, err := url.Parse(resp.URL)
	if err != nil {
		c.b.fatalf("%s: response URL %q: %v", name, resp.URL, err)
	}
	return csp, u
}

// TestCrossOriginSignIn: a first sign-in to a confidential web app on
// another port than the gateway. The login page is the gateway's; the
// answer to the form is a 302 to the app's callback, which Chromium
// follows only if the page's CSP form-action names the app's origin.
func TestCrossOriginSignIn(t *testing.T) {
	t.Parallel()
	c := startCrossOrigin(t)
	c.loginPage("the app's sign-in", c.web.URL()+"/start")
	c.signIn(c.web.URL() + "/callback")
	c.signedIn(c.web.URL(), "GET")
}

// TestCrossOriginLocalhost: the app as http://localhost:PORT while the
// gateway is http://127.0.0.1:PORT — another host name, so another site
// too. Its login page names the localhost origin (and not the same app's
// 127.0.0.1 one); the sign-in lands there. The same app as 127.0.0.1
// then signs in silently, and a form_post answer crosses from
// 127.0.0.1 to localhost.
func TestCrossOriginLocalhost(t *testing.T) {
	t.Parallel()
	c := startCrossOrigin(t)
	local := c.web.LocalhostURL()

	csp, page := c.cspOf("the app's sign-in as localhost", local+"/start")
	if at(page) != c.g.Issuer()+"/account/login" {
		c.b.fatalf("the sign-in from %s led to %s, want the login page", local, page)
	}
	if fa := formAction(csp); !slices.Contains(fa, local) || slices.Contains(fa, c.web.URL()) {
		t.Errorf("login page for %s: form-action %v, want %s and not %s (CSP %q)", local, fa, local, c.web.URL(), csp)
	}
	c.b.step("login form", chromedp.WaitVisible(chromedp.CSS("#password")))
	c.signIn(local + "/callback")
	first := c.signedIn(local, "GET")

	c.b.step("silent sign-in as 127.0.0.1", chromedp.Navigate(c.web.URL()+"/start"))
	c.arrive("silent sign-in as 127.0.0.1", c.web.URL()+"/callback", false)
	if s := c.signedIn(c.web.URL(), "GET"); s.SID != first.SID {
		t.Errorf("silent sign-in in session %q, want the session of the first sign-in %q", s.SID, first.SID)
	}

	c.b.step("form_post to localhost", chromedp.Navigate(local+"/start?response_mode=form_post"))
	c.arrive("form_post to localhost", local+"/callback", false)
	c.signedIn(local, "POST")
}

// TestCrossOriginPromptLogin: with a live session, prompt=login shows
// the login page again (OIDC Core §3.1.2.1), and signing in there
// reaches the app on its origin.
func TestCrossOriginPromptLogin(t *testing.T) {
	t.Parallel()
	c := startCrossOrigin(t)
	c.loginPage("first sign-in", c.web.URL()+"/start")
	c.signIn(c.web.URL() + "/callback")
	c.signedIn(c.web.URL(), "GET")

	c.loginPage("prompt=login", c.web.URL()+"/start?prompt=login")
	c.signIn(c.web.URL() + "/callback")
	c.signedIn(c.web.URL(), "GET")
	if n := len(c.web.SignIns()); n != 2 {
		t.Errorf("the app completed %d sign-ins, want 2", n)
	}
}

// TestCrossOriginSilentSSO: a second sign-in to the app, with the
// gateway's session live, needs no login page: opening /start lands on
// the app's callback with no input, and the login page is not in the
// browser's history.
func TestCrossOriginSilentSSO(t *testing.T) {
	t.Parallel()
	c := startCrossOrigin(t)
	c.loginPage("first sign-in", c.web.URL()+"/start")
	c.signIn(c.web.URL() + "/callback")
	first := c.signedIn(c.web.URL(), "GET")

	before := readAs(c.b, "history", chromedp.NavigationEntries())
	c.b.step("second sign-in", chromedp.Navigate(c.web.URL()+"/start"))
	c.arrive("second sign-in", c.web.URL()+"/callback", false)
	if s := c.signedIn(c.web.URL(), "GET"); s.SID != first.SID {
		t.Errorf("silent sign-in in session %q, want %q", s.SID, first.SID)
	}
	after := readAs(c.b, "history", chromedp.NavigationEntries())
	for _, e := range after.Entries[len(before.Entries):] {
		if !strings.HasPrefix(e.URL, c.web.URL()+"/callback?") {
			t.Errorf("the silent sign-in showed %s, want only the app's callback", e.URL)
		}
	}
}

// TestCrossOriginSignInAfterEndSession: the app ends the session through
// the end_session_endpoint without id_token_hint (RP-Initiated Logout
// 1.0 §2, client_id instead); the gateway asks to confirm, and the
// confirmation's answer is a 302 to the app's post_logout_redirect_uri
// on its origin — the same form-action rule as the login page. After
// it, /start shows the login page again and signing in reaches the app
// in a new session.
func TestCrossOriginSignInAfterEndSession(t *testing.T) {
	t.Parallel()
	c := startCrossOrigin(t)
	c.loginPage("first sign-in", c.web.URL()+"/start")
	c.signIn(c.web.URL() + "/callback")
	first := c.signedIn(c.web.URL(), "GET")

	csp, page := c.cspOf("the app's logout", c.web.URL()+"/logout")
	if at(page) != c.g.Issuer()+"/connect/endsession" {
		c.b.fatalf("the app's logout led to %s, want the confirmation at %s/connect/endsession", page, c.g.Issuer())
	}
	if fa := formAction(csp); !slices.Contains(fa, c.web.URL()) {
		t.Errorf("logout confirmation: form-action %v does not name the app's origin %s (CSP %q)", fa, c.web.URL(), csp)
	}
	c.b.step("confirm signing out", chromedp.WaitVisible(chromedp.CSS("#confirm")), watchCSP(), chromedp.Click(chromedp.CSS("#confirm")))
	c.arrive("after confirming", c.web.URL()+"/signed-out", true)
	c.appShows("signed-out")

	c.loginPage("sign-in after signing out", c.web.URL()+"/start")
	c.signIn(c.web.URL() + "/callback")
	if s := c.signedIn(c.web.URL(), "GET"); s.SID == first.SID {
		t.Errorf("the sign-in after signing out is in the ended session %q", s.SID)
	}
}

// TestCrossOriginFormPost: response_mode=form_post (OAuth 2.0 Form Post
// Response Mode): the answer to the login form is a page whose form
// posts itself to the app's origin; then a silent sign-in answers the
// same way.
func TestCrossOriginFormPost(t *testing.T) {
	t.Parallel()
	c := startCrossOrigin(t)
	c.loginPage("sign-in with form_post", c.web.URL()+"/start?response_mode=form_post")
	c.signIn(c.web.URL() + "/callback")
	c.signedIn(c.web.URL(), "POST")

	c.b.step("silent sign-in with form_post", chromedp.Navigate(c.web.URL()+"/start?response_mode=form_post"))
	c.arrive("silent sign-in with form_post", c.web.URL()+"/callback", false)
	c.signedIn(c.web.URL(), "POST")
}

// TestCrossOriginSPA: a public single-page app on its own origin does
// code + PKCE S256 in the browser and redeems the code with fetch at the
// token endpoint, which must answer it with CORS; it shows the ID
// token's sub. A second start signs in silently.
func TestCrossOriginSPA(t *testing.T) {
	t.Parallel()
	c := startCrossOrigin(t)
	c.loginPage("the SPA's sign-in", c.spa.URL()+"/start")
	c.signIn(c.spa.URL() + "/callback")
	if who := c.appShows("signed-in-as"); who != aliceLogin {
		t.Errorf("the SPA shows %q signed in, want %s", who, aliceLogin)
	}

	c.b.step("the SPA's second sign-in", chromedp.Navigate(c.spa.URL()+"/start"))
	c.arrive("the SPA's second sign-in", c.spa.URL()+"/callback", false)
	if who := c.appShows("signed-in-as"); who != aliceLogin {
		t.Errorf("the SPA shows %q signed in after the silent sign-in, want %s", who, aliceLogin)
	}
}

// TestCrossOriginFormActionConfined: the login page lets its forms
// reach only its own origin and the redirect origin of the request at
// hand. Its CSP names that origin and not the origins of the same app's
// other redirect URIs or of other apps. A form injected into the page
// (as an XSS would) cannot post the password to an unregistered origin,
// to another app's origin or to the app's other origin: the listener
// there never receives it and the page sees a securitypolicyviolation.
// The same injection to the request's own redirect origin does arrive,
// so the refusals are the CSP's doing.
func TestCrossOriginFormActionConfined(t *testing.T) {
	t.Parallel()
	c := startCrossOrigin(t)
	elsewhere := startRecorder(t) // registered for no app

	csp, page := c.cspOf("the app's sign-in", c.web.URL()+"/start")
	if at(page) != c.g.Issuer()+"/account/login" {
		c.b.fatalf("the sign-in led to %s, want the login page", page)
	}
	fa := formAction(csp)
	if !slices.Contains(fa, "'self'") || !slices.Contains(fa, c.web.URL()) {
		t.Errorf("form-action %v, want 'self' and the request's redirect origin %s (CSP %q)", fa, c.web.URL(), csp)
	}
	for _, o := range []string{c.web.LocalhostURL(), c.spa.URL(), elsewhere.URL} {
		if slices.Contains(fa, o) {
			t.Errorf("form-action %v names %s, which is not this request's redirect origin", fa, o)
		}
	}
	c.b.step("login form", chromedp.WaitVisible(chromedp.CSS("#password")))

	for _, target := range []struct{ name, action string }{
		{"an unregistered origin", elsewhere.URL + "/steal"},
		{"another app's origin", c.spa.URL() + "/probe"},
		{"the app's other origin", c.web.LocalhostURL() + "/probe"},
	} {
		violation, err := injectForm(c, target.action)
		if _, n := elsewhere.take(); n != 0 {
			c.b.fatalf("a form on the login page posted to %s (%s): it received %d request(s)", target.name, target.action, n)
		}
		if p := c.spa.Probes(); len(p) != 0 {
			c.b.fatalf("a form on the login page posted to the SPA's origin: %v", p)
		}
		if p := c.web.Probes(); len(p) != 0 {
			c.b.fatalf("a form on the login page posted to the app's other origin: %v", p)
		}
		if u := c.b.location(); at(u) != c.g.Issuer()+"/account/login" {
			c.b.fatalf("after the form to %s the browser left the login page for %s", target.name, u)
		}
		switch {
		case err != nil:
			t.Errorf("form to %s: no securitypolicyviolation event: %v", target.name, err)
		case !strings.HasPrefix(violation, "form-action"):
			t.Errorf("form to %s: violation %q, want form-action", target.name, violation)
		}
	}

	// The control: the request's redirect origin is reachable.
	readAs(c.b, "a form to the request's redirect origin", chromedp.Evaluate[bool](submitFormJS(c.web.URL()+"/probe")))
	c.arrive("the form to the request's redirect origin", c.web.URL()+"/probe", false)
	c.appShows("probe")
	if p := c.web.Probes(); !slices.Equal(p, []string{"POST " + c.web.URL()}) {
		t.Errorf("the app's probe received %v, want one POST at %s", p, c.web.URL())
	}
}

// submitFormJS adds a form posting a password to action and submits it.
func submitFormJS(action string) string {
	return `(() => {
  const f = document.createElement("form");
  f.method = "post";
  f.action = ` + strconv.Quote(action) + `;
  const i = document.createElement("input");
  i.name = "password"; i.value = "stolen";
  f.append(i);
  document.body.append(f);
  f.submit();
  return true;
})()`
}

// injectForm submits a form to action from the page and waits, within a
// step's bound, for the page's securitypolicyviolation event; it returns
// the violated directive and blocked URI.
func injectForm(c *crossOrigin, action string) (string, error) {
	js := `new Promise(resolve => {
  document.addEventListener("securitypolicyviolation",
    e => resolve(e.effectiveDirective + " " + e.blockedURI), {once: true});
  ` + submitFormJS(action) + `;
})`
	sctx, cancel := context.WithTimeout(c.b.ctx, browserStepTimeout)
	defer cancel()
	return chromedp.Run(sctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
}

// TestCrossOriginHybrid: response_type=code id_token (OIDC Core §3.3)
// for the web app on another origin: by fragment (the default; the
// app's callback page relays it to its server) on the first sign-in,
// through the login form, and by form_post on a silent second one. The
// app verifies the front-channel ID token (signature, nonce, c_hash)
// before redeeming the code.
func TestCrossOriginHybrid(t *testing.T) {
	t.Parallel()
	c := startCrossOrigin(t)
	c.loginPage("hybrid sign-in", c.web.URL()+"/start?response_type=code+id_token")
	c.signIn(c.web.URL() + "/callback")
	c.signedIn(c.web.URL(), "POST") // the relay posts the fragment

	c.b.step("hybrid silent sign-in with form_post", chromedp.Navigate(c.web.URL()+"/start?response_type=code+id_token&response_mode=form_post"))
	c.arrive("hybrid silent sign-in with form_post", c.web.URL()+"/callback", false)
	c.signedIn(c.web.URL(), "POST")
}
