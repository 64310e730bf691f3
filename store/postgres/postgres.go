package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/sqlstore"
)

var _ store.Backend = (*Store)(nil)

// txAttempts is how many times inTx runs a transaction that PostgreSQL
// aborted as a deadlock victim (or, should a database force a stricter
// isolation, a serialization failure) before giving up.
const txAttempts = 3

// Store is a store.Backend on a PostgreSQL database shared by every
// replica.
type Store struct {
	// Store is the SQL core shared with store/sqlite; what it does not
	// answer, this package does (locking, the license counter, change
	// notifications).
	*sqlstore.Store
	// rec reads and writes the records in this package's statements.
	rec  *sqlstore.Records
	pool *pgxpool.Pool
}

// Open connects to the database dsn and brings its schema up to date.
// dsn is a URL (postgres://user@host:5432/db?sslmode=verify-full) or a
// keyword/value string (host=... dbname=...), with pgx's pool_* settings
// if wanted; a search_path parameter puts erpgate's tables in that schema,
// which must exist. Connections are opened as needed, up to pgx's pool
// size.
func Open(ctx context.Context, dsn string) (*Store, error) {
	if dsn == "" {
		return nil, errors.New("postgres: empty DSN")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// Not wrapped: pgconn's parse error quotes the DSN, and can only
		// try to blank out a password in it.
		return nil, errors.New("postgres: the DSN is neither a postgres:// URL nor a keyword/value string pgx can parse")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, rec: sqlstore.NewRecords(flavor{})}
	db := pgxDB{pool}
	s.Store = sqlstore.New(sqlstore.Config{
		Flavor: flavor{}, Read: db, Write: db, Insert: db, Sweep: retried{s},
		Usage: usageQuery, RevokeFamilies: s.revokeFamilies,
	})
	if err := migrate(ctx, pool, time.Now()); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool, waiting for connections in use to be released.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// inTx runs f in a READ COMMITTED transaction and commits if f returns
// nil. The isolation level is set explicitly because the locking in this
// package relies on it: after a statement waits for a lock, the next
// statement's snapshot sees what the lock holder committed. A database
// whose default_transaction_isolation is REPEATABLE READ would keep the
// snapshot of the first statement and count stale sessions.
//
// A transaction aborted as a deadlock victim (40P01) or by a
// serialization failure (40001) is run again: every f here reads what it
// decides on inside the transaction, so a rerun decides afresh.
func (s *Store) inTx(ctx context.Context, f func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, f)
		if err == nil || attempt == txAttempts || !retryable(err) {
			return err
		}
	}
}

// execTx runs one statement that may change many rows through inTx, so
// that if it deadlocks with another replica's statement (two sweeps
// deleting the same rows in different orders) it is run again rather
// than failing.
func (s *Store) execTx(ctx context.Context, what, sql string, args ...any) error {
	if _, err := (retried{s}).Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("postgres: %s: %w", what, err)
	}
	return nil
}

// retryable reports whether err aborted a transaction that may succeed
// when run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// querier is the pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

var (
	_ querier = (*pgxpool.Pool)(nil)
	_ querier = (pgx.Tx)(nil)
)

// ts is how a time is stored: sqlstore.Millis, truncated to the
// millisecond, which is what the sqlite backend keeps, so both compare
// and return times alike.
func ts(t time.Time) time.Time { return sqlstore.Millis(t) }
