package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/erpgate/erpgate/internal/testauth"
)

// The proxied-request benchmarks compare erpgate's full path (the
// authority as production wires it: bearer JWT verification with the
// cache, revocation, directory, session and license; policy, header
// rewrite, metrics) with a
// bare, equally tuned httputil.ReverseProxy in front of the same upstream,
// in the same process:
//
//	go test ./proxy -run '^$' -bench 'Proxied|Overhead' -benchmem
//
// Compare only numbers from one run; the machine's speed varies.

func benchUpstream(b *testing.B) *url.URL {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"value":[{"Id":1,"Name":"Maria"}]}`)
	}))
	b.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	return u
}

// bareProxy is the baseline: the same transport tuning and buffer pool,
// nothing else.
func bareProxy(u *url.URL) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() },
		Transport:  NewTransport(30 * time.Second),
		BufferPool: newBufferPool(),
	}
}

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256}}
}

type benchTarget struct {
	name string
	url  string
	auth string
}

func benchTargets(b *testing.B) []benchTarget {
	u := benchUpstream(b)
	bare := httptest.NewServer(bareProxy(u))
	b.Cleanup(bare.Close)
	// The proxy on the production wiring of the authority, on the wall
	// clock.
	f := newFixture(b, func(c *Config) {
		for i := range c.Upstreams {
			c.Upstreams[i].URL = u
		}
	}, withAuth(func(c *testauth.Config) { c.Clock = time.Now }))
	gw := httptest.NewServer(f.proxy)
	b.Cleanup(gw.Close)
	c := claimsFor("read")
	c.IssuedAt, c.NotBefore, c.Expiry = time.Now().Unix(), time.Now().Unix(), time.Now().Add(time.Hour).Unix()
	tok := f.sign(b, c)
	return []benchTarget{
		{"bare", bare.URL + "/api/domain/odata/Persons", ""},
		{"erpgate", gw.URL + "/api/domain/odata/Persons", "Bearer " + tok},
	}
}

func get(b *testing.B, c *http.Client, t benchTarget) {
	req, _ := http.NewRequest(http.MethodGet, t.url, nil)
	if t.auth != "" {
		req.Header.Set("Authorization", t.auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("%s: status %d", t.name, resp.StatusCode)
	}
}

// BenchmarkProxiedRequest measures throughput of each path with parallel
// clients.
func BenchmarkProxiedRequest(b *testing.B) {
	for _, t := range benchTargets(b) {
		b.Run(t.name, func(b *testing.B) {
			c := benchClient()
			get(b, c, t) // warm the connection and the token cache
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get(b, c, t)
				}
			})
		})
	}
}

// BenchmarkOverheadRatio interleaves one bare and one erpgate request per
// iteration, so both see the same machine state, and reports erpgate's
// throughput as a fraction of the bare proxy's (1.0 = no overhead).
func BenchmarkOverheadRatio(b *testing.B) {
	ts := benchTargets(b)
	c := benchClient()
	for _, t := range ts {
		get(b, c, t)
	}
	var spent [2]time.Duration
	b.ResetTimer()
	for b.Loop() {
		for i, t := range ts {
			start := time.Now()
			get(b, c, t)
			spent[i] += time.Since(start)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(spent[0].Nanoseconds())/n, "bare-ns/req")
	b.ReportMetric(float64(spent[1].Nanoseconds())/n, "erpgate-ns/req")
	b.ReportMetric(float64(spent[0])/float64(spent[1]), "throughput-ratio")
}

// staticTransport answers every request itself, so BenchmarkHotPath
// measures erpgate's own work per request, without a network hop.
type staticTransport struct{}

func (staticTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: http.NoBody, ContentLength: 0, Request: r, ProtoMajor: 1, ProtoMinor: 1}, nil
}

// BenchmarkHotPath is one authorized request through the whole handler
// (request id, route match, the authority: cached verification,
// revocation list, directory, session cache; policy, header rewrite,
// metrics) against the bare ReverseProxy on the
// same in-process transport; compare cpu-ns/op (the process's CPU per
// request, garbage collection included) and allocs/op.
//
//	go test ./proxy -run '^$' -bench HotPath -benchmem
func BenchmarkHotPath(b *testing.B) {
	u, _ := url.Parse("http://upstream.test")
	f := newFixture(b, func(c *Config) {
		for i := range c.Upstreams {
			c.Upstreams[i] = Upstream{URL: u, Transport: staticTransport{}}
		}
	})
	tok := f.sign(b, claimsFor("read"))
	bare := &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() },
		Transport:  staticTransport{},
		BufferPool: newBufferPool(),
	}
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"bare", bare}, {"erpgate", f.proxy}} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/api/domain/odata/Persons", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.RemoteAddr = "192.0.2.1:1234"
			b.ReportAllocs()
			before := processCPU(b)
			for b.Loop() {
				w := httptest.NewRecorder()
				tc.h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
			// ns/op is one goroutine's time; the collector's work on the
			// other CPU shows only in the process's CPU.
			b.ReportMetric(float64(processCPU(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is this process's CPU time so far (user + system, the
// collector's included), in nanoseconds.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkRefusal is a refused request (no token: 401) for an API
// client, which gets the JSON and pays nothing for pages, and for a
// browser, which gets the page:
//
//	go test ./proxy -run '^$' -bench Refusal -benchmem
func BenchmarkRefusal(b *testing.B) {
	f := newFixture(b, nil)
	for _, tc := range []struct{ name, accept string }{
		{"api", "application/json"},
		{"browser", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/api/domain/odata/Persons", nil)
			req.Header.Set("Accept", tc.accept)
			req.RemoteAddr = "192.0.2.1:1234"
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				f.proxy.ServeHTTP(w, req)
				if w.Code != http.StatusUnauthorized {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
