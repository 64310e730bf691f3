package main

import (
	"context"
	"flag"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/erpgate/erpgate/config"
	gw "github.com/erpgate/erpgate/gateway"
)

// serveCommand is `erpgate serve`.
func serveCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	return func(ctx context.Context, _ []string, e env) error {
		file := configPath(*path, e)
		f, err := loadConfig(file, e)
		if err != nil {
			return err
		}
		// SIGHUP re-reads the same file.
		return runGateway(ctx, f, func() (*config.File, error) { return loadConfig(file, e) }, e, nil)
	}
}

// runGateway runs the gateway of f until ctx ends; SIGHUP reloads the
// config read with load. ready is gateway.Gateway.Run's.
func runGateway(ctx context.Context, f *config.File, load func() (*config.File, error), e env, ready func(main, admin net.Addr)) error {
	cfg, closeAudit, err := gatewayConfig(ctx, f, e.stdout, e.stderr)
	if err != nil {
		return err
	}
	defer closeAudit()
	hup := make(chan os.Signal, 1)
	cfg.LoadConfig, cfg.SIGHUP = load, hup
	g, err := gw.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer g.Close()
	// SIGHUP is caught from here until Run returned (ignored once the
	// shutdown began); before, it ends the process as by default.
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return g.Run(ctx, ready)
}

// gatewayConfig is the gateway config of f as serve runs it: its store
// opened, the process log on logOut, audit lines where log.audit says
// (logOut for stderr, stdout, or a file that SIGHUP reopens), and the
// files the config names read from disk. closeAudit closes the audit
// file; call it after the gateway's Close.
func gatewayConfig(ctx context.Context, f *config.File, stdout, logOut io.Writer) (cfg gw.Config, closeAudit func(), err error) {
	logger, level := newLevelLogger(f.Log, logOut) // log.level reloads
	a, err := openAuditLog(f.Log, stdout, logOut, logger)
	if err != nil {
		return gw.Config{}, nil, err
	}
	st, shared, err := openGatewayStore(ctx, f.Store)
	if err != nil {
		a.close()
		return gw.Config{}, nil, err
	}
	return gw.Config{
		File: f, Store: st, Shared: shared, Logger: logger, LogLevel: level, Audit: a.Logger, ReopenLogs: a.reopen,
		Registry: prometheus.NewRegistry(), Clock: time.Now, Version: buildVersion(), ReadFile: os.ReadFile,
	}, a.close, nil
}
