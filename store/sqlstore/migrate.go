package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Migration is one file of a backend's migrations directory.
type Migration struct {
	Version int    // NNNN of NNNN_name.sql
	Name    string // the file name
	SQL     string // its statements
}

// Schema is a backend's migrations: one set per dialect, in the
// directory migrations of FS, named NNNN_description.sql.
type Schema struct {
	Flavor Flavor
	FS     fs.FS
	// Table is the statement that makes schema_migrations, which records
	// the migrations applied, if it is missing.
	Table string
}

// Migrations returns the migrations in version order. A gap or a
// repeated number is a build mistake and fails every Open, so tests
// catch it.
func (sc Schema) Migrations() ([]Migration, error) {
	const dir = "migrations"
	f, fsys := sc.Flavor, sc.FS
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || path.Ext(e.Name()) != ".sql" {
			return nil, fmt.Errorf("%s: migration %q is not named NNNN_name.sql", f.Name(), e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("%s: migration %s: want version %d", f.Name(), m.Name, i+1)
		}
	}
	return ms, nil
}

// Migrate applies the migrations that tx lacks and records each in
// schema_migrations. tx is a
// transaction the backend holds so that no other process migrates at the
// same time (SQLite's write lock, PostgreSQL's advisory lock), and that
// it commits only if Migrate succeeds: a failing migration leaves the
// schema as it was. A schema newer than ms is refused rather than guessed
// at.
func (sc Schema) Migrate(ctx context.Context, tx DB, now time.Time) error {
	ms, err := sc.Migrations()
	if err != nil {
		return err
	}
	f := sc.Flavor
	if _, err := tx.Exec(ctx, sc.Table); err != nil {
		return err
	}
	var current int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return err
	}
	if current > len(ms) {
		return fmt.Errorf("database schema version %d is newer than this erpgate knows (%d)", current, len(ms))
	}
	record := Rebind(f, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
	for _, m := range ms[current:] {
		// Without arguments, the statements of a whole file run at once
		// (pgx then uses the simple protocol).
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, record, m.Version, m.Name, f.Time(now)); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}
