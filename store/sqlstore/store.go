package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/erpgate/erpgate/store"
)

// Config says where the core's statements run. Each backend decides:
// SQLite reads from a pool of its own and writes through one connection,
// committing some writes in groups; PostgreSQL sends nearly everything to
// one pool.
type Config struct {
	Flavor Flavor
	// Read runs plain reads.
	Read DB
	// Write runs writes of one statement, atomic on their own.
	Write DB
	// Insert runs the inserts of grants and signing keys
	// (SaveAuthCode, SaveRefreshToken, AddSigningKey): SQLite commits
	// them in groups with the other write transactions.
	Insert Execer
	// Sweep runs the deletes of expired rows, which may change many rows:
	// PostgreSQL runs one again if it was a deadlock's victim.
	Sweep Execer

	// Usage is the query of the license counter: one row of open
	// sessions and, of those, the ones holding a reserved seat, kept by
	// the triggers of the backend's migrations.
	Usage string
	// RevokeFamilies revokes, in one transaction under the backend's
	// locks, every refresh-token family that the query families lists
	// (one text column; its one parameter, $1, is arg) and returns the
	// access tokens of all their tokens, oldest token first. The three
	// revocations of store.RefreshTokens call it.
	RevokeFamilies func(ctx context.Context, families, arg string, now time.Time) ([]store.IssuedToken, error)
}

// Store answers every method of store.Backend that SQLite and PostgreSQL
// answer with the same queries. A backend embeds it and adds the rest
// (see the package doc).
type Store struct {
	rec            *Records
	read           DB
	write          DB
	insert         Execer
	sweep          Execer
	usage          string
	revokeFamilies func(ctx context.Context, families, arg string, now time.Time) ([]store.IssuedToken, error)
}

// New returns the core for cfg.
func New(cfg Config) *Store {
	return &Store{rec: NewRecords(cfg.Flavor), read: cfg.Read, write: cfg.Write, insert: cfg.Insert, sweep: cfg.Sweep,
		usage: cfg.Usage, revokeFamilies: cfg.RevokeFamilies}
}

// Ping reads the migration table, so it fails both when the database is
// unreachable and when it holds no erpgate schema.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.read.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		return s.rec.Err("ping", err)
	}
	return nil
}

// Records reads and writes single records for a flavor: the column lists,
// scanners and argument lists of every table, and the look-ups that the
// backends' own transactions share. Its queries are rebound for the
// flavor once, in NewRecords.
type Records struct {
	f Flavor
	q queries
}

// NewRecords returns the records of flavor f.
func NewRecords(f Flavor) *Records { return &Records{f: f, q: newQueries(f)} }

// Flavor returns the flavor r was built for.
func (r *Records) Flavor() Flavor { return r.f }

// Err wraps err as "<flavor>: what: err".
func (r *Records) Err(what string, err error) error {
	return fmt.Errorf("%s: %s: %w", r.f.Name(), what, err)
}

// Errf is an error of the flavor: "<flavor>: " and the formatted text.
func (r *Records) Errf(format string, args ...any) error {
	return fmt.Errorf(r.f.Name()+": "+format, args...)
}

// one scans the single row of q with scan: notFound when there is none,
// r.Err(what, …) for any other failure.
func one[T any](r *Records, row Row, scan func(Row) (T, error), what string, notFound error) (T, error) {
	v, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		var zero T
		return zero, notFound
	}
	if err != nil {
		var zero T
		return zero, r.Err(what, err)
	}
	return v, nil
}

// Collect scans every row of rows (the result of a Query that returned
// err) with scan and closes rows.
func Collect[T any](rows Rows, err error, scan func(Row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// list runs a query on db and collects its rows, wrapping a failure as
// r.Err(what, …).
func list[T any](ctx context.Context, r *Records, db DB, scan func(Row) (T, error), what, query string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, query, args...)
	out, err := Collect(rows, err, scan)
	if err != nil {
		return nil, r.Err(what, err)
	}
	return out, nil
}

// changed wraps the error of a write, and turns one that changed no row
// (an INSERT … ON CONFLICT DO NOTHING that found the key, an UPDATE of a
// missing row) into none.
func (r *Records) changed(n int64, err error, what string, none error) error {
	switch {
	case err != nil:
		return r.Err(what, err)
	case n == 0:
		return none
	}
	return nil
}

// Keep returns v with err if err is nil or one of keep (a refusal that
// hands back the stored record, as store.ErrCodeReused does), and the
// zero T with any other error.
func Keep[T any](v T, err error, keep ...error) (T, error) {
	if err == nil {
		return v, nil
	}
	for _, k := range keep {
		if errors.Is(err, k) {
			return v, err
		}
	}
	var zero T
	return zero, err
}
