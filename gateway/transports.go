package gateway

import (
	"net/http"
	"time"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/proxy"
)

// The upstream transport pool: one transport per upstream, kept across
// reloads.

// transportKey identifies an upstream transport: snapshots that forward
// to the same upstream with the same timeout share one, so a reload keeps
// the warm connections.
type transportKey struct {
	host    string // scheme://host:port
	timeout time.Duration
}

func keyOf(up proxy.Upstream) transportKey {
	return transportKey{host: up.URL.Scheme + "://" + up.URL.Host, timeout: up.Timeout}
}

// transport returns the pooled transport of up, making it on first use.
func (g *Gateway) transport(up proxy.Upstream) http.RoundTripper {
	g.transportsMu.Lock()
	defer g.transportsMu.Unlock()
	k := keyOf(up)
	t := g.transports[k]
	if t == nil {
		t = proxy.NewTransport(up.Timeout)
		g.transports[k] = t
	}
	return t
}

// pruneTransports drops the transports f no longer uses, closing their
// idle connections; requests still in flight on them finish normally.
func (g *Gateway) pruneTransports(f *config.File) {
	ups, err := proxyUpstreams(f)
	if err != nil {
		return
	}
	used := map[transportKey]bool{}
	for _, up := range ups {
		used[keyOf(up)] = true
	}
	g.transportsMu.Lock()
	defer g.transportsMu.Unlock()
	for k, t := range g.transports {
		if !used[k] {
			t.CloseIdleConnections()
			delete(g.transports, k)
		}
	}
}
