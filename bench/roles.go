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
	"github.com/erpgate/erpgate/sampleapi"
)

// The bench binary re-runs itself as the servers it measures, each in its
// own process so none shares the load generator's Go scheduler:
//
//	bench -role upstream                 sampleapi.New()
//	bench -role bare -upstream URL       a bare tuned httputil.ReverseProxy
//
// The listening socket is inherited as fd 3 (see loopbackListener).
const (
	roleUpstream = "upstream"
	roleBare     = "bare"
)

// serveRole runs a child role until SIGTERM or SIGINT.
func serveRole(role, upstream string) error {
	var h http.Handler
	switch role {
	case roleUpstream:
		h = sampleapi.New()
	case roleBare:
		u, err := url.Parse(upstream)
		if err != nil || u.Host == "" {
			return fmt.Errorf("-upstream %q: not a URL", upstream)
		}
		h = bareProxy(u)
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

// bufferPool shares 32 KiB copy buffers, as the gateway's proxy does.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}
func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }
