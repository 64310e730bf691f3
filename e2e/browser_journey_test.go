package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The journey of a person in Chromium, one test per part of it: signing
// in to a third-party app on another origin, consenting, the account
// page and signing out, in English, Bulgarian or German, under the
// operator's brand, on a phone. Each test has its own gateway and
// browser; they reuse the cross-origin kit (browser_crossorigin_test.go)
// and its web app (thirdparty_test.go), registered here with
// consent: required where the journey asks for it.

// journeyOptions say how a journey's gateway and browser are set up.
type journeyOptions struct {
	// consent registers the web app with consent: required (SPEC §3).
	consent bool
	// edit changes the config further (ui:, a user's locale); web is
	// the app, already listening.
	edit func(config string, web *webRP) string
	// acceptLang is the browser's Accept-Language (Chromium's
	// --accept-lang); "" keeps Chromium's own, en-US.
	acceptLang string
	// phone emulates phoneScreen and presses buttons by tapping
	// (chromedp.Tap) instead of clicking.
	phone bool
}

// journey is a cross-origin setup with the web app alone, and how its
// buttons are pressed.
type journey struct {
	*crossOrigin
	tap bool
}

// startJourney starts the web app, a gateway that registers it, and a
// browser.
func startJourney(t *testing.T, o journeyOptions) *journey {
	t.Helper()
	_, err := exec.LookPath(chromiumPath)
	requireDep(t, err == nil, "Chromium at "+chromiumPath+" (apt-get install chromium)")
	web := startWebRP(t)
	var extra []string
	if o.consent {
		extra = append(extra, "consent: required")
	}
	apps := withApps(t, web.appYAML(extra...))
	edit := apps
	if o.edit != nil {
		edit = func(cfg string) string { return o.edit(apps(cfg), web) }
	}
	g := startGateway(t, gatewayOptions{Edit: edit})
	web.connect(t, g)
	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	t.Cleanup(cancel)
	var flags []chromedp.ExecAllocatorOption
	if o.acceptLang != "" {
		flags = append(flags, chromedp.Flag("accept-lang", o.acceptLang))
	}
	ctx = newBrowser(t, ctx, flags...) // its cleanup runs before cancel
	j := &journey{crossOrigin: &crossOrigin{t: t, g: g, web: web, b: newChromeTab(t, ctx, g)}, tap: o.phone}
	if o.phone {
		j.b.step("emulate "+phoneScreen.String(), phoneScreen.emulate())
	}
	return j
}

// press presses the button sel: a tap on a phone, else a click.
func (j *journey) press(sel string) chromedp.Action[chromedp.Void] {
	if j.tap {
		return chromedp.Tap(chromedp.CSS(sel))
	}
	return chromedp.Click(chromedp.CSS(sel))
}

// submitLogin fills in alice's credentials on the login page the
// browser shows and presses the button; it does not wait for what
// follows.
func (j *journey) submitLogin() {
	j.t.Helper()
	j.b.step("submit the login form",
		chromedp.WaitVisible(chromedp.CSS("#password")),
		watchCSP(),
		clearInputs("login", "password"),
		chromedp.SendKeys(chromedp.CSS("#login"), aliceLogin),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		j.press("#submit"),
	)
}

// consentPage waits for the gateway's consent page.
func (j *journey) consentPage(what string) {
	j.t.Helper()
	j.b.step(what+": the consent page", chromedp.WaitVisible(chromedp.CSS("#allow, #rp-error")))
	if u := j.b.location(); !strings.HasPrefix(at(u), j.g.Issuer()+"/") || !j.shows("#allow") {
		j.b.fatalf("%s: want the gateway's consent page (#allow) at %s/…", what, j.g.Issuer())
	}
}

// answerConsent presses Allow or Deny (#allow, #deny) and waits for the
// app's callback on its origin.
func (j *journey) answerConsent(button string) {
	j.t.Helper()
	j.b.step("press "+button, watchCSP(), j.press(button))
	j.arrive("after pressing "+button, j.web.URL()+"/callback", true)
}

// shows reports whether an element matches sel.
func (j *journey) shows(sel string) bool {
	j.t.Helper()
	js := fmt.Sprintf(`document.querySelector(%q) !== null`, sel)
	return readAs(j.b, "look for "+sel, chromedp.Evaluate[bool](js))
}

// refused waits for the app's page and returns the app's refusal
// (#rp-error); it fails if the app signed someone in instead.
func (j *journey) refused() string {
	j.t.Helper()
	j.b.step("the app's page", chromedp.WaitVisible(chromedp.CSS("#rp-error, #signed-in-as")))
	if j.shows("#signed-in-as") {
		j.b.fatalf("the app signed %q in, want a refusal", j.b.read("#signed-in-as", chromedp.Text(chromedp.CSS("#signed-in-as"))))
	}
	return j.b.read("#rp-error", chromedp.TextContent(chromedp.CSS("#rp-error")))
}

// open navigates to start and returns the response of the page it ends
// on: its URL and its Content-Language.
func (j *journey) open(name, start string) (page *url.URL, contentLanguage string) {
	j.t.Helper()
	resp := readAs(j.b, name, chromedp.NavigateResponse(start))
	for k, v := range resp.Headers {
		if strings.EqualFold(k, "Content-Language") {
			contentLanguage, _ = v.(string)
		}
	}
	u, err := url.Parse(resp.URL)
	if err != nil {
		j.b.fatalf("%s: response URL %q: %v", name, resp.URL, err)
	}
	return u, contentLanguage
}

// silentHistory fails unless every page the browser showed since before
// (a NavigationEntries length) is the app's callback: no login or
// consent page on the way.
func (j *journey) silentHistory(what string, before int) {
	j.t.Helper()
	after := readAs(j.b, "history", chromedp.NavigationEntries())
	for _, e := range after.Entries[before:] {
		if !strings.HasPrefix(e.URL, j.web.URL()+"/callback?") {
			j.t.Errorf("%s showed %s, want only the app's callback", what, e.URL)
		}
	}
}

// historyLen is the number of entries in the browser's history.
func (j *journey) historyLen() int {
	j.t.Helper()
	return len(readAs(j.b, "history", chromedp.NavigationEntries()).Entries)
}

// TestJourneyConsentCrossOrigin: an app on another origin whose
// registration says consent: required (SPEC §3). The first sign-in goes
// from the login page to a consent page that names the app and each
// scope in words; Allow lands on the app's origin signed in as alice. A
// second sign-in is remembered and shows no page; prompt=consent asks
// again (OIDC Core §3.1.2.1), and Deny there answers the app with
// error=access_denied (RFC 6749 §4.1.2.1) on its origin, with no
// sign-in.
func TestJourneyConsentCrossOrigin(t *testing.T) {
	t.Parallel()
	j := startJourney(t, journeyOptions{consent: true})
	en := loadCatalog(t, "en")

	j.loginPage("first sign-in", j.web.URL()+"/start")
	j.submitLogin()
	j.consentPage("first sign-in")
	lead := j.b.read("consent lead", chromedp.TextContent(chromedp.CSS("p.lead")))
	if !strings.Contains(lead, "Third-party web app") || !strings.Contains(lead, aliceLogin) {
		t.Errorf("the consent page's lead %q does not name the app (Third-party web app) and alice", lead)
	}
	// The app asks for openid profile read: each is listed, in words.
	for _, sc := range []string{"openid", "profile", "read"} {
		sel := "#scopes li#scope-" + sc
		if !j.shows(sel) {
			t.Errorf("the consent page lists no %s", sel)
			continue
		}
		words := j.b.read(sel, chromedp.TextContent(chromedp.CSS(sel+" strong")))
		if want := en.msg(t, "scope."+sc); strings.TrimSpace(words) != want {
			t.Errorf("the consent page words scope %s as %q, want %q", sc, words, want)
		}
	}
	if n := readAs(j.b, "count scopes", chromedp.Evaluate[int](`document.querySelectorAll("#scopes li").length`)); n != 3 {
		t.Errorf("the consent page lists %d scopes, want 3 (openid, profile, read)", n)
	}
	j.answerConsent("#allow")
	first := j.signedIn(j.web.URL(), "GET")

	// Remembered: no login page, no consent page.
	before := j.historyLen()
	j.b.step("second sign-in", chromedp.Navigate(j.web.URL()+"/start"))
	j.arrive("second sign-in", j.web.URL()+"/callback", false)
	if s := j.signedIn(j.web.URL(), "GET"); s.SID != first.SID {
		t.Errorf("the second sign-in is in session %q, want the first one's %q", s.SID, first.SID)
	}
	j.silentHistory("the remembered sign-in", before)

	// prompt=consent asks again, although remembered.
	j.b.step("prompt=consent", chromedp.Navigate(j.web.URL()+"/start?prompt=consent"))
	j.consentPage("prompt=consent")
	if j.shows("#password") {
		t.Error("prompt=consent showed the login page as well; the session is live")
	}
	// The same scopes as allowed before: nothing is new, so the page
	// must not say the app asks for more.
	page := j.readTexts("main")
	if more := en.msg(t, "consent.more"); strings.Contains(page.Texts["main"], more) {
		t.Errorf("prompt=consent for the scopes alice allowed before says %q; nothing more is asked", more)
	}
	if n := readAs(j.b, "scopes marked new", chromedp.Evaluate[int](`[...document.querySelectorAll("#scopes li")].filter(li => /·/.test(li.textContent)).length`)); n != 0 {
		t.Errorf("prompt=consent marks %d scopes new; alice allowed them all before", n)
	}
	// Deny: the app is told access_denied and signs nobody in.
	signIns := len(j.web.SignIns())
	j.answerConsent("#deny")
	if why := j.refused(); !strings.Contains(why, "access_denied") {
		t.Errorf("after Deny the app says %q, want the authorization error access_denied", why)
	}
	if n := len(j.web.SignIns()); n != signIns {
		t.Errorf("the app completed a sign-in after Deny (%d sign-ins, want %d)", n, signIns)
	}
}

// catalog is a language's messages (webui/messages/<tag>.json), read
// as the binary under test was built, with English to compare.
type catalog struct {
	tag    string
	m, en  map[string]string
	source string
}

// loadCatalog reads the catalog of tag.
func loadCatalog(t *testing.T, tag string) catalog {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	read := func(tag string) map[string]string {
		b, err := os.ReadFile(filepath.Join(root, "webui", "messages", tag+".json"))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("webui/messages/%s.json: %v", tag, err)
		}
		return m
	}
	return catalog{tag: tag, m: read(tag), en: read("en"), source: "webui/messages/" + tag + ".json"}
}

// msg is the message of key. Outside English, a message still equal to
// the English one is reported: the page could not show that it is in
// the language.
func (c catalog) msg(t *testing.T, key string) string {
	t.Helper()
	v, ok := c.m[key]
	switch {
	case !ok:
		t.Errorf("%s has no %q", c.source, key)
	case c.tag != "en" && v == c.en[key]:
		t.Errorf("%s: %q is still the English %q, so the page cannot show it is in %s; translate it", c.source, key, v, c.tag)
	}
	return v
}

// pageTexts are what a page says: its language and the text of some
// elements (by selector; "" for none).
type pageTexts struct {
	Lang  string            `json:"lang"`
	Title string            `json:"title"`
	Texts map[string]string `json:"texts"`
}

// readTexts reads <html lang>, the title and the text of each selector.
func (j *journey) readTexts(sels ...string) pageTexts {
	j.t.Helper()
	list, _ := json.Marshal(sels)
	js := `((sels) => {
  const texts = {};
  for (const s of sels) {
    const e = document.querySelector(s);
    texts[s] = e ? e.textContent.trim() : "";
  }
  return {lang: document.documentElement.lang, title: document.title, texts};
})(` + string(list) + `)`
	return readAs(j.b, "read the page's texts", chromedp.Evaluate[pageTexts](js))
}

// inLanguage checks that the page the browser shows is in c's language:
// <html lang>, the title starting with the message titleKey, and each
// selector's text being the message of its key.
func (j *journey) inLanguage(page string, c catalog, titleKey string, want map[string]string) {
	j.t.Helper()
	sels := []string{}
	for s := range want {
		sels = append(sels, s)
	}
	slices.Sort(sels)
	got := j.readTexts(sels...)
	if got.Lang != c.tag {
		j.t.Errorf("%s: <html lang=%q>, want %q", page, got.Lang, c.tag)
	}
	if w := c.msg(j.t, titleKey); !strings.HasPrefix(got.Title, w) {
		j.t.Errorf("%s: title %q, want it to start with %s's %q (%s)", page, got.Title, c.tag, w, titleKey)
	}
	for _, s := range sels {
		if w := c.msg(j.t, want[s]); got.Texts[s] != w {
			j.t.Errorf("%s: %s reads %q, want %s's %q (%s)", page, s, got.Texts[s], c.tag, w, want[s])
		}
	}
}

// TestJourneyLanguages: the journey in another language, chosen as the
// SPEC orders it — the request's ui_locales, then the user's locale,
// then Accept-Language. The login page's heading and button, the
// consent page and the sign-out confirmation read as the catalog of
// that language says, <html lang> and Content-Language name it. The
// expected texts come from webui/messages, so translators may change
// them; a text still in English fails, as the page could not show its
// language.
func TestJourneyLanguages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// acceptLang is the browser's; uiLocales the app sends, at
		// sign-in and sign-out; userLocale is alice's in the config.
		acceptLang, uiLocales, userLocale string
		// login is the language of the login page, where nobody is
		// signed in yet; after that of the pages that follow.
		login, after string
	}{
		{name: "German by Accept-Language", acceptLang: "de", login: "de", after: "de"},
		{name: "Bulgarian by ui_locales over Accept-Language", acceptLang: "de", uiLocales: "bg", login: "bg", after: "bg"},
		{name: "German by the user's locale over Accept-Language", acceptLang: "bg", userLocale: "de", login: "bg", after: "de"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := journeyOptions{consent: true, acceptLang: tc.acceptLang}
			if tc.userLocale != "" {
				o.edit = func(cfg string, _ *webRP) string {
					return a11yReplace(cfg, "    email: alice@example.com\n", "    email: alice@example.com\n    locale: "+tc.userLocale+"\n")
				}
			}
			j := startJourney(t, o)
			login, after := loadCatalog(t, tc.login), loadCatalog(t, tc.after)
			q := ""
			if tc.uiLocales != "" {
				q = "ui_locales=" + url.QueryEscape(tc.uiLocales)
			}
			withQuery := func(path string, more ...string) string {
				parts := slices.DeleteFunc(append(more, q), func(s string) bool { return s == "" })
				if len(parts) == 0 {
					return j.web.URL() + path
				}
				return j.web.URL() + path + "?" + strings.Join(parts, "&")
			}
			contentLanguage := func(page, got, want string) {
				t.Helper()
				if got != want {
					t.Errorf("%s: Content-Language %q, want %q", page, got, want)
				}
			}

			// The login page.
			page, cl := j.open("the app's sign-in", withQuery("/start"))
			if at(page) != j.g.Issuer()+"/account/login" {
				j.b.fatalf("the app's sign-in led to %s, want the login page", page)
			}
			contentLanguage("login page", cl, tc.login)
			j.b.step("the login page", chromedp.WaitVisible(chromedp.CSS("#password")))
			j.inLanguage("login page", login, "login.title", map[string]string{"h1": "login.heading", "#submit": "login.submit"})

			// The consent page, reached by the login form's answer.
			j.submitLogin()
			j.consentPage("sign-in")
			consent := map[string]string{"h1": "consent.heading", "#allow": "consent.allow", "#deny": "consent.deny",
				"#scope-read strong": "scope.read"}
			j.inLanguage("consent page", after, "consent.title", consent)
			j.answerConsent("#allow")
			j.signedIn(j.web.URL(), "GET")

			// The consent page again (prompt=consent), reached by a
			// navigation whose response headers can be read.
			page, cl = j.open("prompt=consent", withQuery("/start", "prompt=consent"))
			if !strings.HasPrefix(at(page), j.g.Issuer()+"/") {
				j.b.fatalf("prompt=consent led to %s, want the gateway's consent page", page)
			}
			j.consentPage("prompt=consent")
			contentLanguage("consent page", cl, tc.after)
			j.inLanguage("consent page (prompt=consent)", after, "consent.title", consent)

			// The sign-out confirmation.
			page, cl = j.open("the app's sign-out", withQuery("/logout"))
			if at(page) != j.g.Issuer()+"/connect/endsession" {
				j.b.fatalf("the app's sign-out led to %s, want the confirmation at %s/connect/endsession", page, j.g.Issuer())
			}
			contentLanguage("sign-out confirmation", cl, tc.after)
			j.b.step("the sign-out confirmation", chromedp.WaitVisible(chromedp.CSS("#confirm")))
			j.inLanguage("sign-out confirmation", after, "logout.title", map[string]string{"h1": "logout.heading", "#confirm": "logout.submit"})
			j.b.step("confirm", watchCSP(), j.press("#confirm"))
			j.arrive("after confirming", j.web.URL()+"/signed-out", true)
			j.appShows("signed-out")
		})
	}
}

// The operator's brand in TestJourneyBrand.
const (
	brandProduct = "Acme ERP"
	brandPrimary = "#7a1fa2"
	brandRGB     = "rgb(122, 31, 162)"
	brandLink    = "Acme help desk"
	brandLinkURL = "https://help.acme.example/"
	brandLogoSVG = `<svg xmlns="http://www.w3.org/2000/svg" width="40" height="24" viewBox="0 0 40 24">` +
		`<rect width="40" height="24" rx="4" fill="#7a1fa2"/></svg>`
)

// brandShown is what a page shows of the brand.
type brandShown struct {
	Product   string       `json:"product"`
	Title     string       `json:"title"`
	LogoPath  string       `json:"logoPath"`
	LogoV     string       `json:"logoV"`
	LogoWidth int          `json:"logoWidth"`
	Brand     string       `json:"brand"`
	Button    string       `json:"button"`
	Links     []footerLink `json:"links"`
}

// footerLink is a link in a page's footer.
type footerLink struct {
	Text string `json:"text"`
	Href string `json:"href"`
}

// readBrand reads the brand of the page the browser shows; button is
// the selector of its primary button. It waits for the logo to load.
func (j *journey) readBrand(button string) brandShown {
	j.t.Helper()
	js := `new Promise(resolve => {
  const q = s => document.querySelector(s);
  const logo = q("header.top img.logo"), btn = q(` + fmt.Sprintf("%q", button) + `);
  const done = () => {
    const src = logo ? new URL(logo.getAttribute("src") || "", location.href) : null;
    resolve({
      product: (q("header.top .product") || {textContent: ""}).textContent.trim(),
      title: document.title,
      logoPath: src ? src.pathname : "", logoV: src ? src.searchParams.get("v") || "" : "",
      logoWidth: logo ? logo.naturalWidth : -1,
      brand: getComputedStyle(document.documentElement).getPropertyValue("--brand").trim(),
      button: btn ? getComputedStyle(btn).backgroundColor : "",
      links: [...document.querySelectorAll("footer.foot a")].map(a => ({text: a.textContent.trim(), href: a.getAttribute("href")})),
    });
  };
  if (!logo || logo.complete) return done();
  logo.addEventListener("load", done);
  logo.addEventListener("error", done);
})`
	return readAs(j.b, "read the brand", chromedp.Evaluate[brandShown](js, chromedp.EvalAwaitPromise))
}

// checkBrand checks that the page shows the brand of TestJourneyBrand.
func (j *journey) checkBrand(page string, s brandShown) {
	j.t.Helper()
	t := j.t
	if s.Product != brandProduct {
		t.Errorf("%s: the header's product name is %q, want %q", page, s.Product, brandProduct)
	}
	if !strings.HasSuffix(s.Title, brandProduct) {
		t.Errorf("%s: title %q does not end with %q", page, s.Title, brandProduct)
	}
	switch {
	case s.LogoWidth < 0:
		t.Errorf("%s: no <img class=logo> in the header", page)
	case s.LogoPath != "/id/account/static/logo" || s.LogoV == "":
		t.Errorf("%s: the logo is at %s?v=%s, want /id/account/static/logo?v=<hash>", page, s.LogoPath, s.LogoV)
	case s.LogoWidth == 0:
		t.Errorf("%s: the logo image did not load (naturalWidth 0)", page)
	}
	if s.Brand != brandPrimary {
		t.Errorf("%s: --brand is %q, want %s", page, s.Brand, brandPrimary)
	}
	if s.Button != brandRGB {
		t.Errorf("%s: the primary button's background is %q, want %s (%s)", page, s.Button, brandRGB, brandPrimary)
	}
	if !slices.Contains(s.Links, footerLink{Text: brandLink, Href: brandLinkURL}) {
		t.Errorf("%s: the footer's links %+v do not include %q to %s", page, s.Links, brandLink, brandLinkURL)
	}
}

// TestJourneyBrand: the operator's ui: section — product name, logo,
// primary colour, a footer link and signed_out_url — on the pages of
// the journey. The login page names "Acme ERP" in its header and title,
// loads the logo from the gateway, colours its button with the primary
// colour and links the help desk in its footer; so does the sign-out
// confirmation. A sign-out at the gateway with no app to return to
// lands at signed_out_url, here a page of the app on another origin,
// which the confirmation's CSP must allow the redirect to.
func TestJourneyBrand(t *testing.T) {
	t.Parallel()
	logo := filepath.Join(t.TempDir(), "acme-logo.svg")
	if err := os.WriteFile(logo, []byte(brandLogoSVG), 0o600); err != nil {
		t.Fatal(err)
	}
	j := startJourney(t, journeyOptions{edit: func(cfg string, web *webRP) string {
		return strings.TrimRight(cfg, "\n") + fmt.Sprintf(`

ui:
  product_name: %q
  logo_file: %q
  colors:
    primary: %q
  signed_out_url: %q
  footer_links:
    - text: %q
      url: %q
`, brandProduct, logo, brandPrimary, web.URL()+"/probe", brandLink, brandLinkURL)
	}})

	j.loginPage("the app's sign-in", j.web.URL()+"/start")
	j.checkBrand("login page", j.readBrand("#submit"))
	j.signIn(j.web.URL() + "/callback")
	j.signedIn(j.web.URL(), "GET")

	// The gateway's own sign-out, with no app to return to.
	j.b.step("the gateway's sign-out", chromedp.Navigate(j.g.Issuer()+"/connect/endsession"), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	j.checkBrand("sign-out confirmation", j.readBrand("#confirm"))
	j.b.step("confirm", watchCSP(), chromedp.Click(chromedp.CSS("#confirm")))
	j.arrive("after signing out", j.web.URL()+"/probe", true)
	j.appShows("probe")
	if p := j.web.Probes(); !slices.Equal(p, []string{"GET " + j.web.URL()}) {
		t.Errorf("signed_out_url (the app's /probe) received %v, want one GET at %s", p, j.web.URL())
	}
	// Signed out: the app's sign-in asks for the password again.
	j.loginPage("sign-in after signing out", j.web.URL()+"/start")
}

// phoneScreen is the phone of TestJourneyPhone (a11y_test.go's too).
var phoneScreen = a11yViewport{name: "phone", width: 390, height: 844, scale: 3, mobile: true}

// phoneFit is how a page fits the phone's screen.
type phoneFit struct {
	InnerWidth  int  `json:"innerWidth"`
	InnerHeight int  `json:"innerHeight"`
	ScrollWidth int  `json:"scrollWidth"`
	Found       bool `json:"found"`
	Rect        struct {
		Left   float64 `json:"left"`
		Right  float64 `json:"right"`
		Top    float64 `json:"top"`
		Bottom float64 `json:"bottom"`
	} `json:"rect"`
	Covered string `json:"covered"`
}

// fitsPhone checks that the page does not scroll sideways on the phone
// (its layout viewport being the phone's width, so a page without a
// viewport meta cannot pass by being laid out at 980px) and that its
// primary button, scrolled to, is inside the viewport and not covered.
func (j *journey) fitsPhone(page, button string) {
	j.t.Helper()
	js := `((sel) => {
  const e = document.querySelector(sel);
  const out = {innerWidth: window.innerWidth, innerHeight: window.innerHeight,
    scrollWidth: document.documentElement.scrollWidth, found: !!e, rect: {}, covered: ""};
  if (!e) return out;
  e.scrollIntoView({block: "center", inline: "nearest"});
  const r = e.getBoundingClientRect();
  out.rect = {left: r.left, right: r.right, top: r.top, bottom: r.bottom};
  const hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
  if (hit !== e && !e.contains(hit)) out.covered = hit ? hit.outerHTML.slice(0, 120) : "nothing there";
  return out;
})(` + fmt.Sprintf("%q", button) + `)`
	f := readAs(j.b, page+": layout", chromedp.Evaluate[phoneFit](js))
	w := int(phoneScreen.width)
	if f.InnerWidth != w {
		j.t.Errorf("%s: laid out %dpx wide on a %dpx phone (no viewport meta?)", page, f.InnerWidth, w)
	}
	if f.ScrollWidth > f.InnerWidth {
		j.t.Errorf("%s: scrolls sideways: scrollWidth %d > innerWidth %d", page, f.ScrollWidth, f.InnerWidth)
	}
	r := f.Rect
	switch {
	case !f.Found:
		j.t.Errorf("%s: no primary button %s", page, button)
	case r.Right <= r.Left || r.Bottom <= r.Top:
		j.t.Errorf("%s: the primary button %s is zero-sized", page, button)
	case r.Left < 0 || r.Right > float64(f.InnerWidth) || r.Top < 0 || r.Bottom > float64(f.InnerHeight):
		j.t.Errorf("%s: the primary button %s at x %.0f–%.0f, y %.0f–%.0f is not inside the %dx%d viewport",
			page, button, r.Left, r.Right, r.Top, r.Bottom, f.InnerWidth, f.InnerHeight)
	case f.Covered != "":
		j.t.Errorf("%s: the primary button %s is covered by %s", page, button, f.Covered)
	}
}

// TestJourneyPhone: the journey on a 390x844 phone (mobile viewport,
// touch), every button tapped: the app's sign-in, the login page, the
// consent page, the account page and the sign-out confirmation each fit
// the screen with no sideways scroll, their primary button inside it.
func TestJourneyPhone(t *testing.T) {
	t.Parallel()
	j := startJourney(t, journeyOptions{consent: true, phone: true})

	j.loginPage("the app's sign-in", j.web.URL()+"/start")
	j.fitsPhone("login page", "#submit")
	j.submitLogin()
	j.consentPage("sign-in")
	j.fitsPhone("consent page", "#allow")
	j.answerConsent("#allow")
	j.signedIn(j.web.URL(), "GET")

	j.accountOnPhone()

	j.b.step("the app's sign-out", chromedp.Navigate(j.web.URL()+"/logout"), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	j.fitsPhone("sign-out confirmation", "#confirm")
	j.b.step("confirm", watchCSP(), j.press("#confirm"))
	j.arrive("after confirming", j.web.URL()+"/signed-out", true)
	j.appShows("signed-out")
}

// accountPage opens the account page and waits for its profile.
func (j *journey) accountPage(what string) {
	j.t.Helper()
	j.b.step(what, chromedp.Navigate(j.g.Issuer()+"/account"), chromedp.WaitVisible(chromedp.CSS("#profile-name")))
	if u := j.b.location(); at(u) != j.g.Issuer()+"/account" {
		j.b.fatalf("%s: the account page is at %s, want %s/account", what, u, j.g.Issuer())
	}
}

// consentRow is the selector of the account page's row of the web
// app's consent (its id holds the client_id's "." and "/").
const consentRow = `#consents li[id="consent-` + webRPClient + `"]`

// TestJourneyAccount: signed in through the app on another origin,
// alice opens the account page (SPEC §10). Her profile shows her name
// and email; my sessions lists this browser's sign-in, the one the app
// got in its ID token (sid); a new password that is too short is
// refused with an error tied to its field; her consents list the app
// with the scopes in words, and revoking it there removes it, so the
// app's next sign-in asks for consent again (with no login page: the
// session is still live).
func TestJourneyAccount(t *testing.T) {
	t.Parallel()
	j := startJourney(t, journeyOptions{consent: true})
	en := loadCatalog(t, "en")
	j.loginPage("the app's sign-in", j.web.URL()+"/start")
	j.submitLogin()
	j.consentPage("sign-in")
	j.answerConsent("#allow")
	signIn := j.signedIn(j.web.URL(), "GET")

	// My sessions: this browser, in the session the app was given.
	j.b.step("my sessions", chromedp.Navigate(j.g.Issuer()+"/account/sessions"), chromedp.WaitVisible(chromedp.CSS("#sessions, #no-sessions")))
	row := `#sessions tr[id="session-` + signIn.SID + `"]`
	switch got := j.readTexts(row, row+".current #this-browser", row+" .browser", "#sessions tbody"); {
	case got.Texts[row] == "":
		t.Errorf("my sessions has no row for this browser's session %q (the app's sid); it lists: %q", signIn.SID, got.Texts["#sessions tbody"])
	case got.Texts[row+".current #this-browser"] != en.msg(t, "account.sessions.this_browser"):
		t.Errorf("my sessions does not mark the row of session %q as this browser: %q", signIn.SID, got.Texts[row])
	case !strings.Contains(got.Texts[row+" .browser"], "Chrome"):
		t.Errorf("my sessions names this browser %q, want Chrome (Chromium's User-Agent)", got.Texts[row+" .browser"])
	}

	// Change password: a new one that is too short is refused, the
	// error tied to its field.
	j.b.step("change password, too short",
		chromedp.Navigate(j.g.Issuer()+"/account/password"),
		chromedp.WaitVisible(chromedp.CSS("#new-password")),
		chromedp.SendKeys(chromedp.CSS("#current-password"), alicePassword),
		chromedp.SendKeys(chromedp.CSS("#new-password"), "short"),
		chromedp.SendKeys(chromedp.CSS("#new-password-again"), "short"),
		j.press("#change-password"),
		chromedp.WaitVisible(chromedp.CSS("#new-password-error, #error, #message")),
	)
	type fieldError struct {
		Invalid   string `json:"invalid"`
		Described string `json:"described"`
		MinLength string `json:"minLength"`
		Error     string `json:"error"`
		Other     string `json:"other"`
	}
	fe := readAs(j.b, "the password form's error", chromedp.Evaluate[fieldError](`(() => {
  const f = document.getElementById("new-password"), e = document.getElementById("new-password-error");
  const o = document.querySelector("#error, #message");
  return {invalid: f ? f.getAttribute("aria-invalid") || "" : "", described: f ? f.getAttribute("aria-describedby") || "" : "",
    minLength: f ? f.getAttribute("minlength") || "" : "", error: e ? e.textContent.trim() : "", other: o ? o.textContent.trim() : ""};
})()`))
	want := fmt.Sprintf(en.msg(t, "account.password.error.too_short"), atoi(fe.MinLength))
	switch {
	case fe.Error == "":
		j.b.fatalf("a too-short new password shows no error at its field (#new-password-error); the page says %q", fe.Other)
	case fe.Error != want:
		t.Errorf("the new password's error reads %q, want %q", fe.Error, want)
	}
	if fe.Invalid != "true" || !slices.Contains(strings.Fields(fe.Described), "new-password-error") {
		t.Errorf("#new-password has aria-invalid=%q aria-describedby=%q, want \"true\" and naming new-password-error", fe.Invalid, fe.Described)
	}

	j.accountPage("the account page")
	got := j.readTexts("#profile-name", "#profile-login", "#profile-email", consentRow+" strong", consentRow)
	if v := got.Texts["#profile-name"]; v != "Alice Example" {
		t.Errorf("the profile's name is %q, want Alice Example", v)
	}
	if v := got.Texts["#profile-login"]; v != aliceLogin {
		t.Errorf("the profile's login is %q, want %s", v, aliceLogin)
	}
	if v := got.Texts["#profile-email"]; !strings.HasPrefix(v, "alice@example.com") {
		t.Errorf("the profile's email is %q, want alice@example.com", v)
	}
	switch row := got.Texts[consentRow]; {
	case row == "":
		j.b.fatalf("my consents has no row %s for the app alice allowed", consentRow)
	case got.Texts[consentRow+" strong"] != "Third-party web app":
		t.Errorf("my consents names the app %q, want Third-party web app", got.Texts[consentRow+" strong"])
	case !strings.Contains(row, en.msg(t, "scope.read")):
		t.Errorf("my consents' row %q does not word the scope read as %q", row, en.msg(t, "scope.read"))
	}

	// Revoke it: gone from the page, and the next sign-in asks again.
	j.b.step("revoke the app's consent", j.press(consentRow+" button"), chromedp.WaitVisible(chromedp.CSS("#message")))
	if j.shows(consentRow) {
		t.Errorf("after revoking, my consents still lists the app (%s)", consentRow)
	}
	j.b.step("sign-in after revoking", chromedp.Navigate(j.web.URL()+"/start"))
	j.consentPage("sign-in after revoking")
	j.answerConsent("#allow")
	j.signedIn(j.web.URL(), "GET")
}

// accountOnPhone opens the account page on the phone and checks it
// fits.
func (j *journey) accountOnPhone() {
	j.t.Helper()
	j.accountPage("the account page")
	j.fitsPhone("account page", consentRow+" button")
	j.b.step("the password page", chromedp.Navigate(j.g.Issuer()+"/account/password"), chromedp.WaitVisible(chromedp.CSS("#change-password")))
	j.fitsPhone("account page, change password", "#change-password")
	j.b.step("my sessions", chromedp.Navigate(j.g.Issuer()+"/account/sessions"), chromedp.WaitVisible(chromedp.CSS("#end-this")))
	j.fitsPhone("account page, my sessions", "#end-this")
}

// atoi is s as a number, or -1.
func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
