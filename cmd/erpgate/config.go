package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/erpgate/erpgate/config"
	gw "github.com/erpgate/erpgate/gateway"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
	"github.com/erpgate/erpgate/store/postgres"
	"github.com/erpgate/erpgate/store/sqlite"
)

// configPath picks the config file: the flag, else $ERPGATE_CONFIG, else
// erpgate.yaml.
func configPath(flagValue string, e env) string {
	if flagValue != "" {
		return flagValue
	}
	if p, ok := e.lookup("ERPGATE_CONFIG"); ok && p != "" {
		return p
	}
	return "erpgate.yaml"
}

// loadConfig reads, expands and validates the config file.
func loadConfig(path string, e env) (*config.File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return config.Parse(data, e.lookup)
}

// openStore opens the store s names, for the CLI as it is.
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

// openGatewayStore opens the store of a running gateway, with what it
// offers replicas sharing it: postgres tells of changes other processes
// wrote and locks key generation among them (SPEC §9).
func openGatewayStore(ctx context.Context, s config.Store) (store.Backend, gw.SharedStore, error) {
	if s.Driver == config.DriverPostgres {
		pg, err := postgres.Open(ctx, s.DSN)
		if err != nil {
			return nil, gw.SharedStore{}, err
		}
		return pg, gw.SharedStore{Listen: pg.Listen, LockKeys: pg.LockKeys}, nil
	}
	st, err := openStore(ctx, s)
	return st, gw.SharedStore{}, err
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

// auditSink is where log.audit sends audit lines: stderr (out) or an
// appended file.
func auditSink(l config.Log, out io.Writer) (io.Writer, func(), error) {
	if l.Audit == "" || l.Audit == config.AuditStderr {
		return out, func() {}, nil
	}
	f, err := os.OpenFile(l.Audit, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("log.audit: %w", err)
	}
	return f, func() { f.Close() }, nil
}
