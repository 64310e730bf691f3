package e2e

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// browserAccept is what Chromium sends when it navigates.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

// browser is an HTTP client that keeps cookies and asks for HTML, enough
// of a browser for the gateway's login flow without Chromium.
type browser struct {
	t      *testing.T
	client *http.Client
}

func newHTTPBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, client: &http.Client{Jar: jar, Timeout: httpTimeout}}
}

// do sends a request with the browser's Accept header, follows
// redirects, and returns the last response with its body.
func (b *browser) do(method, u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(b.t.Context(), method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", browserAccept)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, string(out)
}

var (
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	subjectRe   = regexp.MustCompile(`<strong id="subject">([^<]*)</strong>`)
)

// signIn opens page, expects the login page, signs in and returns the
// page it lands on.
func (b *browser) signIn(g *Gateway, page, login, password string) (*http.Response, string) {
	b.t.Helper()
	resp, body := b.do(http.MethodGet, page, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="password"`) {
		b.t.Fatalf("GET %s: %d at %s, want the login page:\n%s", page, resp.StatusCode, resp.Request.URL, body)
	}
	form := url.Values{"login": {login}, "password": {password}}
	for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return b.do(http.MethodPost, g.Issuer()+"/account/login", form)
}

// TestBrowserSessionHTTP runs browser login with a plain HTTP client
// against the built binary: sign-in, userinfo, a burst of requests when
// the access token is about to expire (one refresh for all of them, so
// the issuer's refresh-token rotation never sees a reuse), API callers
// without redirects, and sign-out.
func TestBrowserSessionHTTP(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{Edit: func(cfg string) string {
		// Short-lived access tokens, so the session refreshes within the test.
		return strings.Replace(cfg, "access_token_ttl: 1h", "access_token_ttl: 4s", 1)
	}})
	page := g.PublicURL + "/api/domain/html/x"

	// API callers get 401, never a redirect.
	if resp := g.call(t, http.MethodGet, page, ""); resp.Status != http.StatusUnauthorized || resp.Header.Get("Location") != "" {
		t.Errorf("GET the page without Accept: text/html: %s", resp)
	}

	b := newHTTPBrowser(t)
	resp, body := b.signIn(g, page, aliceLogin, alicePassword)
	if m := subjectRe.FindStringSubmatch(body); resp.StatusCode != http.StatusOK || m == nil || m[1] != aliceLogin {
		t.Fatalf("after sign-in: %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	if resp.Request.URL.String() != page {
		t.Errorf("after sign-in at %s, want %s", resp.Request.URL, page)
	}

	resp, body = b.do(http.MethodGet, g.PublicURL+"/oauth2/userinfo", nil)
	var ui map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &ui) != nil || ui["sub"] != aliceLogin || ui["sid"] == nil {
		t.Errorf("userinfo: %d %s", resp.StatusCode, body)
	}

	// Wait until less than a third of the 4 s lifetime is left, then send
	// a burst with the same cookie.
	time.Sleep(3 * time.Second)
	const burst = 8
	var wg sync.WaitGroup
	for range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := b.do(http.MethodGet, page, nil)
			if m := subjectRe.FindStringSubmatch(body); resp.StatusCode != http.StatusOK || m == nil || m[1] != aliceLogin {
				t.Errorf("request in the refresh burst: %d at %s", resp.StatusCode, resp.Request.URL)
			}
		}()
	}
	wg.Wait()
	if n := countRefreshes(g.Stderr()); n != 1 {
		t.Errorf("%d refresh_token grants for a burst of %d requests, want 1", n, burst)
	}
	for _, e := range auditEvents(t, g.Stderr()) {
		if e.Event == "token.refused" || (e.Event == "session.ended" && e.Reason != "logout") {
			t.Errorf("unexpected %s (%s) during the refresh burst", e.Event, e.Reason)
		}
	}

	// Sign out: back at public_url + "/", and the page asks for login.
	resp, _ = b.do(http.MethodGet, g.PublicURL+"/oauth2/sign_out", nil)
	if resp.Request.URL.String() != g.PublicURL+"/" {
		t.Errorf("after sign-out at %s, want %s/", resp.Request.URL, g.PublicURL)
	}
	resp, body = b.do(http.MethodGet, page, nil)
	if !strings.Contains(body, `id="password"`) || strings.Contains(body, `id="subject"`) {
		t.Errorf("the page after sign-out: %d at %s, want the login page", resp.StatusCode, resp.Request.URL)
	}
	if resp, _ := b.do(http.MethodGet, g.PublicURL+"/oauth2/userinfo", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo after sign-out: %d", resp.StatusCode)
	}
}

// countRefreshes counts the refresh_token grants in the audit log.
func countRefreshes(log string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		var e struct {
			Event     string `json:"event"`
			GrantType string `json:"grant_type"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Event == "token.issued" && e.GrantType == "refresh_token" {
			n++
		}
	}
	return n
}
