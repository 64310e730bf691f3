package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
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

// Config is what a gateway is built from: the config file, and what the
// caller (cmd/erpgate) opened or reads for it. The gateway reads no file
// and no environment itself.
type Config struct {
	// File is the config the gateway starts from, as config.Parse
	// accepted it. Its restart-only settings stay for the gateway's life
	// (reload.go).
	File *config.File
	// Store is File.Store, opened. The gateway bounds each of its
	// operations by store.timeout, and owns it: Close closes it, and so
	// does New when it fails.
	Store store.Backend
	// Shared is what Store offers replicas sharing it; zero for sqlite
	// and memory.
	Shared SharedStore
	// Logger gets the process log; the gateway adds request_id to every
	// line logged with a request's context.
	Logger *slog.Logger
	// Audit gets the audit events.
	Audit *audit.Logger
	// Registry gets the gateway's metrics and the Go and process
	// collectors; /metrics serves it. Nil: a new one.
	Registry *prometheus.Registry
	// Clock is the time of every expiry and timestamp; nil: time.Now.
	Clock func() time.Time
	// Version is the build's, on erpgate_build_info and the start line.
	Version string
	// ReadFile reads the files the config names: ui.logo_file and
	// ui.css_file at start and at every reload (a new logo needs no
	// restart), tls.cert_file and tls.key_file when the main listener
	// starts. Nil: a config naming a file is refused.
	ReadFile func(path string) ([]byte, error)
	// LoadConfig reads the config again, for a reload asked by SIGHUP.
	LoadConfig func() (*config.File, error)
	// SIGHUP, when it and LoadConfig are set, delivers the signals that
	// ask Run for a reload (cmd: signal.Notify(ch, syscall.SIGHUP)).
	SIGHUP <-chan os.Signal
}

// Gateway is one running erpgate: store, keys, issuer, proxy and metrics,
// built from a config file. The long-lived state is built once; what else
// derives from the config lives in a snapshot that Reload swaps
// (reload.go).
type Gateway struct {
	file      *config.File // as started; restart-only settings come from it
	logger    *slog.Logger
	audit     *audit.Logger
	metrics   *metrics.Metrics
	clock     func() time.Time
	readFile  func(path string) ([]byte, error)
	version   string
	store     store.Backend
	shared    SharedStore // what replicas sharing the store get (replicas.go)
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
	// loadConfig re-reads the config on SIGHUP; nil: no reload then.
	loadConfig func() (*config.File, error)
	sighup     <-chan os.Signal
	// transports are the upstream transports, shared across snapshots
	// (transports.go).
	transportsMu sync.Mutex
	transports   map[transportKey]*http.Transport
	// draining is set once shutdown began: /readyz says not ready.
	draining atomic.Bool
}

// New builds the gateway of cfg; Run (or Serve) serves it and Close
// releases it.
func New(ctx context.Context, cfg Config) (*Gateway, error) {
	f := cfg.File
	if f == nil || cfg.Store == nil || cfg.Logger == nil || cfg.Audit == nil {
		if cfg.Store != nil {
			cfg.Store.Close()
		}
		return nil, errors.New("gateway: Config.File, Store, Logger and Audit are required")
	}
	g := &Gateway{
		file: f, logger: slog.New(withRequestIDs(cfg.Logger.Handler())), audit: cfg.Audit, // accesslog.go
		clock: cfg.Clock, readFile: cfg.ReadFile, version: cfg.Version, registry: cfg.Registry,
		loadConfig: cfg.LoadConfig, sighup: cfg.SIGHUP, transports: map[transportKey]*http.Transport{},
	}
	if g.clock == nil {
		g.clock = time.Now
	}
	if g.readFile == nil {
		g.readFile = func(path string) ([]byte, error) { return nil, fmt.Errorf("%s: gateway.Config has no ReadFile", path) }
	}
	if g.registry == nil {
		g.registry = prometheus.NewRegistry()
	}
	clock := g.clock

	// Every operation runs under store.timeout (store/bounded), so no
	// request waits longer for a database that stopped answering.
	st := bounded.New(cfg.Store, storeTimeout(f.Store)) // replicas.go
	g.store, g.shared = st, cfg.Shared.withKeyLockTimeout()
	g.closers = append(g.closers, st)
	// What is loaded below, at start, may take longer than a request's
	// store.timeout.
	ctx = bounded.WithOperationTimeout(ctx, startStoreTimeout)

	g.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(g.registry, metrics.Build{Version: cfg.Version, GoVersion: runtime.Version()})
	m.ConfigReloadOK.Set(1)
	g.metrics = m

	// Sessions and license slots (SPEC §5); it sets license_slots_limit.
	// Its Close flushes last-seen times, so it closes before the store.
	var err error
	g.sessions, err = NewSessionManager(f, st, clock, g.logger, g.audit, m)
	if err != nil {
		g.Close()
		return nil, err
	}
	g.closers = append(g.closers, g.sessions)

	g.keys, err = signing.Open(ctx, signing.Config{
		Algorithm: f.Signing.Algorithm, RotateEvery: f.Signing.RotateEvery.D(),
		MaxTokenTTL: f.Tokens.AccessTokenTTL.D(), Store: st, Lock: g.shared.LockKeys, Clock: clock, Logger: g.logger,
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
	g.directory, err = OpenDirectory(ctx, f, st, clock) // a reload swaps the config part
	if err != nil {
		g.Close()
		return nil, err
	}
	g.reftokens, err = reftoken.New(reftoken.Config{
		Store: st, Revocations: g.revoked, Issuer: f.Issuer(), Audiences: f.Tokens.Audiences, Database: f.Instance.DatabaseName(),
		Directory: g.directory, CacheSize: refTokenCacheSize, Clock: clock, Logger: g.logger, Audit: g.audit,
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
	// accesslog.go, reload.go
	g.handler = requestid.Middleware(g.withClientAddr(withAccessLog(f.Log.AccessLog, g.logger, http.HandlerFunc(g.serveCurrent))))
	g.admin = g.adminHandler() // admin.go
	return g, nil
}

// Handler serves the main listener: the identity server and the proxy,
// each request on the snapshot current when it arrived.
func (g *Gateway) Handler() http.Handler { return g.handler }

// AdminHandler serves the admin listener: metrics, health and the admin
// API.
func (g *Gateway) AdminHandler() http.Handler { return g.admin }

// NewSessionManager builds the session manager of f; the gateway and the
// CLI (sessions list, end) share it, so they apply the same license.
func NewSessionManager(f *config.File, st store.Sessions, clock func() time.Time, logger *slog.Logger, a *audit.Logger, m *metrics.Metrics) (*session.Manager, error) {
	return session.New(session.Config{
		Store: st, IdleTimeout: f.Sessions.IdleTimeout.D(), ServiceMaxLifetime: f.Sessions.ServiceMaxLifetime.D(),
		Slots: f.License.Slots, Reserved: f.License.Reserved,
		Clock: clock, Logger: logger, Audit: a, Metrics: m,
	})
}

// OpenDirectory builds the live directory of f's apps and users and the
// apps stored at run time; the gateway and the CLI (tokens) share it.
func OpenDirectory(ctx context.Context, f *config.File, st directory.AppSource, clock func() time.Time) (*directory.Table, error) {
	apps, users, err := f.Directory()
	if err != nil {
		return nil, err
	}
	t := directory.NewTable(st, clock)
	t.SetConfig(apps, users)
	if err := t.Sync(ctx); err != nil {
		return nil, fmt.Errorf("load stored apps: %w", err)
	}
	return t, nil
}

// signInURL is where the account pages send a signed-out browser: the
// gateway's own sign-in, when browser login is configured.
func signInURL(f *config.File) string {
	if !f.Gateway.Enabled() {
		return ""
	}
	return f.PublicURL + browserlogin.StartPath
}

// adminHandler serves the admin listener: /metrics (the gateway's own
// registry), /healthz, /readyz and the admin API.
func (g *Gateway) adminHandler() http.Handler {
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

// Run listens on listen and admin_listen and serves (Serve) until ctx
// ends. ready, if not nil, is called with the bound addresses.
func (g *Gateway) Run(ctx context.Context, ready func(main, admin net.Addr)) error {
	ln, err := net.Listen("tcp", g.file.Listen)
	if err != nil {
		return err
	}
	aln, err := net.Listen("tcp", g.file.AdminListen)
	if err != nil {
		ln.Close()
		return err
	}
	return g.serve(ctx, ln, aln, ready)
}

// Serve serves the main handler on ln and the admin handler on aln until
// ctx ends, then shuts down gracefully; it runs the background loops
// meanwhile and reloads the config on SIGHUP (Config.SIGHUP).
//
// Shutdown: /readyz turns 503 so load balancers stop sending; the main
// listener stops accepting and its requests in flight, long streams
// included, get shutdownDeadline to finish (then their connections are
// cut); the admin listener goes last, so metrics stay scrapable while
// draining; then the background loops stop. The caller's Close writes
// what is buffered (session last-seen, reference-token last-use) and
// closes the store.
func (g *Gateway) Serve(ctx context.Context, ln, aln net.Listener) error {
	return g.serve(ctx, ln, aln, nil)
}

func (g *Gateway) serve(ctx context.Context, ln, aln net.Listener, ready func(main, admin net.Addr)) error {
	main, admin := g.newServer(g.handler), g.newServer(g.admin)
	errc := make(chan error, 2)
	go func() { errc <- g.serveMain(main, ln) }()
	go func() { errc <- admin.Serve(aln) }()

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	loopsDone := g.runLoops(runCtx)

	hup := g.sighup // nil: never ready
	if g.loadConfig == nil {
		hup = nil
	}

	g.logger.Info("erpgate listening", "listen", ln.Addr().String(), "admin_listen", aln.Addr().String(),
		"issuer", g.file.Issuer(), "store", g.file.Store.Driver, "version", g.version)
	if ready != nil {
		ready(ln.Addr(), aln.Addr())
	}
	var err error
wait:
	for {
		select {
		case err = <-errc:
			break wait
		case <-ctx.Done():
			break wait
		case <-hup:
			g.logger.Info("SIGHUP: reloading the config")
			_ = g.reloadFrom(ctx, g.loadConfig) // logged and audited
		}
	}
	// A SIGHUP from here on is not read: the caller keeps it caught (and
	// so ignored) until Serve returns.

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

// serveMain serves the main listener, over TLS when tls is set: the
// certificate and key are read (Config.ReadFile) as the listener starts,
// when http.Server.ServeTLS would read them.
func (g *Gateway) serveMain(srv *http.Server, ln net.Listener) error {
	t := g.file.TLS
	if !t.Enabled() {
		return srv.Serve(ln)
	}
	cert, err := g.readFile(t.CertFile)
	if err != nil {
		return err
	}
	key, err := g.readFile(t.KeyFile)
	if err != nil {
		return err
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return err
	}
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}}
	return srv.ServeTLS(ln, "", "")
}

// newServer applies the timeouts every listener needs: slow-header
// clients are cut (ReadHeaderTimeout), idle keep-alives closed; no
// whole-request timeouts, so long streams and downloads pass.
func (g *Gateway) newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.logger.Handler(), slog.LevelWarn),
	}
}

// runLoops starts the background work of a running gateway; it stops
// when ctx ends. The returned channel is closed once every loop returned.
func (g *Gateway) runLoops(ctx context.Context) <-chan struct{} {
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

// Close writes what is buffered and releases the store, in reverse order
// of opening: reference-token last-use times and session last-seen times
// are flushed while the store is still open.
func (g *Gateway) Close() error {
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
