package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/config"
	gw "github.com/erpgate/erpgate/gateway"
	"github.com/erpgate/erpgate/internal/logattr"
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

// newLogger is the process log of c on out. Like the audit log it
// follows logattr.Clean: no empty fields, durations in seconds.
func newLogger(c config.Log, out io.Writer) *slog.Logger {
	logger, _ := newLevelLogger(c, out)
	return logger
}

// newLevelLogger is newLogger with the level it reads, which a config
// reload sets (gateway.Config.LogLevel).
func newLevelLogger(c config.Log, out io.Writer) (*slog.Logger, *slog.LevelVar) {
	lvl := new(slog.LevelVar)
	_ = lvl.UnmarshalText([]byte(c.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: logattr.Clean}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(out, opts)), lvl
	}
	return slog.New(slog.NewJSONHandler(out, opts)), lvl
}

// auditLog is the audit log c names (log.audit): one JSON line per
// event (SPEC §8) on stderr, stdout or a file appended to. A line it
// cannot write is reported on the process log.
type auditLog struct {
	*audit.Logger
	reopen func() error // the file's Reopen, for SIGHUP; nil for a stream
	close  func()       // closes the file; call it after the gateway's Close
}

func openAuditLog(c config.Log, stdout, stderr io.Writer, logger *slog.Logger) (auditLog, error) {
	a := auditLog{close: func() {}}
	var out io.Writer
	switch c.Audit {
	case "", config.AuditStderr:
		out = stderr
	case config.AuditStdout:
		out = stdout
	default:
		f, err := audit.OpenFile(c.Audit) // append-only, 0600
		if err != nil {
			return auditLog{}, fmt.Errorf("log.audit: %w", err)
		}
		out, a.reopen, a.close = f, f.Reopen, func() { f.Close() }
	}
	a.Logger = audit.New(slog.NewJSONHandler(out, &slog.HandlerOptions{ReplaceAttr: logattr.Clean})).
		ReportErrors(func(err error) { logger.Error("audit log", "err", err) })
	return a, nil
}
