package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/erpgate/erpgate/store/bounded"
)

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
