package gateway

import (
	"encoding/json"
	"github.com/erpgate/erpgate/mfa"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// stepUpBrowser is enough of a browser for the gateway's login: cookies,
// an HTML Accept header on every hop, and the URLs it was sent through.
type stepUpBrowser struct {
	t      *testing.T
	client *http.Client
	hops   []string
}

const htmlAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

func newStepUpBrowser(t *testing.T) *stepUpBrowser {
	jar, _ := cookiejar.New(nil)
	b := &stepUpBrowser{t: t}
	b.client = &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		b.hops = append(b.hops, req.URL.String())
		req.Header.Set("Accept", htmlAccept)
		if len(via) > 10 {
			return http.ErrUseLastResponse // a loop: the test sees the redirect
		}
		return nil
	}}
	return b
}

func (b *stepUpBrowser) do(method, u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(b.t.Context(), method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", htmlAccept)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

// idClaims are the session's ID token claims, from /oauth2/userinfo.
func (b *stepUpBrowser) idClaims(front string) map[string]any {
	b.t.Helper()
	resp, body := b.do(http.MethodGet, front+"/oauth2/userinfo", nil)
	var c map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &c) != nil {
		b.t.Fatalf("userinfo: %d %s", resp.StatusCode, body)
	}
	return c
}

var stepUpHidden = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)

// TestStepUpBrowser runs the gateway's browser login against its real
// issuer on a route that requires an mfa sign-in at most 15 minutes old:
// the password sign-in comes back to the page, which sends the browser
// through the issuer again with acr_values=mfa and max_age=900 (RFC 9470
// §4). The issuer keeps the sign-in and asks for a second factor; alice
// has none, so she enrols an authenticator app there, and comes back to
// the same page. The step-up keeps the SSO session's sid (the ERP
// session and license slot). (The loop guard, for an issuer that answers
// short, is tested in proxy and browserlogin (stepup_test.go).)
func TestStepUpBrowser(t *testing.T) {
	front, _, _ := startWithEditedConfig(t, func(yml string) string {
		up := regexp.MustCompile(`(?m)^    upstream: (\S+)`).FindStringSubmatch(yml)[1]
		return strings.Replace(yml, "routes:                               # ordered; first match wins; no match => 404\n",
			`routes:
  - name: secure-web
    match: {path_prefix: /api/domain/html/secure/, methods: [GET, HEAD]}
    upstream: `+up+`
    audience: DomainAPI
    scopes: [read]
    on_missing_token: login
    require_auth: {acr: mfa, max_age: 15m}
  - name: recent
    match: {path_prefix: /api/domain/html/recent/, methods: [GET, HEAD]}
    upstream: `+up+`
    audience: DomainAPI
    scopes: [read]
    on_missing_token: login
    require_auth: {max_age: 15m}
`, 1)
	})
	b := newStepUpBrowser(t)

	// A page that asks for no step-up: sign in with the password.
	resp, body := b.do(http.MethodGet, front.URL+"/api/domain/html/recent/start", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="password"`) {
		t.Fatalf("GET recent page: %d at %s, want the login page:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	form := url.Values{"login": {"alice"}, "password": {"alice-demo-password"}}
	for _, m := range stepUpHidden.FindAllStringSubmatch(body, -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	resp, body = b.do(http.MethodPost, front.URL+"/id/account/login", form)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/api/domain/html/recent/start" || !strings.Contains(body, `id="subject">alice<`) {
		t.Fatalf("after sign-in: %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	before := b.idClaims(front.URL)

	// The mfa page: one step-up round trip to the issuer's second step.
	b.hops = nil
	resp, body = b.do(http.MethodGet, front.URL+"/api/domain/html/secure/report?id=7", nil)
	var stepUp *url.URL
	for _, h := range b.hops {
		if u, _ := url.Parse(h); u != nil && u.Path == "/id/connect/authorize" {
			if stepUp != nil {
				t.Fatalf("sent to the issuer twice: %q", b.hops)
			}
			stepUp = u
		}
	}
	if stepUp == nil {
		t.Fatalf("no step-up redirect: %q", b.hops)
	}
	if q := stepUp.Query(); q.Get("acr_values") != "mfa" || q.Get("max_age") != "900" || q.Get("prompt") != "" {
		t.Errorf("step-up authorization request %s", stepUp)
	}
	m := regexp.MustCompile(`id="secret">([^<]+)<`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/id/account/mfa" || m == nil {
		t.Fatalf("after the step-up redirect: %d at %s, want the second step's enrolment:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	code, err := mfa.Code(strings.ReplaceAll(m[1], " ", ""), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	form = url.Values{"code": {code}}
	for _, m := range stepUpHidden.FindAllStringSubmatch(body, -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	resp, body = b.do(http.MethodPost, front.URL+"/id/account/mfa", form)
	next := regexp.MustCompile(`id="next" href="([^"]+)"`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="recovery-codes"`) || next == nil {
		t.Fatalf("after the first code: %d at %s, want the recovery codes:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	resp, body = b.do(http.MethodGet, front.URL+html.UnescapeString(next[1]), nil)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.RequestURI() != "/api/domain/html/secure/report?id=7" || !strings.Contains(body, `id="subject">alice<`) {
		t.Fatalf("after the step-up: %d at %s (hops %q):\n%s", resp.StatusCode, resp.Request.URL, b.hops, body)
	}
	after := b.idClaims(front.URL)
	if after["acr"] != "mfa" {
		t.Errorf("after the step-up the session's sign-in is acr %v, want mfa", after["acr"])
	}
	if after["sid"] == nil || after["sid"] != before["sid"] {
		t.Errorf("the step-up changed the sid: %v -> %v", before["sid"], after["sid"])
	}
	callback := false
	for _, h := range b.hops {
		callback = callback || strings.Contains(h, "/oauth2/callback?")
	}
	if !callback {
		t.Errorf("the step-up did not come back through the callback: %q", b.hops)
	}

	// The page with only max_age still works with this session.
	if resp, body := b.do(http.MethodGet, front.URL+"/api/domain/html/recent/again", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="subject">alice<`) {
		t.Errorf("recent page after the step-up: %d %s", resp.StatusCode, body)
	}
}
