package proxy

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// edgePeer is the address forward-auth requests come from in these tests:
// a trusted proxy.
const edgePeer = "10.0.0.7:40000"

func trustEdge(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")} }

// edgeStyle is one way an edge names the original request (SPEC §11).
type edgeStyle struct {
	name string
	ask  func(method, target string) *http.Request
}

var edgeStyles = []edgeStyle{
	{"nginx auth_request", func(method, target string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, ForwardAuthPath, nil) // nginx's subrequest is a GET
		r.Header.Set("X-Original-Method", method)
		r.Header.Set("X-Original-URI", target)
		return r
	}},
	{"ingress-nginx", func(method, target string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, ForwardAuthPath, nil)
		r.Header.Set("X-Original-Method", method)
		r.Header.Set("X-Original-URL", "https://erp.example.com"+target)
		r.Header.Set("X-Auth-Request-Redirect", target) // ingress-nginx's own, not an identity header
		return r
	}},
	{"Traefik, Caddy", func(method, target string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, ForwardAuthPath, nil)
		r.Header.Set("X-Forwarded-Method", method)
		r.Header.Set("X-Forwarded-Uri", target)
		r.Header.Set("X-Forwarded-Host", "erp.example.com")
		return r
	}},
	{"Envoy ext_authz", func(method, target string) *http.Request {
		return httptest.NewRequest(method, ForwardAuthPath+target, nil) // path_prefix: /oauth2/auth
	}},
}

func (f *fixture) edgeAsk(r *http.Request, hdr map[string]string) *httptest.ResponseRecorder {
	r.RemoteAddr = edgePeer
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.proxy.ServeHTTP(rec, r)
	return rec
}

// TestForwardAuthAnswersAsTheProxy: for every request, forward auth's
// answer is the proxy's — 202 where the proxy forwards, the proxy's status
// and challenge otherwise — whichever way the edge asks; the method judged
// is the original one, not the subrequest's.
func TestForwardAuthAnswersAsTheProxy(t *testing.T) {
	f := newFixture(t, trustEdge)
	read, write := f.sign(t, claimsFor("read")), f.sign(t, claimsFor("read", "update"))
	other := claimsFor("read")
	other.Audience = []string{"SomeoneElse"}
	foreign := f.sign(t, other)
	cases := []struct {
		name, method, target, token string
	}{
		{"read token reads", "GET", "/api/domain/odata/Persons?$top=1", read},
		{"read token writes", "POST", "/api/domain/odata/Persons", read},
		{"write token writes", "DELETE", "/api/domain/odata/Persons(1)", write},
		{"no token", "GET", "/api/domain/odata/Persons", ""},
		{"garbage token", "GET", "/api/domain/odata/Persons", "not-a-jwt"},
		{"other audience", "GET", "/api/table/x", foreign},
		{"public route", "GET", "/api/health", ""},
		{"no route", "GET", "/nowhere", read},
		{"path not canonical", "GET", "/api/domain/../table/x", read},
	}
	for _, tc := range cases {
		var hdr map[string]string
		if tc.token != "" {
			hdr = bearer(tc.token)
		}
		px := f.do(tc.method, tc.target, hdr)
		want := px.Code
		if want == http.StatusOK {
			want = http.StatusAccepted
		}
		for _, es := range edgeStyles {
			rec := f.edgeAsk(es.ask(tc.method, tc.target), hdr)
			if rec.Code != want {
				t.Errorf("%s via %s: %d %s, proxy said %d", tc.name, es.name, rec.Code, rec.Body, px.Code)
			}
			if got, w := rec.Header().Get("WWW-Authenticate"), px.Header().Get("WWW-Authenticate"); got != w {
				t.Errorf("%s via %s: WWW-Authenticate %q, proxy's %q", tc.name, es.name, got, w)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("%s via %s: Cache-Control %q", tc.name, es.name, rec.Header().Get("Cache-Control"))
			}
		}
	}
}

// TestForwardAuthIdentityHeaders: the 202 carries every identity header,
// empty where the caller has none, so an edge that copies them overwrites
// the client's; strip_authorization empties Authorization.
func TestForwardAuthIdentityHeaders(t *testing.T) {
	f := newFixture(t, trustEdge)
	tok := f.sign(t, claimsFor("read", "update"))
	rec := f.edgeAsk(edgeStyles[0].ask("GET", "/api/domain/odata/Persons"), bearer(tok))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	want := map[string]string{
		"X-Auth-Subject": "svc-sync", "X-Auth-Client-Id": "com.example/sync", "X-Auth-Scope": "read update",
		"X-Auth-Session": "sid-1", "X-Auth-User-Id": "", "X-Auth-Request-User": "svc-sync",
		"X-Auth-Request-Email": "", "Authorization": "Bearer " + tok,
	}
	for k, v := range want {
		vs, ok := rec.Header()[k]
		if !ok || len(vs) != 1 || vs[0] != v {
			t.Errorf("%s = %q (present %v), want %q", k, vs, ok, v)
		}
	}
	if rec.Header().Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	if n := f.upstream.lastRequest(); n != nil {
		t.Errorf("forward auth forwarded to the upstream: %s", n.URL)
	}
	// The table route keeps the token from its upstream.
	rec = f.edgeAsk(edgeStyles[2].ask("GET", "/api/table/x"), bearer(f.sign(t, claimsFor("read"))))
	if vs := rec.Header()["Authorization"]; rec.Code != http.StatusAccepted || len(vs) != 1 || vs[0] != "" {
		t.Errorf("strip_authorization route: %d Authorization %q", rec.Code, vs)
	}
	// Counted as the route's, with the 202.
	if got := testutil.ToFloat64(f.metrics.HTTPRequests.WithLabelValues("domain-read", "GET", "202")); got != 1 {
		t.Errorf("http_requests_total{domain-read,GET,202} = %v", got)
	}
}

// TestForwardAuthRefusesWhatItCannotJudge: untrusted peers, requests that
// do not name the original method, and requests carrying headers only the
// gateway may set (which the edge, not the gateway, would forward) are
// refused, audited and counted; the credential is not even read.
func TestForwardAuthRefusesWhatItCannotJudge(t *testing.T) {
	f := newFixture(t, trustEdge)
	tok := f.sign(t, claimsFor("read", "update"))
	get := func(h ...string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, ForwardAuthPath, nil)
		for i := 0; i+1 < len(h); i += 2 {
			r.Header[h[i]] = []string{h[i+1]} // as sent: any spelling
		}
		return r
	}
	cases := []struct {
		name   string
		req    *http.Request
		peer   string
		status int
	}{
		{"untrusted peer", edgeStyles[0].ask("GET", "/api/domain/x"), "192.0.2.10:5555", http.StatusForbidden},
		{"nothing named", get(), edgePeer, http.StatusBadRequest},
		{"nginx without the method", get("X-Original-Uri", "/api/domain/x"), edgePeer, http.StatusBadRequest},
		{"Caddy without the method", get("X-Forwarded-Uri", "/api/domain/x"), edgePeer, http.StatusBadRequest},
		{"not a method", get("X-Forwarded-Method", "GE T", "X-Forwarded-Uri", "/api/domain/x"), edgePeer, http.StatusBadRequest},
		{"absolute URI", get("X-Original-Method", "GET", "X-Original-Uri", "http://evil/api/domain/x"), edgePeer, http.StatusBadRequest},
		{"relative URL", get("X-Original-Method", "GET", "X-Original-Url", "/api/domain/x"), edgePeer, http.StatusBadRequest},
	}
	for _, name := range []string{"X-Auth-Subject", "X_Auth_Subject", "x.auth.user-id", "X-Auth-Is-Admin", "X-HTTP-Method-Override", "X_Method_Override", "X_Auth_Request_Redirect"} {
		r := edgeStyles[2].ask("GET", "/api/domain/x")
		r.Header[name] = []string{"forged"}
		cases = append(cases, struct {
			name   string
			req    *http.Request
			peer   string
			status int
		}{"client sent " + name, r, edgePeer, http.StatusBadRequest})
	}
	for _, tc := range cases {
		tc.req.RemoteAddr = tc.peer
		tc.req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		f.proxy.ServeHTTP(rec, tc.req)
		if rec.Code != tc.status || rec.Header().Get("X-Auth-Subject") != "" {
			t.Errorf("%s: %d %v %s, want %d", tc.name, rec.Code, rec.Header(), rec.Body, tc.status)
		}
	}
	if got := testutil.ToFloat64(f.metrics.AuthDecisions.WithLabelValues(forwardAuthLabel, "deny", reasonUntrustedPeer)); got != 1 {
		t.Errorf("auth_decisions{/oauth2/auth,deny,untrusted_proxy} = %v", got)
	}
	if !strings.Contains(f.auditBuf.String(), `"reason":"untrusted_proxy"`) {
		t.Errorf("untrusted peer not audited: %s", f.auditBuf)
	}
}

// TestForwardAuthBrowser: a browser without a session is sent to
// StartPath coming back to the original URI — by 302 where the edge relays
// answers, by 401 with Location for nginx; with a session, its unexpired
// token is judged and handed to the edge, never refreshed; a refused
// session token asks for reauth.
func TestForwardAuthBrowser(t *testing.T) {
	b := &fakeBrowser{}
	f2 := newFixture(t, func(c *Config) { trustEdge(c); c.Browser = b })
	nav := map[string]string{"Accept": acceptNavigation}
	target := "/api/domain/odata/Persons?$top=1"
	wantLoc := "/oauth2/start?rd=" + url.QueryEscape(target)
	for _, tc := range []struct {
		style  edgeStyle
		status int
	}{{edgeStyles[0], http.StatusUnauthorized}, {edgeStyles[1], http.StatusUnauthorized}, {edgeStyles[2], http.StatusFound}, {edgeStyles[3], http.StatusFound}} {
		rec := f2.edgeAsk(tc.style.ask("GET", target), nav)
		if rec.Code != tc.status || rec.Header().Get("Location") != wantLoc+"&refresh=1" {
			t.Errorf("%s, no session: %d Location %q, want %d %q&refresh=1", tc.style.name, rec.Code, rec.Header().Get("Location"), tc.status, wantLoc)
		}
	}
	if b.logins != 0 {
		t.Errorf("forward auth started %d logins itself; the edge's browser must start it at %s", b.logins, "/oauth2/start")
	}
	// With a session: the session's token, judged and handed over.
	b.token = f2.sign(t, claimsFor("read"))
	withSession := map[string]string{"Accept": acceptNavigation, "Cookie": "erpgate_session_0=ok"}
	rec := f2.edgeAsk(edgeStyles[2].ask("GET", target), withSession)
	if rec.Code != http.StatusAccepted || rec.Header().Get("Authorization") != "Bearer "+b.token {
		t.Fatalf("with a session: %d Authorization %q", rec.Code, rec.Header().Get("Authorization"))
	}
	// A session whose token is refused (here: the wrong audience) signs in again.
	wrong := claimsFor("read")
	wrong.Audience = []string{"SomeoneElse"}
	b.token = f2.sign(t, wrong)
	rec = f2.edgeAsk(edgeStyles[2].ask("GET", target), withSession)
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != wantLoc+"&reauth=1" {
		t.Errorf("refused session token: %d Location %q", rec.Code, rec.Header().Get("Location"))
	}
	// Not a navigation: the proxy's 401, no redirect.
	rec = f2.edgeAsk(edgeStyles[2].ask("GET", target), map[string]string{"Accept": acceptFetch})
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("Location") != "" {
		t.Errorf("fetch without session: %d Location %q", rec.Code, rec.Header().Get("Location"))
	}
}
