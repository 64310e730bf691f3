package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/store/sqlite"
)

const backupDetails = `The copy is one consistent snapshot (SQLite's VACUUM INTO), taken while
the gateway runs and writes; OUT must not exist and is created with mode
0600 (it holds the signing keys). Restore by stopping the gateway and
putting the copy at store.dsn. For store.driver postgres use pg_dump;
see docs/upgrade.md.`

// backupCommand is `erpgate backup OUT`.
func backupCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	return func(ctx context.Context, operands []string, e env) error {
		out := operands[0]
		f, err := loadConfig(configPath(*path, e), e)
		if err != nil {
			return err
		}
		switch f.Store.Driver {
		case config.DriverPostgres:
			return fmt.Errorf("store.driver is postgres: back it up with pg_dump (pg_dump --format=custom --file %s \"$DSN\"); see docs/upgrade.md", out)
		case config.DriverMemory:
			return fmt.Errorf("store.driver is memory: nothing outlives the process, so there is nothing to back up")
		}
		st, err := sqlite.Open(ctx, f.Store.DSN)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.Backup(ctx, out); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "backed up %s to %s\n", f.Store.DSN, out)
		return nil
	}
}
