package e2e

import (
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// The proxy's own answers as a browser sees them, through the built
// binary: a page of the kit with a next step, the status and headers an
// API client gets with its JSON (proxy/pages.go).

// pageLink finds the href of a next-step link by its id.
var pageLink = regexp.MustCompile(`<a class="button[^"]*" id="([a-z-]+)" href="([^"]*)"`)

// browserPage sends a navigation (the browser's Accept; headers are
// name, value pairs) without following redirects.
func browserPage(t *testing.T, g *Gateway, method, u string, headers ...string) response {
	t.Helper()
	return g.call(t, method, u, "", append([]string{"Accept", browserAccept}, headers...)...)
}

// wantPage checks a page of the kit: status, layout and the next-step
// link id, whose href it returns.
func wantPage(t *testing.T, what string, resp response, status int, code, nextID string) string {
	t.Helper()
	body := string(resp.Body)
	if resp.Status != status || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("%s: %d %s, want a %d page:\n%s", what, resp.Status, resp.Header.Get("Content-Type"), status, body)
	}
	for _, want := range []string{`<meta name="viewport"`, `<main id="main"`, `<code id="error-code">` + code + `</code>`} {
		if !strings.Contains(body, want) {
			t.Errorf("%s: page lacks %s:\n%s", what, want, body)
		}
	}
	if resp.Header.Get("Content-Language") == "" || !strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("%s: Content-Language %q, CSP %q", what, resp.Header.Get("Content-Language"), resp.Header.Get("Content-Security-Policy"))
	}
	for _, m := range pageLink.FindAllStringSubmatch(body, -1) {
		if m[1] == nextID {
			return html.UnescapeString(m[2])
		}
	}
	t.Errorf("%s: no #%s link:\n%s", what, nextID, body)
	return ""
}

// TestBrowserPages: no route, sign-in required (and its link signing in
// for real), and sign-out landing on ui.signed_out_url.
func TestBrowserPages(t *testing.T) {
	t.Parallel()
	const landing = "https://www.example.com/goodbye"
	g := startGateway(t, gatewayOptions{Edit: func(c string) string {
		return c + "\nui:\n  signed_out_url: " + landing + "\n"
	}})

	t.Run("no route", func(t *testing.T) {
		u := g.PublicURL + "/no/route/matches/this"
		page := browserPage(t, g, http.MethodGet, u, "Accept-Language", "de")
		if home := wantPage(t, "404", page, http.StatusNotFound, "not_found", "home"); home != "/" {
			t.Errorf("404: next step %q, want /", home)
		}
		if got := page.Header.Get("Content-Language"); got != "de" {
			t.Errorf("404 with Accept-Language: de: Content-Language %q", got)
		}
		api := g.call(t, http.MethodGet, u, "")
		if api.Status != http.StatusNotFound {
			t.Errorf("404 for an API client: %s", api)
		}
		checkJSONError(t, api, "not_found")
	})

	t.Run("sign-in required", func(t *testing.T) {
		// A form posted without a session is not redirected (its body
		// would be lost): 401, with a sign-in link.
		u := g.PublicURL + personsPath
		page := browserPage(t, g, http.MethodPost, u)
		signIn := wantPage(t, "POST without a session", page, http.StatusUnauthorized, "unauthorized", "signin")
		if signIn != "/oauth2/start?rd=%2F" {
			t.Errorf("sign-in link %q", signIn)
		}
		// RFC 9728 §5.1: the challenge names the resource's metadata.
		want := `Bearer realm="erpgate", resource_metadata="` + g.PublicURL + "/.well-known/oauth-protected-resource" + personsPath + `"`
		if got := page.Header.Get("WWW-Authenticate"); got != want {
			t.Errorf("WWW-Authenticate %q, want %q", got, want)
		}
		api := g.call(t, http.MethodPost, u, "")
		if api.Status != http.StatusUnauthorized || api.Header.Get("WWW-Authenticate") != want {
			t.Errorf("POST without a token, API client: %s", api)
		}
		checkJSONError(t, api, "unauthorized")

		// A token the gateway refuses: invalid_token, and the link signs
		// in and comes back to the page.
		reports := g.PublicURL + "/api/domain/html/reports?year=2026"
		page = browserPage(t, g, http.MethodGet, reports, "Authorization", "Bearer not-a-token")
		signIn = wantPage(t, "a refused token", page, http.StatusUnauthorized, "invalid_token", "signin")
		want = `Bearer realm="erpgate", error="invalid_token", resource_metadata="` + g.PublicURL + "/.well-known/oauth-protected-resource/api/domain/html/reports" + `"`
		if got := page.Header.Get("WWW-Authenticate"); got != want {
			t.Errorf("WWW-Authenticate %q, want %q", got, want)
		}
		b := newHTTPBrowser(t)
		resp, body := b.signIn(g, g.PublicURL+signIn, aliceLogin, alicePassword)
		if m := subjectRe.FindStringSubmatch(body); resp.StatusCode != http.StatusOK || m == nil || m[1] != aliceLogin {
			t.Fatalf("after the sign-in link: %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
		}
		if resp.Request.URL.String() != reports {
			t.Errorf("the sign-in link came back to %s, want %s", resp.Request.URL, reports)
		}

		// Sign-out lands on ui.signed_out_url (through the issuer).
		noFollow := *b.client
		var chain []string
		noFollow.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
			chain = append(chain, r.URL.String())
			if r.URL.Host == "www.example.com" {
				return http.ErrUseLastResponse
			}
			return nil
		}
		out := &browser{t: t, client: &noFollow}
		resp, _ = out.do(http.MethodGet, g.PublicURL+"/oauth2/sign_out", nil)
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || loc != landing {
			t.Errorf("sign-out ended at %d Location %q (via %v), want %s", resp.StatusCode, loc, chain, landing)
		}
		resp, body = b.do(http.MethodGet, reports, nil)
		if !strings.Contains(body, `id="password"`) {
			t.Errorf("the page after sign-out: %d at %s, want the login page", resp.StatusCode, resp.Request.URL)
		}
	})

	t.Run("sign-out confirmation", func(t *testing.T) {
		page := browserPage(t, g, http.MethodGet, g.PublicURL+"/oauth2/sign_out", "Sec-Fetch-Site", "cross-site")
		body := string(page.Body)
		if page.Status != http.StatusOK || !strings.Contains(body, `<form method="post" action="/oauth2/sign_out">`) || !strings.Contains(body, `<main id="main"`) {
			t.Fatalf("cross-site sign-out: %s", page)
		}
		// The form's answer redirects to the issuer and on to the
		// landing: CSP3 form-action must allow both.
		csp := page.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "form-action 'self' "+g.PublicURL+" https://www.example.com;") {
			t.Errorf("CSP %q", csp)
		}
	})
}

// TestBrowserPagesLicense: one slot, kept for admin (license.reserved),
// so alice's first call after signing in finds none.
func TestBrowserPagesLicense(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{Edit: func(c string) string {
		if !strings.Contains(c, "  slots: 10\n") {
			t.Fatal("config.example.yaml no longer has slots: 10")
		}
		return strings.Replace(c, "  slots: 10\n", "  slots: 1\n", 1)
	}})
	page := g.PublicURL + "/api/domain/html/x"
	b := newHTTPBrowser(t)
	resp, body := b.signIn(g, page, aliceLogin, alicePassword)
	got := response{Status: resp.StatusCode, Header: resp.Header, Body: []byte(body)}
	if retry := wantPage(t, "no license slot", got, http.StatusForbidden, "MaximumLicenseCountExceeded", "retry"); retry != "/api/domain/html/x" {
		t.Errorf("Try again link %q", retry)
	}
	if !strings.Contains(body, "All licenses are in use") {
		t.Errorf("the page does not say so in words:\n%s", body)
	}
	// An API client gets the JSON.
	api := g.call(t, http.MethodGet, g.PublicURL+personsPath, g.token(t, syncClient, syncSecret))
	if api.Status != http.StatusForbidden {
		t.Fatalf("API client without a slot: %s", api)
	}
	checkJSONError(t, api, "MaximumLicenseCountExceeded")
}

// TestBrowserPagesUpstreamDown: `erpgate serve` starts no sample
// upstream, so every route's upstream is down: 502, as a page.
func TestBrowserPagesUpstreamDown(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{Serve: true})
	u := g.PublicURL + healthPath + "?probe=1"
	page := browserPage(t, g, http.MethodGet, u)
	if retry := wantPage(t, "upstream down", page, http.StatusBadGateway, "bad_gateway", "retry"); retry != healthPath+"?probe=1" {
		t.Errorf("Try again link %q", retry)
	}
	if !strings.Contains(string(page.Body), "The service is not answering") {
		t.Errorf("502 page:\n%s", page.Body)
	}
	if strings.Contains(string(page.Body), g.Upstream) {
		t.Errorf("502 page reveals the upstream address %s", g.Upstream)
	}
	api := g.call(t, http.MethodGet, u, "")
	if api.Status != http.StatusBadGateway {
		t.Errorf("API client, upstream down: %s", api)
	}
	checkJSONError(t, api, "bad_gateway")
}
