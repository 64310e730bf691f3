package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/erpgate/erpgate/proxy"
	"github.com/erpgate/erpgate/sampleapi"
)

// BenchmarkGatewayHotPath is a proxied JWT call through the whole main
// listener's handler — request id, client address, host check, access
// log as configured, the proxy with the credential authority, session
// and policy — against a bare, equally tuned httputil.ReverseProxy to the
// same upstream, in one process, without the client's network: what
// erpgate's own code costs per request (issue 22's ≤ 5 µs above bare).
//
//	go test ./gateway -run '^$' -bench GatewayHotPath -benchmem -cpuprofile cpu.out
//
// Compare only numbers from one run.
func BenchmarkGatewayHotPath(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"value":[{"Id":1,"Name":"Maria"}]}`)
	}))
	b.Cleanup(up.Close)
	upURL, _ := url.Parse(up.URL)
	front := startExampleGateway(b, io.Discard, up.URL, "")
	token := demoToken(b, front.URL)
	host := front.Listener.Addr().String()
	g := front.Config.Handler

	bare := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(upURL); pr.SetXForwarded() },
		Transport: proxy.NewTransport(30 * time.Second),
	}
	run := func(b *testing.B, h http.Handler) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req := httptest.NewRequest(http.MethodGet, "http://"+host+sampleapi.PersonsPath, nil)
				req.RemoteAddr = "127.0.0.1:40000"
				req.Header.Set("Authorization", "Bearer "+token)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Errorf("status %d: %s", rec.Code, rec.Body)
					return
				}
			}
		})
	}
	b.Run("bare", func(b *testing.B) { run(b, bare) })
	b.Run("erpgate", func(b *testing.B) { run(b, g) })
}
