package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/erpgate/erpgate/accesstoken"
	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/browserlogin"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/dpop"
	"github.com/erpgate/erpgate/live"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/revocation"
	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/bounded"
	"github.com/erpgate/erpgate/store/traced"
	"github.com/erpgate/erpgate/tracing"
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
	// LogLevel, when set, is the level Logger's handler reads
	// (slog.HandlerOptions.Level): a reload sets it to log.level. Nil:
	// a change of log.level needs a restart.
	LogLevel *slog.LevelVar
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
	// ReopenLogs, when set, is called on every SIGHUP Run reads, before
	// the config is read again: the log files the caller opened
	// (log.audit) start anew at their path, so logrotate's rename takes
	// effect. Its error is logged; the files already open stay in use.
	ReopenLogs func() error
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
	directory *directory.Table // apps and users, live (config + store)
	// dpop checks DPoP proofs for the token endpoint and every door:
	// one replay cache for both (RFC 9449 §11.1).
	dpop      *dpop.Checker
	authority *authority.Authority // judges every credential at every door
	live      *live.Registry       // WebSockets and streams, across reloads (live.go)
	tracing   *tracing.Provider    // tracing.go; disabled when off
	reftokens *reftoken.Service
	users     *Users // run-time users: admin API, reset links (users.go)
	// providers are the identity providers of the last reload, and
	// federationHTTP their HTTP client (federation.go).
	providers      providerCache
	federationHTTP *http.Client
	verifier       *accesstoken.Verifier
	sessions       *session.Manager
	registry       *prometheus.Registry
	handler        http.Handler // proxy + identity server, on the current snapshot
	admin          http.Handler // metrics, health, admin API
	closers        []io.Closer

	// snap is the current snapshot; each request loads it once.
	snap     atomic.Pointer[snapshot]
	reloadMu sync.Mutex // one reload at a time
	// loadConfig re-reads the config on SIGHUP; nil: no reload then.
	loadConfig func() (*config.File, error)
	sighup     <-chan os.Signal
	reopenLogs func() error // on SIGHUP; nil: no files to reopen
	// logLevel is Config.LogLevel, set by reloads; nil: log.level is
	// restart-only.
	logLevel *slog.LevelVar
	// transports are the upstream transports, shared across snapshots
	// (transports.go).
	transportsMu sync.Mutex
	transports   map[transportKey]*http.Transport
	// draining is set once shutdown began: /readyz says not ready.
	draining atomic.Bool

	// recent keeps the latest audit events, console is the admin console
	// (nil when admin_ui is off): adminui.go.
	recent  *audit.Recent
	console http.Handler
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
		federationHTTP: federationClient(),
		loadConfig:     cfg.LoadConfig, sighup: cfg.SIGHUP, reopenLogs: cfg.ReopenLogs, transports: map[transportKey]*http.Transport{},
	}
	g.logLevel = cfg.LogLevel // reload.go
	if g.clock == nil {
		g.clock = time.Now
	}
	g.keepRecent() // adminui.go
	if g.readFile == nil {
		g.readFile = func(path string) ([]byte, error) { return nil, fmt.Errorf("%s: gateway.Config has no ReadFile", path) }
	}
	if g.registry == nil {
		g.registry = prometheus.NewRegistry()
	}
	clock := g.clock

	// Tracing before the store, whose operations it traces; Close shuts
	// it down last, flushing the spans of everything closed before.
	tp, terr := newTracing(ctx, f, g.readFile, cfg.Version, g.logger) // tracing.go
	if terr != nil {
		cfg.Store.Close()
		return nil, terr
	}
	g.tracing = tp
	g.closers = append(g.closers, closerFunc(func() error { return tp.Shutdown(context.Background()) }))

	// Every operation runs under store.timeout (store/bounded), so no
	// request waits longer for a database that stopped answering.
	var st store.Backend = bounded.New(cfg.Store, storeTimeout(f.Store)) // replicas.go
	g.store, g.shared = st, cfg.Shared.withKeyLockTimeout()
	g.closers = append(g.closers, st)
	// What is loaded below, at start, may take longer than a request's
	// store.timeout.
	ctx = bounded.WithOperationTimeout(ctx, startStoreTimeout)

	g.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(g.registry, metrics.Build{Version: cfg.Version, GoVersion: runtime.Version()})
	m.ConfigReloadOK.Set(1)
	g.metrics = m
	// Every operation measured, and traced within a request.
	st = traced.New(st, tp.Tracer(), m.StoreDuration, m.StoreErrors)
	g.store = st

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
	metrics.RegisterSigningKeyAge(g.registry, g.keys.ActiveAge)

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
	g.users = g.newUsers()                             // users.go
	if g.dpop, err = newDPoP(f, g.clock); err != nil { // dpop.go
		g.Close()
		return nil, err
	}
	g.authority, err = authority.New(authority.Config{
		Verifier: g.verifier, ReferenceTokens: g.reftokens, Revocations: g.revoked,
		Sessions: g.traceSessions(g.sessions), Directory: g.directory, Metrics: m, DPoP: g.dpop,
	})
	if err != nil {
		g.Close()
		return nil, err
	}
	if err := g.startBackchannel(); err != nil { // backchannel.go
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

	if g.live, err = g.newLive(); err != nil { // live.go
		g.Close()
		return nil, err
	}
	snap, err := g.buildSnapshot(f) // reload.go
	if err != nil {
		g.Close()
		return nil, err
	}
	g.snap.Store(snap)
	// accesslog.go, reload.go
	g.handler = requestid.Middleware(g.traceRequests(g.withClientAddr(withAccessLog(f.Log.AccessLog, g.logger, http.HandlerFunc(g.serveCurrent)))))
	if g.console, err = g.newConsole(); err != nil { // adminui.go
		g.Close()
		return nil, err
	}
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
	apps, users, err := directoryOf(f) // with the console's app (adminui.go)
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
