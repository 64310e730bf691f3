package postgres

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/erpgate/erpgate/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrateLock is the pg_advisory_xact_lock key that serializes schema
// migrations across replicas ("erpgate1" in ASCII). Advisory locks are
// per database, so replicas using different schemas of one database
// take turns too, which costs a few milliseconds at start and nothing
// else.
const migrateLock int64 = 0x6572706761746531

// migrationSet is the embedded migrations, applied by the shared runner.
var migrationSet = sqlstore.Schema{
	Flavor: flavor{},
	FS:     migrationFS,
	Table: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL
	)`,
}

// migrate applies the migrations the schema lacks, in one transaction
// that first takes the advisory lock migrateLock: replicas starting
// together queue on the lock, and each one after the first finds the
// migrations recorded (READ COMMITTED: the statements after the lock see
// what the previous holder committed) and applies nothing. PostgreSQL's
// DDL is transactional, so a failing migration leaves the schema as it
// was.
func migrate(ctx context.Context, pool *pgxpool.Pool, now time.Time) error {
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLock); err != nil {
			return err
		}
		return migrationSet.Migrate(ctx, pgxDB{tx}, now)
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}
