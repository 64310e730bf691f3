package proxy

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/erpgate/erpgate/policy"
)

// fakeBrowser stands in for browserlogin: the cookie "erpgate_session_0"
// with value "ok" is a session whose access token is token.
type fakeBrowser struct {
	mu     sync.Mutex
	token  string
	logins int
	// stepUps are the requirements StartStepUp was asked for; steppedUp
	// is what SteppedUp answers.
	stepUps   []policy.StepUp
	steppedUp bool
}

func (b *fakeBrowser) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, "browser endpoint "+r.URL.Path)
}

func (b *fakeBrowser) AccessToken(w http.ResponseWriter, r *http.Request) (string, bool) {
	c, err := r.Cookie("erpgate_session_0")
	if err != nil || c.Value != "ok" {
		return "", false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.token, true
}

// SessionToken is AccessToken without the refresh the fake never does.
func (b *fakeBrowser) SessionToken(r *http.Request) (string, bool) { return b.AccessToken(nil, r) }

func (b *fakeBrowser) StartLogin(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.logins++
	b.mu.Unlock()
	http.Redirect(w, r, "/id/connect/authorize?rd="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
}

func (b *fakeBrowser) StartStepUp(w http.ResponseWriter, r *http.Request, req policy.StepUp) {
	b.mu.Lock()
	b.stepUps = append(b.stepUps, req)
	b.mu.Unlock()
	q := url.Values{"rd": {r.URL.RequestURI()}, "acr_values": {req.ACR}, "max_age": {req.MaxAgeSeconds()}}
	http.Redirect(w, r, "/id/connect/authorize?"+q.Encode(), http.StatusFound)
}

func (b *fakeBrowser) SteppedUp(r *http.Request, req policy.StepUp) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.steppedUp
}

func (b *fakeBrowser) OwnsCookie(name string) bool { return strings.HasPrefix(name, "erpgate_") }

func (b *fakeBrowser) SignInURL(returnTo string) string {
	return "/oauth2/start?rd=" + url.QueryEscape(returnTo)
}

// Browser navigation and script Accept headers, as Chromium sends them.
const (
	acceptNavigation = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
	acceptFetch      = "*/*"
	acceptJSON       = "application/json, text/plain, */*"
)

// newBrowserFixture adds a login route "web" for /api/domain/html/ in
// front of the usual routes and a fake browser login.
func newBrowserFixture(t *testing.T) (*fixture, *fakeBrowser) {
	t.Helper()
	b := &fakeBrowser{}
	f := newFixture(t, func(c *Config) {
		routes := append([]policy.Route{{
			Name: "web", PathPrefix: "/api/domain/html/", Audience: "DomainAPI",
			Scopes: []string{"read"}, OnMissingToken: policy.OnMissingLogin,
		}}, c.Policy.Routes()...)
		set, err := policy.Compile(routes)
		if err != nil {
			t.Fatal(err)
		}
		c.Policy = set
		c.Upstreams = append([]Upstream{c.Upstreams[0]}, c.Upstreams...)
		c.Browser = b
	})
	return f, b
}

func TestBrowserEndpointsServedByBrowser(t *testing.T) {
	f, _ := newBrowserFixture(t)
	rec := f.do("GET", "/oauth2/userinfo", nil)
	if rec.Code != 200 || rec.Body.String() != "browser endpoint /oauth2/userinfo" {
		t.Fatalf("/oauth2/userinfo: %d %s", rec.Code, rec.Body)
	}
	if got := testutil.ToFloat64(f.metrics.HTTPRequests.WithLabelValues("/oauth2/", "GET", "200")); got != 1 {
		t.Errorf("http_requests_total{route=/oauth2/} = %v", got)
	}
	// Without browser login, /oauth2/ is an ordinary (here: unrouted) path.
	plain := newFixture(t, nil)
	if rec := plain.do("GET", "/oauth2/userinfo", nil); rec.Code != http.StatusNotFound {
		t.Errorf("/oauth2/userinfo without browser login: %d", rec.Code)
	}
}

func TestBrowserWithoutSession(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, accept string
		wantLogin                  bool
	}{
		{"login route, navigation", "GET", "/api/domain/html/x", acceptNavigation, true},
		{"login route, HEAD navigation", "HEAD", "/api/domain/html/x", acceptNavigation, true},
		{"login route, plain text/html", "GET", "/api/domain/html/x", "text/html", true},
		{"login route, fetch", "GET", "/api/domain/html/x", acceptFetch, false},
		{"login route, JSON", "GET", "/api/domain/html/x", acceptJSON, false},
		{"login route, no Accept", "GET", "/api/domain/html/x", "", false},
		{"login route, POST form", "POST", "/api/domain/html/x", acceptNavigation, false},
		{"API route, navigation", "GET", "/api/domain/odata/Persons", acceptNavigation, true},
		{"API route, JSON", "GET", "/api/domain/odata/Persons", acceptJSON, false},
		{"API route, no Accept", "GET", "/api/domain/odata/Persons", "", false},
		{"API route, html only at low q", "GET", "/api/domain/odata/Persons", "application/json, text/html;q=0.1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, b := newBrowserFixture(t)
			hdr := map[string]string{}
			if tc.accept != "" {
				hdr["Accept"] = tc.accept
			}
			rec := f.do(tc.method, tc.path, hdr)
			if tc.wantLogin {
				if rec.Code != http.StatusFound || !strings.HasPrefix(rec.Header().Get("Location"), "/id/connect/authorize") || b.logins != 1 {
					t.Errorf("got %d Location %q, want a login redirect", rec.Code, rec.Header().Get("Location"))
				}
				return
			}
			if rec.Code != http.StatusUnauthorized || rec.Header().Get("Location") != "" || b.logins != 0 {
				t.Errorf("got %d Location %q, want 401 without a redirect", rec.Code, rec.Header().Get("Location"))
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer realm="erpgate"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
		})
	}
}

func TestBrowserSessionForwarded(t *testing.T) {
	f, b := newBrowserFixture(t)
	b.token = f.sign(t, claimsFor("read"))
	rec := f.do("GET", "/api/domain/html/home", map[string]string{
		"Accept": acceptNavigation,
		"Cookie": "theme=dark; erpgate_session_0=ok; erpgate_session_1=more; erpgate_login_abc=tx; lang=en",
	})
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	up := f.upstream.lastRequest()
	if got := up.Header.Get("Authorization"); got != "Bearer "+b.token {
		t.Errorf("upstream Authorization = %q, want the session's token", got)
	}
	if got := up.Header.Get("X-Auth-Subject"); got != "svc-sync" {
		t.Errorf("upstream X-Auth-Subject = %q", got)
	}
	if got := up.Header.Values("Cookie"); len(got) != 1 || got[0] != "theme=dark; lang=en" {
		t.Errorf("upstream Cookie = %q, want only the non-gateway cookies", got)
	}
	// Also from a script on a login route: the cookie is the credential.
	if rec := f.do("GET", "/api/domain/html/data", map[string]string{"Accept": acceptJSON, "Cookie": "erpgate_session_0=ok"}); rec.Code != 200 {
		t.Errorf("fetch with a session on a login route: %d", rec.Code)
	}
	if up := f.upstream.lastRequest(); up.Header.Get("Cookie") != "" {
		t.Errorf("upstream got Cookie %q, want none", up.Header.Get("Cookie"))
	}
}

// A bearer token wins over the cookie: API callers never get redirects
// and their token is what goes upstream.
func TestBearerBeatsBrowserCookie(t *testing.T) {
	f, b := newBrowserFixture(t)
	b.token = f.sign(t, claimsFor("read"))
	apiTok := f.sign(t, claimsFor("read", "update"))
	rec := f.do("GET", "/api/domain/html/x", map[string]string{
		"Authorization": "Bearer " + apiTok, "Accept": acceptNavigation, "Cookie": "erpgate_session_0=ok",
	})
	if rec.Code != 200 || f.upstream.lastRequest().Header.Get("Authorization") != "Bearer "+apiTok {
		t.Errorf("bearer + cookie: %d, upstream Authorization %q", rec.Code, f.upstream.lastRequest().Header.Get("Authorization"))
	}
	rec = f.do("GET", "/api/domain/html/x", map[string]string{
		"Authorization": "Bearer garbage", "Accept": acceptNavigation, "Cookie": "erpgate_session_0=ok",
	})
	if rec.Code != http.StatusUnauthorized || b.logins != 0 {
		t.Errorf("bad bearer + cookie: %d, %d logins; want 401, no login", rec.Code, b.logins)
	}
}

// A session token the proxy refuses sends a navigation to login again
// and gives a script invalid_token.
func TestBrowserSessionTokenRefused(t *testing.T) {
	f, b := newBrowserFixture(t)
	b.token = "not-a-jwt"
	rec := f.do("GET", "/api/domain/html/x", map[string]string{"Accept": acceptNavigation, "Cookie": "erpgate_session_0=ok"})
	if rec.Code != http.StatusFound || b.logins != 1 {
		t.Errorf("navigation with a refused session token: %d, %d logins", rec.Code, b.logins)
	}
	rec = f.do("GET", "/api/domain/html/x", map[string]string{"Accept": acceptJSON, "Cookie": "erpgate_session_0=ok"})
	if rec.Code != http.StatusUnauthorized || errorOf(t, rec) != "invalid_token" {
		t.Errorf("fetch with a refused session token: %d %s", rec.Code, rec.Body)
	}
	// Not enough scope is not cured by logging in again: 403.
	b.token = f.sign(t, claimsFor("update"))
	rec = f.do("GET", "/api/domain/html/x", map[string]string{"Accept": acceptNavigation, "Cookie": "erpgate_session_0=ok"})
	if rec.Code != http.StatusForbidden || b.logins != 1 {
		t.Errorf("session token without the scope: %d, %d logins", rec.Code, b.logins)
	}
}

func TestPublicRouteStripsGatewayCookies(t *testing.T) {
	f, _ := newBrowserFixture(t)
	rec := f.do("GET", "/api/health", map[string]string{"Cookie": "erpgate_session_0=ok"})
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if got := f.upstream.lastRequest().Header.Get("Cookie"); got != "" {
		t.Errorf("upstream Cookie = %q", got)
	}
}

func TestPrefersHTML(t *testing.T) {
	for accept, want := range map[string]bool{
		acceptNavigation:                         true,
		"text/html":                              true,
		"TEXT/HTML; charset=utf-8":               true,
		"application/xhtml+xml":                  true,
		"application/json, text/html":            true,
		"text/html;q=0.5, application/json":      false,
		"application/json;q=0.5, text/html":      true,
		"text/html;q=0":                          false,
		"text/html;q=bogus":                      false,
		"*/*":                                    false,
		"text/*":                                 false,
		"":                                       false,
		"application/json":                       false,
		"image/avif,image/webp,*/*;q=0.8":        false,
		"text/html;level=1;q=0.9, image/png;q=1": false,
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		if got := prefersHTML(r); got != want {
			t.Errorf("prefersHTML(%q) = %v, want %v", accept, got, want)
		}
	}
}
