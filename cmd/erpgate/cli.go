package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/store"
)

// cliStore is what the store-level subcommands (sessions, tokens) work
// with: the config, its store, and the logger and audit sink it names.
type cliStore struct {
	file   *config.File
	store  store.Backend
	logger *slog.Logger
	audit  *audit.Logger
	close  func()
}

// openCLIStore loads the config at path and opens its store. what names
// the records for the memory-store refusal ("sessions", "tokens").
func openCLIStore(ctx context.Context, path string, e env, what string) (*cliStore, error) {
	f, err := loadConfig(configPath(path, e), e)
	if err != nil {
		return nil, err
	}
	if f.Store.Driver == config.DriverMemory {
		return nil, fmt.Errorf("store.driver memory keeps %s inside the running gateway; use its admin API (/admin/%s)", what, what)
	}
	st, err := openStore(ctx, f.Store)
	if err != nil {
		return nil, err
	}
	logger := newLogger(f.Log, e.stderr)
	a, err := openAuditLog(f.Log, e.stdout, e.stderr, logger)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	return &cliStore{
		file: f, store: st, logger: logger, audit: a.Logger,
		close: func() { a.close(); st.Close() },
	}, nil
}
