package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/erpgate/erpgate/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationSet is this package's migrations, applied by the shared runner.
var migrationSet = sqlstore.Schema{Flavor: flavor{}, FS: migrationFS, Table: `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`}

// migrate applies the migrations db lacks in one IMMEDIATE transaction,
// so two processes starting on a new file cannot both apply them, and a
// failing migration leaves the schema as it was.
func migrate(ctx context.Context, db *sql.DB, now time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer tx.Rollback()
	if err := migrationSet.Migrate(ctx, sqlstore.SQL(tx), now); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}
