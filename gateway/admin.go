package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"

	"github.com/erpgate/erpgate/admin"
	"github.com/erpgate/erpgate/adminui"
	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/config"
)

// adminHandler serves the admin listener: /metrics (the gateway's own
// registry; on metrics_listen instead when that is set), /healthz,
// /readyz and the admin API.
func (g *Gateway) adminHandler() http.Handler {
	mux := http.NewServeMux()
	if g.file.MetricsListen == "" { // listeners.go
		mux.Handle("GET /metrics", g.metricsEndpoint())
	}
	mux.Handle("/admin/", http.HandlerFunc(g.serveAdminAPI)) // sessions, license, apps, tokens (package admin); reload.go
	if g.console != nil {
		mux.Handle(adminui.Path+"/", g.console) // adminui.go
	}
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if g.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"status":"not ready","reason":"shutting down"}`+"\n")
			return
		}
		// Ping reads a table (a round trip to the database, whichever
		// connection the pool hands out) within store.timeout, and never
		// longer than a load balancer's probe waits.
		ctx, cancel := context.WithTimeout(r.Context(), readyPingTimeout)
		defer cancel()
		if err := g.store.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"status":"not ready","reason":"store unreachable"}`+"\n")
			return
		}
		if g.keys.ActiveKeyID() == "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"status":"not ready","reason":"no signing key"}`+"\n")
			return
		}
		_, _ = io.WriteString(w, `{"status":"ready"}`+"\n")
	})
	return mux
}

// newAdminAPI builds the /admin/ JSON API (SPEC §7) from f.
func newAdminAPI(f *config.File, auth admin.Authenticator, s admin.Sessions, apps admin.Apps, tokens admin.Tokens, users admin.Users, logger *slog.Logger, a *audit.Logger) (http.Handler, error) {
	return admin.New(admin.Config{
		Authority: auth, Audiences: f.Tokens.Audiences,
		Sessions: s, Apps: apps, Tokens: tokens, Users: users, Logger: logger, Audit: a,
	})
}
