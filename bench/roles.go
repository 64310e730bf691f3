package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/erpgate/erpgate/proxy"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/sampleapi"
)

// The bench binary re-runs itself as the servers it measures, each in its
// own process so none shares the load generator's Go scheduler:
//
//	bench -role upstream                    sampleapi.New()
//	bench -role bare -upstream URL          a bare tuned httputil.ReverseProxy
//	bench -role bare-headers -upstream URL  the same, sending erpgate's extra headers
//
// The listening socket is inherited as fd 3 (see loopbackListener).
const (
	roleUpstream    = "upstream"
	roleBare        = "bare"
	roleBareHeaders = "bare-headers"
)

// serveRole runs a child role until SIGTERM or SIGINT.
func serveRole(role, upstream string) error {
	var h http.Handler
	switch role {
	case roleUpstream:
		h = sampleapi.New()
	case roleBare, roleBareHeaders:
		u, err := url.Parse(upstream)
		if err != nil || u.Host == "" {
			return fmt.Errorf("-upstream %q: not a URL", upstream)
		}
		h = bareProxy(u)
		if role == roleBareHeaders {
			h = bareHeadersProxy(u)
		}
	default:
		return fmt.Errorf("unknown -role %q", role)
	}
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		return fmt.Errorf("inherited listener: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bareProxy is the baseline: httputil.ReverseProxy with Rewrite, the
// gateway's own upstream transport (proxy.NewTransport) and a buffer
// pool, and nothing else — what proxy/bench_test.go compares with too.
func bareProxy(u *url.URL) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
		},
		Transport:  proxy.NewTransport(30 * time.Second),
		BufferPool: newBufferPool(),
	}
}

// bareHeadersProxy is bareProxy sending what erpgate adds to a proxied
// call of the bench's service token: a fresh request id, upstream and
// back, and the identity headers (SPEC §4), with values as long as
// erpgate's. Its CPU per request above bareProxy's is what the larger
// request costs any proxy; erpgate's above it is erpgate's own work.
func bareHeadersProxy(u *url.URL) http.Handler {
	rp := bareProxy(u).(*httputil.ReverseProxy)
	rp.Rewrite = func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.SetXForwarded()
		h := pr.Out.Header
		h.Set(requestid.Header, pr.In.Header.Get(requestid.Header))
		h.Set("X-Auth-Subject", benchSystemUser)
		h.Set("X-Auth-Client-Id", benchClientID)
		h.Set("X-Auth-Scope", "read update")
		h.Set("X-Auth-Session", "TWHdnRVzoWcjGYwchnMIUg") // a sid's length
		h.Set("X-Auth-User-Type", "SystemUserNoLogin")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := requestid.New()
		w.Header().Set(requestid.Header, id)
		r.Header.Set(requestid.Header, id) // for Rewrite; the bench's requests carry none
		rp.ServeHTTP(w, r)
	})
}

// bufferPool shares 32 KiB copy buffers, as the gateway's proxy does.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}
func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }
