package proxy

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/dpop/dpoptest"
)

// TestDPoPUpstream: a DPoP call is forwarded with the token as a bearer
// token and without the proof (RFC 9449 §7.1: the proof names the
// gateway's URL and is spent; ERP APIs take bearer tokens), and not at
// all on a route that strips Authorization; a call without a valid proof
// is refused with the DPoP challenge and never reaches the upstream.
func TestDPoPUpstream(t *testing.T) {
	f := newFixture(t, nil)
	key := dpoptest.NewKey(t)
	c := claimsFor("read", "update")
	c.Confirmation = &claims.Confirmation{JKT: key.JKT()}
	tok := f.sign(t, c)
	for _, tc := range []struct{ path, want string }{
		{"/api/domain/odata/Persons", "Bearer " + tok},
		{"/api/table/x", ""}, // the route with StripAuthorization
	} {
		u := "http://example.com" + tc.path
		rec := f.do(http.MethodGet, u, map[string]string{
			"Authorization": "DPoP " + tok, "DPoP": key.Proof(http.MethodGet, u, tok, f.auth.Now()),
		})
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.path, rec.Code, rec.Body)
		}
		up := f.upstream.lastRequest()
		if got := up.Header.Get("Authorization"); got != tc.want || up.Header.Get("DPoP") != "" {
			t.Errorf("%s: the upstream got Authorization %q and DPoP %q, want %q and none", tc.path, got, up.Header.Get("DPoP"), tc.want)
		}
	}

	f.upstream.last = nil
	rec := f.do(http.MethodGet, "http://example.com/api/domain/odata/Persons", map[string]string{"Authorization": "DPoP " + tok})
	ch := rec.Header().Get("WWW-Authenticate")
	if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(ch, `DPoP algs="ES256 `) || !strings.Contains(ch, `error="invalid_dpop_proof"`) {
		t.Errorf("without a proof: %d %q, want 401 with the DPoP challenge", rec.Code, ch)
	}
	if f.upstream.lastRequest() != nil {
		t.Error("a refused call reached the upstream")
	}
}

// BenchmarkHotPathDPoP is BenchmarkHotPath's request with a DPoP-bound
// token and a fresh proof each time (made outside the timer, as a client
// makes it): what checking the proof costs per request (ES256 signature,
// htu normalisation, the replay cache), against the bearer token's path.
//
//	go test ./proxy -run '^$' -bench 'HotPath' -benchmem
func BenchmarkHotPathDPoP(b *testing.B) {
	u, _ := url.Parse("http://upstream.test")
	f := newFixture(b, func(c *Config) {
		for i := range c.Upstreams {
			c.Upstreams[i] = Upstream{URL: u, Transport: staticTransport{}}
		}
	})
	key := dpoptest.NewKey(b)
	c := claimsFor("read")
	c.Confirmation = &claims.Confirmation{JKT: key.JKT()}
	tok := f.sign(b, c)
	const target = "http://example.com/api/domain/odata/Persons"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		req := httptest.NewRequest("GET", target, nil)
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", key.Proof("GET", target, tok, f.auth.Now()))
		req.RemoteAddr = "192.0.2.1:1234"
		w := httptest.NewRecorder()
		b.StartTimer()
		f.proxy.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d %s", w.Code, w.Body)
		}
	}
}
