package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/erpgate/erpgate/store/bounded"
)

// Run listens on listen, admin_listen and (when set) metrics_listen and
// serves (Serve) until ctx ends. ready, if not nil, is called with the
// bound addresses.
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
	mln, err := g.listenMetrics() // listeners.go
	if err != nil {
		ln.Close()
		aln.Close()
		return err
	}
	return g.serve(ctx, ln, aln, mln, ready)
}

// Serve serves the main handler on ln and the admin handler on aln (over
// TLS with admin_tls) until ctx ends, then shuts down gracefully; it
// runs the background loops meanwhile and reloads the config on SIGHUP
// (Config.SIGHUP). With metrics_listen set it listens there itself for
// /metrics.
//
// Shutdown: /readyz turns 503 so load balancers stop sending; the main
// listener stops accepting and its requests in flight, long streams
// included, get shutdownDeadline to finish (then their connections are
// cut); the admin and metrics listeners go last, so metrics stay
// scrapable while draining; then the background loops stop. The
// caller's Close writes what is buffered (session last-seen,
// reference-token last-use) and closes the store.
func (g *Gateway) Serve(ctx context.Context, ln, aln net.Listener) error {
	mln, err := g.listenMetrics()
	if err != nil {
		return err
	}
	return g.serve(ctx, ln, aln, mln, nil)
}

// serve is Serve with the metrics listener mln, nil without
// metrics_listen.
func (g *Gateway) serve(ctx context.Context, ln, aln, mln net.Listener, ready func(main, admin net.Addr)) error {
	main, admin := g.newServer(g.handler), g.newServer(g.admin)
	errc := make(chan error, 3)
	go func() { errc <- g.serveTLS(main, ln, "tls", g.file.TLS) }()              // listeners.go
	go func() { errc <- g.serveTLS(admin, aln, "admin_tls", g.file.AdminTLS) }() // listeners.go
	var metricsSrv *http.Server
	metricsAddr := "" // on admin_listen
	if mln != nil {
		metricsSrv, metricsAddr = g.newServer(g.metricsHandler()), mln.Addr().String()
		go func() { errc <- metricsSrv.Serve(mln) }()
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	loopsDone := g.runLoops(runCtx)

	hup := g.sighup // nil: never ready
	if g.loadConfig == nil {
		hup = nil
	}

	g.logger.Info("erpgate listening", "listen", ln.Addr().String(), "admin_listen", aln.Addr().String(),
		"metrics_listen", metricsAddr, "issuer", g.file.Issuer(), "store", g.file.Store.Driver, "version", g.version)
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
			g.logger.Info("SIGHUP: reopening log files, reloading the config")
			g.reopen()
			_ = g.reloadFrom(ctx, g.loadConfig) // logged and audited
		}
	}
	// A SIGHUP from here on is not read: the caller keeps it caught (and
	// so ignored) until Serve returns.

	g.draining.Store(true)
	g.logger.Info("erpgate shutting down: finishing requests in flight", "deadline", shutdownDeadline)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownDeadline)
	defer cancel()
	// WebSockets are hijacked, so Shutdown neither waits for nor closes
	// them: they are told to go away first (streams drain with the rest).
	g.live.Shutdown(sctx) // live.go
	if e := main.Shutdown(sctx); e != nil {
		g.logger.Warn("requests still in flight at the shutdown deadline; closing their connections", "err", e)
		_ = main.Close()
		if err == nil {
			err = e
		}
	}
	if e := shutdownServers(sctx, admin, metricsSrv); e != nil && err == nil { // listeners.go
		err = e
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
	wg.Go(func() { g.live.Run(ctx) })      // recheck live connections (live.go)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

// reopen reopens the caller's log files (Config.ReopenLogs) for
// logrotate; a failure is logged, and lines go on to the files open.
func (g *Gateway) reopen() {
	if g.reopenLogs == nil {
		return
	}
	if err := g.reopenLogs(); err != nil {
		g.logger.Error("SIGHUP: log files not reopened; writing on to the ones open", "err", err)
	}
}
