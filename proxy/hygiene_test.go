package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/erpgate/erpgate/directory"
)

// Header and path hygiene (SPEC §4, issue 15): each test sends what an
// attacker would and checks what the upstream received.

// doRaw is f.do with header names kept exactly as given (Header.Set
// would canonicalise them, as a Go client does; attackers need not).
func (f *fixture) doRaw(method, target string, hdr [][2]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = "192.0.2.10:5555"
	for _, kv := range hdr {
		req.Header[kv[0]] = append(req.Header[kv[0]], kv[1])
	}
	rec := httptest.NewRecorder()
	f.proxy.ServeHTTP(rec, req)
	return rec
}

// cgiName is the name a CGI, WSGI or Rack upstream gives a header.
func cgiName(k string) string {
	return "HTTP_" + strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(k))
}

// upstreamCGI is what the upstream's last request looks like to a CGI
// application: every value of every header that maps to name.
func upstreamCGI(h http.Header, name string) []string {
	var out []string
	for k, vs := range h {
		if cgiName(k) == name {
			out = append(out, vs...)
		}
	}
	return out
}

func TestIdentityHeaderSpellings(t *testing.T) {
	spellings := []string{
		"X_Auth_Subject", "x-auth_scope", "X.Auth.User-Id", "X-AUTH-SUBJECT", "x-auth-subject",
		"X-Auth_Subject", "X_AUTH_SESSION", "x.auth.client.id", "X-Auth.User_Type", "X_Auth_Is_Admin",
		"X-auth-scope", "X-Auth-Subject",
	}
	f := newFixture(t, nil)
	tok := f.sign(t, claimsFor("read"))
	for _, route := range []struct {
		name, path string
		auth       [][2]string
		// want is what a CGI upstream must read (nothing on a public route).
		want map[string]string
	}{
		{"public", "/api/health", nil, map[string]string{}},
		{"protected", "/api/domain/x", [][2]string{{"Authorization", "Bearer " + tok}}, map[string]string{
			"HTTP_X_AUTH_SUBJECT": "svc-sync", "HTTP_X_AUTH_SCOPE": "read", "HTTP_X_AUTH_CLIENT_ID": "com.example/sync",
			"HTTP_X_AUTH_SESSION": "sid-1", "HTTP_X_AUTH_USER_TYPE": directory.ClaimSystemUser,
		}},
	} {
		for _, k := range spellings {
			t.Run(route.name+"/"+k, func(t *testing.T) {
				rec := f.doRaw("GET", route.path, append(route.auth, [2]string{k, "admin"}))
				if rec.Code != 200 {
					t.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				h := f.upstream.lastRequest().Header
				for name := range h {
					if !strings.HasPrefix(cgiName(name), "HTTP_X_AUTH_") {
						continue
					}
					got := upstreamCGI(h, cgiName(name))
					if want, ok := route.want[cgiName(name)]; !ok || len(got) != 1 || got[0] != want {
						t.Errorf("upstream reads %s = %q (header %q), want %q", cgiName(name), got, name, want)
					}
				}
				for name, want := range route.want {
					if got := upstreamCGI(h, name); len(got) != 1 || got[0] != want {
						t.Errorf("upstream reads %s = %q, want %q", name, got, want)
					}
				}
			})
		}
	}
}

func TestMethodOverrideHeadersDropped(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.sign(t, claimsFor("read"))
	for _, k := range []string{
		"X-HTTP-Method-Override", "x-http-method-override", "X-Http-Method", "X-HTTP-METHOD",
		"X-Method-Override", "x_method_override", "X_HTTP_Method_Override", "X.HTTP.Method", "X-Http_Method.Override",
	} {
		for _, path := range []string{"/api/health", "/api/domain/x"} {
			t.Run(k+path, func(t *testing.T) {
				rec := f.doRaw("GET", path, [][2]string{{"Authorization", "Bearer " + tok}, {k, "DELETE"}})
				if rec.Code != 200 {
					t.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				for name := range f.upstream.lastRequest().Header {
					if strings.Contains(strings.ToUpper(cgiName(name)), "METHOD") {
						t.Errorf("%s reached the upstream as %q", k, name)
					}
				}
			})
		}
	}
	// Names that only look alike pass.
	rec := f.doRaw("GET", "/api/health", [][2]string{{"X-Http-Methods", "x"}, {"X-Method-Overrides", "y"}})
	h := f.upstream.lastRequest().Header
	if rec.Code != 200 || h.Get("X-Http-Methods") != "x" || h.Get("X-Method-Overrides") != "y" {
		t.Errorf("unrelated headers: %d %v", rec.Code, h)
	}
}

// X-Forwarded-* is believed from trusted proxies only, in its canonical
// spelling only; an untrusted client's Host is forwarded as this
// request's Host (which hostcheck let in), never its X-Forwarded-Host.
func TestForwardedHeaderSpellings(t *testing.T) {
	spoof := [][2]string{
		{"X-Forwarded-Host", "evil.example"}, {"X_Forwarded_Host", "evil2.example"}, {"x.forwarded.host", "evil3.example"},
		{"X-Forwarded-Port", "444"}, {"X-Forwarded-Prefix", "/evil"}, {"X_Forwarded_For", "203.0.113.99"},
		{"X-Forwarded-Proto", "https"},
	}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		want    map[string][]string // CGI name → values
	}{
		{"untrusted peer", nil, map[string][]string{
			"HTTP_X_FORWARDED_HOST": {"example.com"}, "HTTP_X_FORWARDED_FOR": {"192.0.2.10"}, "HTTP_X_FORWARDED_PROTO": {"http"},
		}},
		{"trusted peer", []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, map[string][]string{
			"HTTP_X_FORWARDED_HOST": {"evil.example"}, "HTTP_X_FORWARDED_FOR": {"192.0.2.10"}, "HTTP_X_FORWARDED_PROTO": {"https"},
			"HTTP_X_FORWARDED_PORT": {"444"}, "HTTP_X_FORWARDED_PREFIX": {"/evil"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.TrustedProxies = tc.trusted })
			if rec := f.doRaw("GET", "/api/health", spoof); rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			h := f.upstream.lastRequest().Header
			seen := map[string]bool{}
			for name := range h {
				n := cgiName(name)
				if !strings.HasPrefix(n, "HTTP_X_FORWARDED_") || seen[n] {
					continue
				}
				seen[n] = true
				if got := upstreamCGI(h, n); fmt.Sprint(got) != fmt.Sprint(tc.want[n]) {
					t.Errorf("upstream reads %s = %q, want %q", n, got, tc.want[n])
				}
			}
			for n := range tc.want {
				if !seen[n] {
					t.Errorf("upstream lacks %s", n)
				}
			}
		})
	}
}

// Path parameters that hide dot segments: Tomcat and Jetty strip ";…"
// and then resolve "..", so "/api/health/..;/domain/x" is
// "/api/domain/x" to them. The gateway refuses such paths (400) before
// any route, public or not, is chosen.
func TestPathParametersHidingDotSegments(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.sign(t, claimsFor("read"))
	for _, target := range []string{
		"/api/domain/x/..;/..;/table/y",
		"/api/health/..;/domain/x",
		"/api/domain/.;x/y",
		"/api/domain/..;jsessionid=1/y",
		"/api/domain/%2e%2e;/x",
		"/api/domain/%2E%2E;x/y",
		"/api/domain/%2e;/x",
		"/api/domain/.%3b/x",
		"/api/domain/x/..%3B/y",
		"/api/domain/;x/y",
		"/;/api/domain/x",
		"/api/domain/x/..;",
	} {
		for _, auth := range []map[string]string{nil, bearer(tok)} {
			rec := f.do("GET", target, auth)
			if rec.Code != http.StatusBadRequest || errorOf(t, rec) != "invalid_request" {
				t.Errorf("GET %s (credentials %v): %d %s, want 400 invalid_request", target, auth != nil, rec.Code, rec.Body)
			}
		}
	}
	if f.upstream.lastRequest() != nil {
		t.Fatalf("a non-canonical path reached the upstream: %s", f.upstream.lastRequest().URL)
	}
	// Parameters on an ordinary segment name are the upstream's business.
	if rec := f.do("GET", "/api/domain/x;jsessionid=1/y;v=2", bearer(tok)); rec.Code != 200 {
		t.Errorf("parameters on a name: %d %s", rec.Code, rec.Body)
	}
}

func TestScrubHeadersDoesNotAllocate(t *testing.T) {
	h := http.Header{
		"Authorization": {"x"}, "Accept": {"x"}, "User-Agent": {"x"}, "X-Request-Id": {"x"},
		"X-Forwarded-Port": {"1"}, "Content-Type": {"x"},
	}
	if n := testing.AllocsPerRun(100, func() { scrubHeaders(h, true) }); n != 0 {
		t.Errorf("scrubHeaders: %v allocations", n)
	}
}
