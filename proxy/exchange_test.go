package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/dpop/dpoptest"
	"github.com/erpgate/erpgate/issuer"
	"github.com/erpgate/erpgate/policy"
)

// The exchange route of these tests: the caller needs read at the route,
// and its upstream gets a token for erp-billing-internal with read.
const (
	billingPath     = "/api/billing/invoices"
	billingAudience = "erp-billing-internal"
)

// countingExchanger is the real identity server's UpstreamToken, counted.
type countingExchanger struct {
	inner Exchanger
	mints atomic.Int32
}

func (c *countingExchanger) UpstreamToken(caller *claims.Access, aud string, scopes []string, ttl time.Duration) (string, time.Time, error) {
	c.mints.Add(1)
	return c.inner.UpstreamToken(caller, aud, scopes, ttl)
}

// newExchangeFixture is newFixture with one more route, "billing", that
// exchanges the caller's token for its upstream (scopes: what the
// exchanged token carries), minted by a real identity server on the
// fixture's keys, directory and authority, as the gateway wires it.
func newExchangeFixture(t testing.TB, scopes []string, extra ...func(*Config)) (*fixture, *countingExchanger) {
	t.Helper()
	ex := &countingExchanger{}
	f := newFixture(t, func(c *Config) {
		routes := append(c.Policy.Routes(), policy.Route{Name: "billing", PathPrefix: "/api/billing/", Audience: "DomainAPI", Scopes: []string{"read"}})
		set, err := policy.Compile(routes)
		if err != nil {
			t.Fatal(err)
		}
		c.Policy = set
		up := c.Upstreams[0]
		up.Exchange = &Exchange{Audience: billingAudience, Scopes: scopes}
		c.Upstreams = append(c.Upstreams, up)
		c.Exchanger = ex
		for _, m := range extra {
			m(c)
		}
	})
	iss, err := issuer.New(issuer.Config{
		Issuer: testIssuer, AccessTokenTTL: time.Hour, Audiences: []string{"DomainAPI", "TableAPI"},
		Directory: f.auth.Directory, CodeTTL: time.Minute, RefreshTokenTTL: time.Hour, PublicRefreshTokenTTL: time.Hour,
		IdentitySessionTTL: time.Hour,
		AuthCodes:          f.auth.Store, RefreshTokens: f.auth.Store, IdentitySessions: f.auth.Store, Consents: f.auth.Store,
		EndSession:  func(context.Context, string) error { return nil },
		Revocations: f.auth.Revocations, Authority: f.auth.Authority, Signer: f.auth.Keys,
		Clock: f.auth.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: f.metrics, Pages: testKit(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ex.inner = iss
	return f, ex
}

// upstreamClaims verifies the token the upstream received as an upstream
// would: against the published JWKS (go-jose), for its own audience, from
// the gateway's issuer, unexpired.
func (f *fixture) upstreamClaims(t *testing.T, tok string) claims.Access {
	t.Helper()
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(f.auth.Keys.JWKS(), &jwks); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatalf("the upstream token does not parse: %v", err)
	}
	keys := jwks.Key(parsed.Headers[0].KeyID)
	if len(keys) == 0 {
		t.Fatalf("kid %q is not in the JWKS", parsed.Headers[0].KeyID)
	}
	var std jwt.Claims
	var c claims.Access
	if err := parsed.Claims(keys[0].Key, &std, &c); err != nil {
		t.Fatalf("the upstream token does not verify with the JWKS: %v", err)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: testIssuer, AnyAudience: jwt.Audience{billingAudience}, Time: f.auth.Now()}, 0); err != nil {
		t.Fatalf("the upstream token is not valid for %s: %v", billingAudience, err)
	}
	return c
}

// TestExchangeForwardsUpstreamToken: the upstream of an exchange route
// gets a token for itself alone — aud its audience, the exchange scopes,
// act naming the gateway, the caller's subject and sid — never the
// caller's; the identity headers still name the caller.
func TestExchangeForwardsUpstreamToken(t *testing.T) {
	f, ex := newExchangeFixture(t, []string{"read"})
	caller := f.auth.ServiceToken("com.example/sync", "sid-x", "read", "update")
	rec := f.do(http.MethodGet, "http://example.com"+billingPath, bearer(caller))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	up := f.upstream.lastRequest()
	scheme, tok, _ := strings.Cut(up.Header.Get("Authorization"), " ")
	if scheme != "Bearer" || tok == "" || tok == caller || strings.Contains(up.Header.Get("Authorization"), caller) {
		t.Fatalf("upstream Authorization = %q, want a bearer token that is not the caller's", up.Header.Get("Authorization"))
	}
	c := f.upstreamClaims(t, tok)
	if strings.Join(c.Audience, ",") != billingAudience || strings.Join(c.Scope.Values, " ") != "read" ||
		c.ClientSystemUser != "svc-sync" || c.SessionID != "sid-x" || c.ClientID != "com.example/sync" || c.ID == "jti-sid-x" {
		t.Errorf("upstream token claims = %+v", c)
	}
	if c.Actor == nil || c.Actor.Subject != claims.GatewayActor {
		t.Errorf("act = %+v, want the gateway", c.Actor)
	}
	if exp := f.auth.Now().Add(5 * time.Minute).Unix(); c.Expiry != exp {
		t.Errorf("exp = %d, want %d (5 minutes)", c.Expiry, exp)
	}
	if up.Header.Get(hdrSubject) != "svc-sync" || up.Header.Get(hdrScope) != "read update" || up.Header.Get(hdrSession) != "sid-x" {
		t.Errorf("identity headers = %v", up.Header)
	}
	if n := ex.mints.Load(); n != 1 {
		t.Errorf("%d mints, want 1", n)
	}

	// Plain routes still forward the caller's own token.
	f.do(http.MethodGet, "http://example.com/api/domain/x", bearer(caller))
	if got := f.upstream.lastRequest().Header.Get("Authorization"); got != "Bearer "+caller {
		t.Errorf("plain route: Authorization %q, want the caller's", got)
	}
}

// TestExchangeTokenRefusedAtTheGateway: the token an upstream received
// works at none of the gateway's routes (its audience is no route's), so
// an upstream that leaks or replays it gets nowhere.
func TestExchangeTokenRefusedAtTheGateway(t *testing.T) {
	f, _ := newExchangeFixture(t, []string{"read"})
	f.do(http.MethodGet, "http://example.com"+billingPath, bearer(f.auth.ServiceToken("com.example/sync", "sid-x", "read", "update")))
	_, tok, _ := strings.Cut(f.upstream.lastRequest().Header.Get("Authorization"), " ")
	for _, p := range []string{billingPath, "/api/domain/x", "/api/table/x", "/api/portal/x"} {
		f.upstream.mu.Lock()
		f.upstream.last = nil
		f.upstream.mu.Unlock()
		rec := f.do(http.MethodGet, "http://example.com"+p, bearer(tok))
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s with the upstream token: %d %q, want 401 invalid_token", p, rec.Code, rec.Header().Get("WWW-Authenticate"))
		}
		if f.upstream.lastRequest() != nil {
			t.Errorf("%s: the upstream token reached an upstream", p)
		}
	}
}

// TestExchangeCached: a second call with the same token mints nothing and
// forwards the same upstream token; another token of the same session
// gets its own; the cached one is replaced 30 s before it expires.
func TestExchangeCached(t *testing.T) {
	f, ex := newExchangeFixture(t, []string{"read"})
	forwarded := func(caller string) string {
		t.Helper()
		rec := f.do(http.MethodGet, "http://example.com"+billingPath, bearer(caller))
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		return f.upstream.lastRequest().Header.Get("Authorization")
	}
	caller := f.auth.ServiceToken("com.example/sync", "sid-x", "read", "update")
	first := forwarded(caller)
	if again := forwarded(caller); again != first || ex.mints.Load() != 1 {
		t.Fatalf("second call: %d mints, same token %v; want 1 mint, the cached token", ex.mints.Load(), again == first)
	}

	// The same session, a narrower token (another jti): never the
	// token minted for the first.
	c := f.auth.ServiceClaims("com.example/sync", "sid-x", "read")
	c.ID = "jti-narrower"
	if other := forwarded(f.sign(t, c)); other == first || ex.mints.Load() != 2 {
		t.Errorf("another caller token: %d mints, same token %v; want its own", ex.mints.Load(), other == first)
	}

	f.auth.Clock.Advance(5*time.Minute - 31*time.Second)
	if still := forwarded(caller); still != first || ex.mints.Load() != 2 {
		t.Errorf("31 s before expiry: %d mints; want the cached token still", ex.mints.Load())
	}
	f.auth.Clock.Advance(2 * time.Second)
	renewed := forwarded(caller)
	if renewed == first || ex.mints.Load() != 3 {
		t.Errorf("29 s before expiry: %d mints; want a new token", ex.mints.Load())
	}
	_, tok, _ := strings.Cut(renewed, " ")
	f.upstreamClaims(t, tok) // valid now, for its audience
}

// TestExchangeNeedsScopes: a caller allowed on the route whose token
// lacks the exchange's scopes is refused with the RFC 6750 challenge
// naming them, and nothing is minted or forwarded.
func TestExchangeNeedsScopes(t *testing.T) {
	f, ex := newExchangeFixture(t, []string{"read", "update"})
	rec := f.do(http.MethodGet, "http://example.com"+billingPath, bearer(f.auth.ServiceToken("com.example/sync", "sid-x", "read")))
	if rec.Code != http.StatusForbidden || rec.Header().Get("WWW-Authenticate") != `Bearer realm="erpgate", error="insufficient_scope", scope="read update"` {
		t.Fatalf("got %d %q, want 403 insufficient_scope naming read update", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if f.upstream.lastRequest() != nil || ex.mints.Load() != 0 {
		t.Errorf("refused, yet forwarded (%v) or minted (%d)", f.upstream.lastRequest() != nil, ex.mints.Load())
	}
	if !strings.Contains(f.auditBuf.String(), `"reason":"insufficient_scope"`) {
		t.Errorf("no access.denied audit line: %s", f.auditBuf)
	}
}

// TestExchangeDPoPCaller: a DPoP caller's upstream gets the exchanged
// bearer token and no proof.
func TestExchangeDPoPCaller(t *testing.T) {
	f, _ := newExchangeFixture(t, []string{"read"})
	key := dpoptest.NewKey(t)
	c := f.auth.ServiceClaims("com.example/sync", "sid-d", "read")
	c.Confirmation = &claims.Confirmation{JKT: key.JKT()}
	tok := f.sign(t, c)
	u := "http://example.com" + billingPath
	rec := f.do(http.MethodGet, u, map[string]string{"Authorization": "DPoP " + tok, "DPoP": key.Proof(http.MethodGet, u, tok, f.auth.Now())})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	up := f.upstream.lastRequest()
	_, fwd, _ := strings.Cut(up.Header.Get("Authorization"), " ")
	if up.Header.Get("DPoP") != "" || fwd == tok || f.upstreamClaims(t, fwd).Confirmation != nil {
		t.Errorf("upstream got DPoP %q, Authorization %q; want the exchanged bearer token alone", up.Header.Get("DPoP"), up.Header.Get("Authorization"))
	}
}

// TestExchangeForwardAuth: forward auth hands the edge the exchanged
// token to forward, not the caller's.
func TestExchangeForwardAuth(t *testing.T) {
	f, ex := newExchangeFixture(t, []string{"read"}, trustEdge)
	caller := f.auth.ServiceToken("com.example/sync", "sid-x", "read")
	rec := f.edgeAsk(edgeStyles[0].ask("GET", billingPath), bearer(caller))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	vs := rec.Header()["Authorization"]
	if len(vs) != 1 || !strings.HasPrefix(vs[0], "Bearer ") || strings.Contains(vs[0], caller) || ex.mints.Load() != 1 {
		t.Fatalf("Authorization %q after %d mints, want the exchanged token", vs, ex.mints.Load())
	}
	f.upstreamClaims(t, strings.TrimPrefix(vs[0], "Bearer "))
}

// TestExchangeCacheBounded: the cache never holds more than its bound;
// entries due are dropped first.
func TestExchangeCacheBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	c := newExchangeCache(64)
	for i := range 32 {
		c.put(exchangeKey{session: fmt.Sprint("old", i)}, "t", now.Add(time.Second), now)
	}
	later := now.Add(time.Minute) // every "old" entry is due
	for i := range 1000 {
		c.put(exchangeKey{session: fmt.Sprint("s", i)}, "t", later.Add(time.Hour), later)
		if n := c.len(); n > 64 {
			t.Fatalf("after %d puts: %d entries, bound 64", i+1, n)
		}
	}
	if _, ok := c.get(exchangeKey{session: "s999"}, later); !ok {
		t.Error("the newest entry is gone")
	}
	if _, ok := c.get(exchangeKey{session: "old1"}, later); ok {
		t.Error("a due entry was served")
	}

	// Safe for concurrent use (go test -race).
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := exchangeKey{route: g, session: fmt.Sprint(i % 100)}
				c.put(k, "t", later.Add(time.Hour), later)
				c.get(k, later)
			}
		})
	}
	wg.Wait()
	if c.len() > 64 {
		t.Errorf("%d entries after concurrent use, bound 64", c.len())
	}
}

// BenchmarkHotPathExchange is BenchmarkHotPath's request on a plain route
// and on an exchange route, the exchanged token cached (the steady state:
// one mint per caller token every few minutes); compare ns/op and
// allocs/op of the two.
//
//	go test ./proxy -run '^$' -bench 'HotPath' -benchmem
func BenchmarkHotPathExchange(b *testing.B) {
	u, _ := url.Parse("http://upstream.test")
	f, ex := newExchangeFixture(b, []string{"read"}, func(c *Config) {
		for i := range c.Upstreams {
			c.Upstreams[i].URL, c.Upstreams[i].Transport = u, staticTransport{}
		}
	})
	tok := f.sign(b, claimsFor("read"))
	for _, tc := range []struct{ name, path string }{
		{"plain", "/api/domain/odata/Persons"},
		{"exchange", billingPath},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", tc.path, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.RemoteAddr = "192.0.2.1:1234"
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				f.proxy.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
	if n := ex.mints.Load(); n != 1 {
		b.Errorf("%d mints, want 1 (cached)", n)
	}
}

// TestExchangeCallerExpiring: a caller token past its exp but inside the
// verification leeway is let through on a plain route, but gets no
// upstream token (there is no second left to give it): 401 invalid_token,
// so the client fetches a new one; nothing is forwarded.
func TestExchangeCallerExpiring(t *testing.T) {
	f, ex := newExchangeFixture(t, []string{"read"})
	c := f.auth.ServiceClaims("com.example/sync", "sid-e", "read")
	tok := f.sign(t, c)
	f.setClock(time.Unix(c.Expiry, 0).Add(10 * time.Second)) // inside the 30 s leeway
	if rec := f.do(http.MethodGet, "http://example.com/api/domain/x", bearer(tok)); rec.Code != http.StatusOK {
		t.Fatalf("plain route inside the leeway: %d (the case needs a token that still verifies)", rec.Code)
	}
	f.upstream.mu.Lock()
	f.upstream.last = nil
	f.upstream.mu.Unlock()
	rec := f.do(http.MethodGet, "http://example.com"+billingPath, bearer(tok))
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("exchange route: %d %q, want 401 invalid_token", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if f.upstream.lastRequest() != nil || ex.mints.Load() != 0 {
		t.Errorf("forwarded (%v) or minted (%d) for an expired caller", f.upstream.lastRequest() != nil, ex.mints.Load())
	}
}

// TestExchangeReferenceTokenCaller: a reference token's caller (an SAT
// in X-Api-Key) gets its upstream a JWT exchanged for it like any other
// caller, revoked with it (exchanged_from names the reference token).
func TestExchangeReferenceTokenCaller(t *testing.T) {
	f, _ := newExchangeFixture(t, []string{"read"})
	sat := f.auth.SAT("com.example/sync", "read")
	rec := f.do(http.MethodGet, "http://example.com"+billingPath, map[string]string{"X-Api-Key": sat.Value})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	fwd, ok := strings.CutPrefix(f.upstream.lastRequest().Header.Get("Authorization"), "Bearer ")
	if !ok || strings.Contains(fwd, sat.Value) || f.upstream.lastRequest().Header.Get("X-Api-Key") != "" {
		t.Fatalf("upstream got Authorization %q, X-Api-Key %q", f.upstream.lastRequest().Header.Get("Authorization"), f.upstream.lastRequest().Header.Get("X-Api-Key"))
	}
	c := f.upstreamClaims(t, fwd)
	if c.ClientSystemUser != "svc-sync" || len(c.ExchangedFrom) != 1 || c.Actor == nil || c.Actor.Subject != claims.GatewayActor {
		t.Errorf("upstream token claims = %+v", c)
	}
}
