package gateway

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/erpgate/erpgate/config"
)

// The admin listener's TLS (admin_tls) and the metrics listener
// (metrics_listen). With metrics_listen set, /metrics leaves the admin
// listener for a listener of its own, with /healthz beside it, so a
// Prometheus server (or a network policy letting it in) needs no route
// to the admin API; /healthz and /readyz stay on admin_listen for the
// probes. The metrics listener is plain HTTP: what it serves is what a
// scrape sees anyway, and it holds no credential.

// metricsEndpoint serves the gateway's own registry in the Prometheus
// text format.
func (g *Gateway) metricsEndpoint() http.Handler {
	return promhttp.HandlerFor(g.registry, promhttp.HandlerOpts{Registry: g.registry})
}

// metricsHandler serves the metrics listener: /metrics and /healthz.
func (g *Gateway) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", g.metricsEndpoint())
	mux.HandleFunc("GET /healthz", healthz)
	return mux
}

// healthz says the process is up.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
}

// listenMetrics binds metrics_listen; nil when it is not set.
func (g *Gateway) listenMetrics() (net.Listener, error) {
	if g.file.MetricsListen == "" {
		return nil, nil
	}
	return net.Listen("tcp", g.file.MetricsListen)
}

// serveTLS serves srv on ln, over TLS when t, the TLS block at path, is
// set: the certificate and key are read (Config.ReadFile) as the
// listener starts, when http.Server.ServeTLS would read them.
func (g *Gateway) serveTLS(srv *http.Server, ln net.Listener, path string, t config.TLS) error {
	if !t.Enabled() {
		return srv.Serve(ln)
	}
	pair, err := config.LoadKeyPair(path, t, g.readFile)
	if err != nil {
		return err
	}
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}}
	return srv.ServeTLS(ln, "", "")
}

// shutdownServers shuts srvs down gracefully within ctx, closing those
// that did not finish; it returns the first error.
func shutdownServers(ctx context.Context, srvs ...*http.Server) error {
	var first error
	for _, s := range srvs {
		if s == nil {
			continue
		}
		if err := s.Shutdown(ctx); err != nil {
			_ = s.Close()
			if first == nil {
				first = err
			}
		}
	}
	return first
}
