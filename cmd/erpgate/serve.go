package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/erpgate/erpgate/accesstoken"
	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/browserlogin"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/issuer"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/policy"
	"github.com/erpgate/erpgate/proxy"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/revocation"
	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
	"github.com/erpgate/erpgate/store/postgres"
	"github.com/erpgate/erpgate/store/sqlite"
)

// Defaults that are not (yet) worth a config key.
const (
	tokenLeeway      = 30 * time.Second // clock skew tolerated on exp/nbf
	tokenCacheSize   = 100_000          // verified tokens kept (≈1 KiB each)
	keyRefreshEvery  = time.Minute      // how often keys are reloaded / rotated
	shutdownDeadline = 30 * time.Second // in-flight requests get this long
	// identitySessionTTL is how long a sign-in at the identity server
	// lasts for single sign-on.
	identitySessionTTL = 12 * time.Hour
	// revocationSyncEvery bounds how late a revocation written by another
	// process (CLI, replica) reaches this one.
	revocationSyncEvery = time.Second
	// appSyncEvery bounds how late an app created or changed by another
	// process reaches this one.
	appSyncEvery = time.Second
	// refTokenCacheSize bounds the reference tokens kept in memory.
	refTokenCacheSize = 100_000
)

func cmdServe(ctx context.Context, args []string, e env) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	path := fs.String("config", "", "config file (default $ERPGATE_CONFIG, else erpgate.yaml)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := loadConfig(configPath(*path, e), e)
	if err != nil {
		return err
	}
	g, err := newGateway(ctx, f, e.stderr)
	if err != nil {
		return err
	}
	defer g.Close()
	return g.serve(ctx, nil)
}

// gateway is one running erpgate: store, keys, issuer, proxy and metrics,
// built from a config file.
type gateway struct {
	file      *config.File
	logger    *slog.Logger
	store     store.Backend
	shared    sharedStore // what replicas sharing the store get (replicas.go)
	keys      *signing.Keyring
	revoked   *revocation.List
	issuer    *issuer.Server
	reftokens *reftoken.Service
	verifier  *accesstoken.Verifier
	sessions  *session.Manager
	adminAPI  http.Handler // /admin/ (adminapi.go)
	registry  *prometheus.Registry
	handler   http.Handler // proxy + identity server
	admin     http.Handler // metrics, health
	closers   []io.Closer
}

// newGateway wires a gateway. Logs and audit lines go to logOut unless
// log.audit names a file.
func newGateway(ctx context.Context, f *config.File, logOut io.Writer) (*gateway, error) {
	g := &gateway{file: f, logger: newLogger(f.Log, logOut)}
	auditOut := logOut
	if p := f.Log.Audit; p != "" && p != "stderr" {
		af, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("log.audit: %w", err)
		}
		g.closers = append(g.closers, af)
		auditOut = af
	}
	auditLog := audit.New(slog.NewJSONHandler(auditOut, nil))
	clock := time.Now

	st, shared, err := openGatewayStore(ctx, f.Store) // replicas.go
	if err != nil {
		g.Close()
		return nil, err
	}
	g.store, g.shared = st, shared
	g.closers = append(g.closers, st)

	g.registry = prometheus.NewRegistry()
	g.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(g.registry, metrics.Build{Version: version, GoVersion: runtime.Version()})
	m.ConfigReloadOK.Set(1)

	// Sessions and license slots (SPEC §5); it sets license_slots_total.
	// Its Close flushes last-seen times, so it closes before the store.
	g.sessions, err = newSessionManager(f, st, clock, g.logger, auditLog, m)
	if err != nil {
		g.Close()
		return nil, err
	}
	g.closers = append(g.closers, g.sessions)

	g.keys, err = signing.Open(ctx, signing.Config{
		Algorithm: f.Signing.Algorithm, RotateEvery: f.Signing.RotateEvery.D(),
		MaxTokenTTL: f.Tokens.AccessTokenTTL.D(), Store: st, Lock: shared.lockKeys, Clock: clock, Logger: g.logger,
	})
	if err != nil {
		g.Close()
		return nil, err
	}

	apps, err := issuerApps(f)
	if err != nil {
		g.Close()
		return nil, err
	}
	g.revoked, err = revocation.Open(ctx, st, clock, g.logger)
	if err != nil {
		g.Close()
		return nil, err
	}
	g.verifier = accesstoken.New(accesstoken.Config{
		Issuer: f.Issuer(), KeySet: g.keys, Algorithms: signing.Algorithms,
		Clock: clock, Leeway: tokenLeeway, CacheSize: tokenCacheSize,
	})
	// The reference-token service resolves apps and users through the
	// issuer's tables, which exist once issuer.New returns.
	var iss *issuer.Server
	g.reftokens, err = reftoken.New(reftoken.Config{
		Store: st, Revocations: g.revoked, Issuer: f.Issuer(), Audiences: f.Tokens.Audiences,
		Directory: directory{
			app:  func(id string) *issuer.App { return iss.LookupApp(id) },
			user: func(login string) *issuer.User { return iss.LookupUser(login) },
		},
		CacheSize: refTokenCacheSize, Clock: clock, Logger: g.logger, Audit: auditLog,
	})
	if err != nil {
		g.Close()
		return nil, err
	}
	iss, err = issuer.New(issuer.Config{
		Issuer: f.Issuer(), AccessTokenTTL: f.Tokens.AccessTokenTTL.D(), Audiences: f.Tokens.Audiences,
		ScopeAsString: f.Tokens.ScopeFormat == "string", Apps: apps, RuntimeApps: st, Users: issuerUsers(f),
		CodeTTL: f.Tokens.CodeTTL.D(), RefreshTokenTTL: f.Tokens.RefreshTokenTTL.D(),
		PublicRefreshTokenTTL: f.Tokens.PublicRefreshTokenTTL.D(), RefreshReuseGrace: f.Tokens.RefreshReuseGrace.D(),
		IdentitySessionTTL: identitySessionTTL,
		Grants:             st, Sessions: st, Revocations: g.revoked, AccessTokens: g.verifier,
		EndSession: func(ctx context.Context, sid string) error {
			// Through the manager: refused at once here, audited.
			_, err := g.sessions.End(ctx, sid, store.EndLogout)
			return err
		},
		ReferenceTokens: g.reftokens, SignInURL: signInURL(f),
		Signer: g.keys, Clock: clock, Logger: g.logger, Audit: auditLog, Metrics: m,
	})
	if err != nil {
		g.Close()
		return nil, err
	}

	pol, err := policy.Compile(policyRoutes(f))
	if err != nil {
		g.Close()
		return nil, err
	}
	ups, err := proxyUpstreams(f)
	if err != nil {
		g.Close()
		return nil, err
	}
	trusted, err := trustedProxies(f)
	if err != nil {
		g.Close()
		return nil, err
	}
	browser, err := newBrowserLogin(f, iss, g.keys, clock, g.logger) // browser.go; nil without gateway.client_id
	if err != nil {
		g.Close()
		return nil, err
	}
	px, err := proxy.New(proxy.Config{
		Policy: pol, Upstreams: ups, Issuer: f.Issuer(), KeySet: g.keys,
		Algorithms: signing.Algorithms, Leeway: tokenLeeway, TokenCacheSize: tokenCacheSize,
		TrustedProxies: trusted, Revocations: g.revoked, Sessions: g.sessions, Browser: browser,
		ReferenceTokens: g.reftokens,
		Clock:           clock, Logger: g.logger, Audit: auditLog, Metrics: m,
	})
	if err != nil {
		g.Close()
		return nil, err
	}
	g.handler = requestid.Middleware(splitIssuer(iss.Prefix(), iss, px))
	g.issuer = iss
	registry := &appRegistry{file: f, store: st, issuer: iss, clock: clock}
	g.adminAPI, err = newAdminAPI(f, g.verifier, g.sessions, registry, g.reftokens, g.logger, auditLog)
	if err != nil {
		g.Close()
		return nil, err
	}
	g.admin = g.adminHandler()
	return g, nil
}

// signInURL is where the account pages send a signed-out browser: the
// gateway's own sign-in, when browser login is configured.
func signInURL(f *config.File) string {
	if !f.Gateway.Enabled() {
		return ""
	}
	return f.PublicURL + browserlogin.StartPath
}

func openStore(ctx context.Context, s config.Store) (store.Backend, error) {
	switch s.Driver {
	case "memory":
		return memory.New(), nil
	case "sqlite":
		return sqlite.Open(ctx, s.DSN)
	case "postgres":
		return postgres.Open(ctx, s.DSN)
	default:
		return nil, fmt.Errorf("store.driver %q is not available in this version (use sqlite, postgres or memory)", s.Driver)
	}
}

func newLogger(c config.Log, out io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(out, opts))
	}
	return slog.New(slog.NewJSONHandler(out, opts))
}

// splitIssuer sends the issuer's paths to the identity server and
// everything else to the proxy.
func splitIssuer(prefix string, iss, px http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			iss.ServeHTTP(w, r)
			return
		}
		px.ServeHTTP(w, r)
	})
}

func (g *gateway) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.registry, promhttp.HandlerOpts{Registry: g.registry}))
	mux.Handle("/admin/", g.adminAPI) // sessions, license (package admin)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
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

// newServer applies the timeouts every listener needs: slow-header
// clients are cut (ReadHeaderTimeout), idle keep-alives closed; no
// whole-request timeouts, so long streams and downloads pass.
func (g *gateway) newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.logger.Handler(), slog.LevelWarn),
	}
}

// serve listens on listen and admin_listen until ctx ends, then shuts
// down gracefully. ready, if not nil, is called with the bound addresses.
func (g *gateway) serve(ctx context.Context, ready func(main, admin net.Addr)) error {
	ln, err := net.Listen("tcp", g.file.Listen)
	if err != nil {
		return err
	}
	aln, err := net.Listen("tcp", g.file.AdminListen)
	if err != nil {
		ln.Close()
		return err
	}
	main, admin := g.newServer(g.handler), g.newServer(g.admin)
	errc := make(chan error, 2)
	go func() {
		if g.file.TLS.Enabled() {
			errc <- main.ServeTLS(ln, g.file.TLS.CertFile, g.file.TLS.KeyFile)
		} else {
			errc <- main.Serve(ln)
		}
	}()
	go func() { errc <- admin.Serve(aln) }()

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	g.runLoops(runCtx)

	g.logger.Info("erpgate listening", "listen", ln.Addr().String(), "admin_listen", aln.Addr().String(),
		"issuer", g.file.Issuer(), "store", g.file.Store.Driver, "version", version)
	if ready != nil {
		ready(ln.Addr(), aln.Addr())
	}
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownDeadline)
	defer cancel()
	if e := main.Shutdown(sctx); e != nil && err == nil {
		err = e
	}
	if e := admin.Shutdown(sctx); e != nil && err == nil {
		err = e
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// runLoops starts the background work of a running gateway; it stops
// when ctx ends.
func (g *gateway) runLoops(ctx context.Context) {
	go g.keys.Run(ctx, keyRefreshEvery)
	go g.revoked.Run(ctx, revocationSyncEvery)
	go g.reftokens.Run(ctx)                   // flush last-use times
	go g.issuer.RunAppSync(ctx, appSyncEvery) // apps changed by other processes
	go g.sessions.Run(ctx)                    // flush, reap, sync ends; closed (and flushed) by g.Close
	go g.runChangeSync(ctx)                   // reload at once what other replicas change (replicas.go)
}

// Close releases the store and the audit file.
func (g *gateway) Close() error {
	var errs []error
	for i := len(g.closers) - 1; i >= 0; i-- {
		errs = append(errs, g.closers[i].Close())
	}
	g.closers = nil
	return errors.Join(errs...)
}
