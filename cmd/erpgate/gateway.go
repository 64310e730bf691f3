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
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/erpgate/erpgate/accesstoken"
	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/browserlogin"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/revocation"
	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/bounded"
	"github.com/erpgate/erpgate/store/memory"
	"github.com/erpgate/erpgate/store/postgres"
	"github.com/erpgate/erpgate/store/sqlite"
)

// Defaults that are not (yet) worth a config key.
const (
	tokenLeeway      = 30 * time.Second // clock skew tolerated on exp/nbf
	tokenCacheSize   = 100_000          // verified tokens kept (≈0.5 KiB each)
	keyRefreshEvery  = time.Minute      // how often keys are reloaded / rotated
	shutdownDeadline = 30 * time.Second // in-flight requests get this long
	// closeFlushTimeout bounds writing what is buffered at Close.
	closeFlushTimeout = 10 * time.Second
	// loopStopTimeout bounds the wait for background loops at shutdown.
	loopStopTimeout = 5 * time.Second
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
	// startStoreTimeout bounds each store operation while the gateway
	// starts (every revocation and app loaded at once), instead of
	// store.timeout, which is for requests.
	startStoreTimeout = 30 * time.Second
	// sweepStoreTimeout bounds each delete of the janitor, which may
	// meet a backlog of expired records.
	sweepStoreTimeout = time.Minute
	// readyPingTimeout caps the store check of /readyz (store.timeout
	// applies first when shorter).
	readyPingTimeout = 2 * time.Second
)

func cmdServe(ctx context.Context, args []string, e env) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	path := fs.String("config", "", "config file (default $ERPGATE_CONFIG, else erpgate.yaml)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	file := configPath(*path, e)
	f, err := loadConfig(file, e)
	if err != nil {
		return err
	}
	g, err := newGateway(ctx, f, e.stderr)
	if err != nil {
		return err
	}
	defer g.Close()
	// SIGHUP re-reads the same file (reload.go).
	g.loadFile = func() (*config.File, error) { return loadConfig(file, e) }
	return g.serve(ctx, nil)
}

// gateway is one running erpgate: store, keys, issuer, proxy and metrics,
// built from a config file. The long-lived state is built once; what else
// derives from the config lives in a snapshot that Reload swaps
// (reload.go).
type gateway struct {
	file      *config.File // as started; restart-only settings come from it
	logger    *slog.Logger
	audit     *audit.Logger
	metrics   *metrics.Metrics
	clock     func() time.Time
	store     store.Backend
	shared    sharedStore // what replicas sharing the store get (replicas.go)
	keys      *signing.Keyring
	revoked   *revocation.List
	directory *directory.Table     // apps and users, live (config + store)
	authority *authority.Authority // judges every credential at every door
	reftokens *reftoken.Service
	verifier  *accesstoken.Verifier
	sessions  *session.Manager
	registry  *prometheus.Registry
	handler   http.Handler // proxy + identity server, on the current snapshot
	admin     http.Handler // metrics, health, admin API
	closers   []io.Closer

	// snap is the current snapshot; each request loads it once.
	snap     atomic.Pointer[snapshot]
	reloadMu sync.Mutex // one reload at a time
	// loadFile re-reads the config file serve started from (SIGHUP); nil:
	// no reload on SIGHUP.
	loadFile func() (*config.File, error)
	// transports are the upstream transports, shared across snapshots.
	transportsMu sync.Mutex
	transports   map[transportKey]*http.Transport
	// draining is set once shutdown began: /readyz says not ready.
	draining atomic.Bool
}

// newGateway wires a gateway. Logs and audit lines go to logOut unless
// log.audit names a file.
func newGateway(ctx context.Context, f *config.File, logOut io.Writer) (*gateway, error) {
	g := &gateway{file: f, logger: slog.New(withRequestIDs(newLogger(f.Log, logOut).Handler()))} // accesslog.go
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
	g.audit, g.clock, g.transports = auditLog, clock, map[transportKey]*http.Transport{}

	st, shared, err := openGatewayStore(ctx, f.Store) // replicas.go
	if err != nil {
		g.Close()
		return nil, err
	}
	g.store, g.shared = st, shared
	g.closers = append(g.closers, st)
	// What is loaded below, at start, may take longer than a request's
	// store.timeout.
	ctx = bounded.WithOperationTimeout(ctx, startStoreTimeout)

	g.registry = prometheus.NewRegistry()
	g.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(g.registry, metrics.Build{Version: version, GoVersion: runtime.Version()})
	m.ConfigReloadOK.Set(1)
	g.metrics = m

	// Sessions and license slots (SPEC §5); it sets license_slots_limit.
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

	g.revoked, err = revocation.Open(ctx, st, clock, g.logger)
	if err != nil {
		g.Close()
		return nil, err
	}
	g.verifier = accesstoken.New(accesstoken.Config{
		Issuer: f.Issuer(), KeySet: g.keys, Algorithms: signing.Algorithms,
		Clock: clock, Leeway: tokenLeeway, CacheSize: tokenCacheSize,
	})
	g.directory, err = openDirectory(ctx, f, st, clock) // config.go; a reload swaps the config part
	if err != nil {
		g.Close()
		return nil, err
	}
	g.reftokens, err = reftoken.New(reftoken.Config{
		Store: st, Revocations: g.revoked, Issuer: f.Issuer(), Audiences: f.Tokens.Audiences, Database: f.Instance.DatabaseName(),
		Directory: g.directory, CacheSize: refTokenCacheSize, Clock: clock, Logger: g.logger, Audit: auditLog,
	})
	if err != nil {
		g.Close()
		return nil, err
	}
	g.authority, err = authority.New(authority.Config{
		Verifier: g.verifier, ReferenceTokens: g.reftokens, Revocations: g.revoked,
		Sessions: g.sessions, Directory: g.directory,
	})
	if err != nil {
		g.Close()
		return nil, err
	}
	// Close writes the last-use times not yet written, before the store
	// closes (closers run in reverse).
	g.closers = append(g.closers, closerFunc(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), closeFlushTimeout)
		defer cancel()
		return g.reftokens.Flush(ctx)
	}))

	snap, err := g.buildSnapshot(f) // reload.go
	if err != nil {
		g.Close()
		return nil, err
	}
	g.snap.Store(snap)
	g.handler = requestid.Middleware(g.withClientAddr(withAccessLog(f.Log.AccessLog, g.logger, http.HandlerFunc(g.serveCurrent)))) // accesslog.go, reload.go
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
	mux.Handle("/admin/", http.HandlerFunc(g.serveAdminAPI)) // sessions, license, apps, tokens (package admin); reload.go
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
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
// On SIGHUP it reloads the config with loadFile, when set.
//
// Shutdown: /readyz turns 503 so load balancers stop sending; the main
// listener stops accepting and its requests in flight, long streams
// included, get shutdownDeadline to finish (then their connections are
// cut); the admin listener goes last, so metrics stay scrapable while
// draining; then the background loops stop. The caller's Close writes
// what is buffered (session last-seen, reference-token last-use) and
// closes the store.
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
	loopsDone := g.runLoops(runCtx)

	var hup chan os.Signal // nil: never ready
	if g.loadFile != nil {
		hup = make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup) // stopped on shutdown
	}

	g.logger.Info("erpgate listening", "listen", ln.Addr().String(), "admin_listen", aln.Addr().String(),
		"issuer", g.file.Issuer(), "store", g.file.Store.Driver, "version", version)
	if ready != nil {
		ready(ln.Addr(), aln.Addr())
	}
wait:
	for {
		select {
		case err = <-errc:
			break wait
		case <-ctx.Done():
			break wait
		case <-hup:
			g.logger.Info("SIGHUP: reloading the config")
			_ = g.reloadFrom(ctx, g.loadFile) // logged and audited
		}
	}
	// A SIGHUP from here on is caught and ignored (stopping the
	// notification would make it fatal again).

	g.draining.Store(true)
	g.logger.Info("erpgate shutting down: finishing requests in flight", "deadline", shutdownDeadline)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownDeadline)
	defer cancel()
	if e := main.Shutdown(sctx); e != nil {
		g.logger.Warn("requests still in flight at the shutdown deadline; closing their connections", "err", e)
		_ = main.Close()
		if err == nil {
			err = e
		}
	}
	if e := admin.Shutdown(sctx); e != nil {
		_ = admin.Close()
		if err == nil {
			err = e
		}
	}
	stop()
	select {
	case <-loopsDone:
	case <-time.After(loopStopTimeout):
		g.logger.Warn("background loops did not stop in time", "timeout", loopStopTimeout)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// runLoops starts the background work of a running gateway; it stops
// when ctx ends. The returned channel is closed once every loop returned.
func (g *gateway) runLoops(ctx context.Context) <-chan struct{} {
	jctx := bounded.WithOperationTimeout(ctx, sweepStoreTimeout)
	var wg sync.WaitGroup
	wg.Go(func() { g.keys.Run(ctx, keyRefreshEvery) })
	wg.Go(func() { g.revoked.Run(ctx, revocationSyncEvery) })
	wg.Go(func() { g.reftokens.Run(ctx) }) // flush last-use times; once more when ctx ends
	wg.Go(func() {                         // apps changed by other processes
		g.directory.Run(ctx, appSyncEvery, func(err error) { g.logger.Warn("sync apps", "err", err) })
	})
	wg.Go(func() { g.sessions.Run(ctx) })  // flush, reap, sync ends; closed (and flushed) by g.Close
	wg.Go(func() { g.runChangeSync(ctx) }) // reload at once what other replicas change (replicas.go)
	wg.Go(func() { g.runJanitor(jctx) })   // delete expired codes, refresh tokens, revocations (janitor.go)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

// Close writes what is buffered and releases the store and the audit
// file, in reverse order of opening: reference-token last-use times and
// session last-seen times are flushed while the store is still open.
func (g *gateway) Close() error {
	var errs []error
	for i := len(g.closers) - 1; i >= 0; i-- {
		errs = append(errs, g.closers[i].Close())
	}
	g.closers = nil
	return errors.Join(errs...)
}

// closerFunc adapts a function to io.Closer.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }
