package proxy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/internal/testauth"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/policy"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/webui"
)

const testIssuer = testauth.Issuer

var testNow = testauth.Now

// upstream records the last request it received.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	last *http.Request
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.last = r.Clone(context.Background())
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) lastRequest() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

type fixture struct {
	proxy    http.Handler
	px       *Proxy // proxy without the request id middleware
	auth     *testauth.Auth
	keys     *signing.Keyring
	upstream *upstream
	metrics  *metrics.Metrics
	auditBuf *strings.Builder
}

// fixtureOption changes what newFixture builds: the authority, through
// its testauth config (the proxy's own config has newFixture's mutate).
type fixtureOption struct {
	auth func(*testauth.Config)
}

// withAuth changes the authority's wiring (store, license, directory).
func withAuth(f func(*testauth.Config)) fixtureOption { return fixtureOption{auth: f} }

// newFixture builds a proxy with the example routes in front of a
// recording upstream, on an authority wired as production wires it
// (internal/testauth). mutate, if not nil, changes the proxy's config.
func newFixture(t testing.TB, mutate func(*Config), opts ...fixtureOption) *fixture {
	t.Helper()
	f := &fixture{upstream: newUpstream(t), auditBuf: &strings.Builder{}}
	f.metrics = metrics.New(prometheus.NewRegistry(), metrics.Build{})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	auditLog := audit.New(slog.NewJSONHandler(syncWriter{mu: &sync.Mutex{}, b: f.auditBuf}, nil))
	acfg := testauth.Config{Logger: logger, Audit: auditLog, Metrics: f.metrics}
	for _, o := range opts {
		if o.auth != nil {
			o.auth(&acfg)
		}
	}
	f.auth = testauth.New(t, acfg)
	f.keys = f.auth.Keys
	set, err := policy.Compile([]policy.Route{
		{Name: "domain-read", PathPrefix: "/api/domain/", Methods: []string{"GET", "HEAD"}, Audience: "DomainAPI", Scopes: []string{"read"}},
		{Name: "domain-write", PathPrefix: "/api/domain/", Audience: "DomainAPI", Scopes: []string{"update"}},
		{Name: "table", PathPrefix: "/api/table/", Audience: "TableAPI", Scopes: []string{"read"}},
		{Name: "portal", PathPrefix: "/api/portal/", Audience: "DomainAPI", Scopes: []string{"read"}, AllowCommunityUsers: true},
		{Name: "health", Path: "/api/health", Public: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(f.upstream.URL)
	ups := []Upstream{{URL: u}, {URL: u}, {URL: u, StripAuthorization: true}, {URL: u}, {URL: u}}
	cfg := Config{
		Policy: set, Upstreams: ups, Authority: f.auth.Authority, Clock: f.auth.Now,
		Logger: logger, Audit: auditLog, Metrics: f.metrics, Pages: testKit(t),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.px, f.proxy = p, requestid.Middleware(p)
	return f
}

// testKit is the page kit with the default branding.
func testKit(t testing.TB) *webui.Kit {
	t.Helper()
	k, err := webui.New(webui.Config{AssetsPath: "/id/account/static", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// setClock moves the fixture's clock to t.
func (f *fixture) setClock(t time.Time) { f.auth.Clock.Set(t) }

// syncWriter serialises writes from concurrent handlers.
type syncWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// claimsFor returns valid client-credentials claims with the given
// scopes: the sync app acting as its system user svc-sync.
func claimsFor(scopes ...string) claims.Access {
	return claims.Access{
		Issuer: testIssuer, Audience: slices.Clone(testauth.Audiences),
		IssuedAt: testNow.Unix(), NotBefore: testNow.Unix(), Expiry: testNow.Add(time.Hour).Unix(),
		ID: "jti-1", Scope: claims.Scopes{Values: scopes}, ClientID: testauth.SyncApp, SessionID: "sid-1",
		ClientSystemUser: "svc-sync", ClientSystemUserType: directory.ClaimSystemUser,
	}
}

func (f *fixture) sign(t testing.TB, c claims.Access) string {
	t.Helper()
	return f.auth.Sign(c)
}

func (f *fixture) do(method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = "192.0.2.10:5555"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.proxy.ServeHTTP(rec, req)
	return rec
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func errorOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var b map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("body is not JSON: %q", rec.Body.String())
	}
	return b["error"]
}

func TestForwardsWithIdentity(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.sign(t, claimsFor("read", "update"))
	rec := f.do("GET", "/api/domain/odata/Persons?$top=1", map[string]string{
		"Authorization":   "Bearer " + tok,
		"X-Auth-Subject":  "evil",
		"x-auth-is-admin": "true",
		"X-Request-Id":    "client-req-1",
	})
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	up := f.upstream.lastRequest()
	want := map[string]string{
		"X-Auth-Subject":   "svc-sync",
		"X-Auth-Client-Id": "com.example/sync",
		"X-Auth-Scope":     "read update",
		"X-Auth-Session":   "sid-1",
		"X-Auth-User-Type": directory.ClaimSystemUser,
		"X-Request-Id":     "client-req-1",
		"Authorization":    "Bearer " + tok,
		"X-Forwarded-For":  "192.0.2.10",
		"X-Forwarded-Host": "example.com",
	}
	for k, v := range want {
		if got := up.Header.Get(k); got != v {
			t.Errorf("upstream %s = %q, want %q", k, got, v)
		}
	}
	if up.Header.Get("X-Auth-Is-Admin") != "" || up.Header.Get("X-Auth-User-Id") != "" {
		t.Errorf("client-sent X-Auth-* header reached the upstream: %v", up.Header)
	}
	if up.URL.RequestURI() != "/api/domain/odata/Persons?$top=1" {
		t.Errorf("upstream URI = %s", up.URL.RequestURI())
	}
}

func TestStripAuthorizationRouteOption(t *testing.T) {
	f := newFixture(t, nil)
	rec := f.do("GET", "/api/table/x", bearer(f.sign(t, claimsFor("read"))))
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if h := f.upstream.lastRequest().Header.Get("Authorization"); h != "" {
		t.Fatalf("Authorization passed upstream on a strip_authorization route: %q", h)
	}
}

func TestPublicRouteStripsIdentityHeaders(t *testing.T) {
	f := newFixture(t, nil)
	rec := f.do("GET", "/api/health", map[string]string{"X-Auth-Subject": "admin"})
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if h := f.upstream.lastRequest().Header.Get("X-Auth-Subject"); h != "" {
		t.Fatalf("client X-Auth-Subject reached the upstream on a public route: %q", h)
	}
}

func TestForwardedHeadersTrustedOnlyFromTrustedProxies(t *testing.T) {
	spoof := map[string]string{"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
	for _, tc := range []struct {
		name              string
		trusted           []netip.Prefix
		wantFor, wantHost string
		wantProto         string
	}{
		{"untrusted peer", nil, "192.0.2.10", "example.com", "http"},
		{"trusted peer", []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, "203.0.113.66, 192.0.2.10", "evil.example", "https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.TrustedProxies = tc.trusted })
			f.do("GET", "/api/health", spoof)
			h := f.upstream.lastRequest().Header
			if h.Get("X-Forwarded-For") != tc.wantFor || h.Get("X-Forwarded-Host") != tc.wantHost || h.Get("X-Forwarded-Proto") != tc.wantProto {
				t.Fatalf("forwarded = %q %q %q", h.Get("X-Forwarded-For"), h.Get("X-Forwarded-Host"), h.Get("X-Forwarded-Proto"))
			}
		})
	}
}

func b64json(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestRefusals tries each way a request can be refused (RFC 6750 §3.1).
func TestRefusals(t *testing.T) {
	f := newFixture(t, nil)
	good := f.sign(t, claimsFor("read"))
	parts := strings.Split(good, ".")
	kid := f.keys.ActiveKeyID()

	expired := claimsFor("read")
	expired.Expiry = testNow.Add(-time.Minute).Unix()
	future := claimsFor("read")
	future.NotBefore = testNow.Add(5 * time.Minute).Unix()
	otherIss := claimsFor("read")
	otherIss.Issuer = "http://evil.test/id"
	otherAud := claimsFor("read")
	otherAud.Audience = []string{"TableAPI"}
	noSid := claimsFor("read")
	noSid.SessionID = ""
	idToken, _ := f.keys.Sign(signing.TypeIDToken, claimsFor("read"))
	foreignTok := testauth.New(t, testauth.Config{}).Sign(claimsFor("read"))
	tampered := claimsFor("read", "update")

	const invalid = `Bearer realm="erpgate", error="invalid_token"`
	for _, tc := range []struct {
		name       string
		method     string
		path       string
		hdr        map[string]string
		wantStatus int
		wantError  string
		wantAuth   string
	}{
		{"no credentials", "GET", "/api/domain/x", nil, 401, "unauthorized", `Bearer realm="erpgate"`},
		{"basic auth is no credential", "GET", "/api/domain/x", map[string]string{"Authorization": "Basic YTpi"}, 401, "unauthorized", `Bearer realm="erpgate"`},
		{"garbage token", "GET", "/api/domain/x", bearer("garbage"), 401, "invalid_token", invalid},
		{"expired", "GET", "/api/domain/x", bearer(f.sign(t, expired)), 401, "invalid_token", invalid},
		{"not yet valid", "GET", "/api/domain/x", bearer(f.sign(t, future)), 401, "invalid_token", invalid},
		{"other issuer", "GET", "/api/domain/x", bearer(f.sign(t, otherIss)), 401, "invalid_token", invalid},
		{"wrong audience", "GET", "/api/domain/x", bearer(f.sign(t, otherAud)), 401, "invalid_token", invalid},
		{"no sid", "GET", "/api/domain/x", bearer(f.sign(t, noSid)), 401, "invalid_token", invalid},
		{"id token as access token", "GET", "/api/domain/x", bearer(idToken), 401, "invalid_token", invalid},
		{"token of another instance", "GET", "/api/domain/x", bearer(foreignTok), 401, "invalid_token", invalid},
		{"tampered payload", "GET", "/api/domain/x", bearer(parts[0] + "." + b64json(tampered) + "." + parts[2]), 401, "invalid_token", invalid},
		{"alg none", "GET", "/api/domain/x", bearer(b64json(map[string]string{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + parts[1] + "."), 401, "invalid_token", invalid},
		{"unknown kid", "GET", "/api/domain/x", bearer(b64json(map[string]string{"alg": "RS256", "typ": "at+jwt", "kid": "other"}) + "." + parts[1] + "." + parts[2]), 401, "invalid_token", invalid},
		{"unknown reference token", "GET", "/api/domain/x", map[string]string{"X-Api-Key": reftoken.Prefix + strings.Repeat("A", 64)}, 401, "invalid_token", invalid},
		{"JWT in an API key header", "GET", "/api/domain/x", map[string]string{"X-Api-Key": good}, 401, "invalid_token", invalid},
		{"insufficient scope", "POST", "/api/domain/x", bearer(good), 403, "insufficient_scope", `Bearer realm="erpgate", error="insufficient_scope", scope="update"`},
		{"two credentials", "GET", "/api/domain/x", map[string]string{"Authorization": "Bearer " + good, "Api-Key": reftoken.Prefix + "x"}, 400, "invalid_request", `Bearer realm="erpgate", error="invalid_request"`},
		{"token in query", "GET", "/api/domain/x?access_token=" + good, nil, 400, "invalid_request", `Bearer realm="erpgate", error="invalid_request"`},
		{"dot segments", "GET", "/api/domain/../admin", bearer(good), 400, "invalid_request", `Bearer realm="erpgate", error="invalid_request"`},
		{"no route", "GET", "/elsewhere", bearer(good), 404, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(tc.method, tc.path, tc.hdr)
			if rec.Code != tc.wantStatus || errorOf(t, rec) != tc.wantError {
				t.Fatalf("got %d %s, want %d %s", rec.Code, rec.Body, tc.wantStatus, tc.wantError)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tc.wantAuth {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.wantAuth)
			}
			if rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q", rec.Header().Get("Content-Type"))
			}
		})
	}
	if f.upstream.lastRequest() != nil {
		t.Fatal("a refused request reached the upstream")
	}
	if strings.Contains(f.auditBuf.String(), parts[2]) {
		t.Fatal("audit log contains a token signature")
	}
	if n := testutil.ToFloat64(f.metrics.AuthDecisions.WithLabelValues("domain-write", "deny", "insufficient_scope")); n != 1 {
		t.Errorf("auth_decisions_total{deny,insufficient_scope} = %v, want 1", n)
	}
}

func TestExpiryIsCheckedOnCachedTokens(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.sign(t, claimsFor("read"))
	if rec := f.do("GET", "/api/domain/x", bearer(tok)); rec.Code != 200 {
		t.Fatalf("first call: %d", rec.Code)
	}
	f.setClock(testNow.Add(time.Hour + time.Minute)) // past exp + leeway
	if rec := f.do("GET", "/api/domain/x", bearer(tok)); rec.Code != 401 {
		t.Fatalf("expired cached token: status %d, want 401", rec.Code)
	}
}

func TestUpstreamFailures(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	for _, tc := range []struct {
		name       string
		upstream   string
		timeout    time.Duration
		wantStatus int
		wantError  string
	}{
		{"down", "http://" + closed, 0, 502, "bad_gateway"},
		{"too slow", slow.URL, 50 * time.Millisecond, 504, "upstream_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) {
				u, _ := url.Parse(tc.upstream)
				for i := range c.Upstreams {
					c.Upstreams[i] = Upstream{URL: u, Timeout: tc.timeout}
				}
			})
			rec := f.do("GET", "/api/health", nil)
			if rec.Code != tc.wantStatus || errorOf(t, rec) != tc.wantError {
				t.Fatalf("got %d %s", rec.Code, rec.Body)
			}
		})
	}
}

func TestRevokedTokenRefused(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.sign(t, claimsFor("read"))
	if rec := f.do("GET", "/api/domain/x", bearer(tok)); rec.Code != 200 {
		t.Fatalf("before revocation: %d", rec.Code)
	}
	f.auth.Revoke("jti-1")
	rec := f.do("GET", "/api/domain/x", bearer(tok))
	if rec.Code != 401 || errorOf(t, rec) != "invalid_token" {
		t.Fatalf("revoked token (cached verification): %d %s", rec.Code, rec.Body)
	}
	if n := testutil.ToFloat64(f.metrics.AuthDecisions.WithLabelValues("domain-read", "deny", authority.ReasonRevoked)); n != 1 {
		t.Errorf("auth_decisions_total{deny,revoked} = %v, want 1", n)
	}
}

// TestStreamsPassThrough: a streamed response (no Content-Length) and
// server-sent events reach the client chunk by chunk, before the upstream
// has finished.
func TestStreamsPassThrough(t *testing.T) {
	for _, ctype := range []string{"application/json", "text/event-stream"} {
		t.Run(ctype, func(t *testing.T) {
			release := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ctype)
				_, _ = io.WriteString(w, "first\n")
				w.(http.Flusher).Flush()
				<-release
				_, _ = io.WriteString(w, "second\n")
			}))
			defer up.Close()
			defer close(release)
			f := newFixture(t, func(c *Config) {
				u, _ := url.Parse(up.URL)
				for i := range c.Upstreams {
					c.Upstreams[i] = Upstream{URL: u}
				}
			})
			gw := httptest.NewServer(f.proxy)
			defer gw.Close()
			resp, err := http.Get(gw.URL + "/api/health")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := make(chan string, 1)
			go func() {
				buf := make([]byte, 6)
				_, _ = io.ReadFull(resp.Body, buf)
				got <- string(buf)
			}()
			select {
			case s := <-got:
				if s != "first\n" {
					t.Fatalf("first chunk = %q", s)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the first chunk did not arrive while the upstream was still streaming")
			}
		})
	}
}

// The proxy judges credentials with the authority it is given, the one
// the other doors use (SPEC §4): a token of its keys passes, one signed
// by another key does not, and a token it let through is refused on the
// next call once its app is disabled, with that reason counted.
func TestProxyAsksTheAuthority(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.sign(t, claimsFor("read"))
	if rec := f.do("GET", "/api/domain/x", bearer(tok)); rec.Code != 200 {
		t.Fatalf("token of the authority's keys: status %d: %s", rec.Code, rec.Body)
	}
	forged := testauth.New(t, testauth.Config{}).Sign(claimsFor("read"))
	if rec := f.do("GET", "/api/domain/x", bearer(forged)); rec.Code != http.StatusUnauthorized {
		t.Fatalf("token of another key: status %d, want 401", rec.Code)
	}
	f.auth.EditApp(testauth.SyncApp, func(a *directory.App) { a.Enabled = false })
	rec := f.do("GET", "/api/domain/x", bearer(tok))
	if rec.Code != http.StatusUnauthorized || errorOf(t, rec) != "invalid_token" {
		t.Fatalf("token of a disabled app: %d %s, want 401 invalid_token", rec.Code, rec.Body)
	}
	if n := testutil.ToFloat64(f.metrics.AuthDecisions.WithLabelValues("domain-read", "deny", authority.ReasonAppDisabled)); n != 1 {
		t.Errorf("auth_decisions_total{deny,app_disabled} = %v, want 1", n)
	}
}
