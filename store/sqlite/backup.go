package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
)

// ErrBackupExists is Backup's answer when its output file already exists:
// a backup never overwrites one.
var ErrBackupExists = errors.New("the backup file already exists")

// Backup writes a consistent copy of the database to the new file out
// while the store stays in use, with SQLite's VACUUM INTO
// (https://sqlite.org/lang_vacuum.html#vacuuminto): the copy is one read
// transaction's snapshot, so writers go on meanwhile (WAL) and the copy
// holds every transaction committed before it began and none after. The
// copy is compacted, in rollback-journal mode, and opens as a store like
// the original.
//
// out must not exist (ErrBackupExists): it is created empty first, with
// mode 0600 because the database holds the signing keys, and VACUUM INTO
// fills the empty file. On failure nothing is left at out. The copy is
// checked (PRAGMA quick_check) before Backup returns.
func (s *Store) Backup(ctx context.Context, out string) (err error) {
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w; choose a new name", out, ErrBackupExists)
	} else if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(out)
		}
	}()
	if err := s.vacuumInto(ctx, out); err != nil {
		return fmt.Errorf("copy the database to %s: %w", out, err)
	}
	return checkCopy(ctx, out)
}

// vacuumInto runs VACUUM INTO out on a connection of its own: the read
// pool is query_only, which refuses VACUUM INTO, and the writer's one
// connection would hold every write back for the copy's duration. An
// in-memory database has only the writer's connection.
func (s *Store) vacuumInto(ctx context.Context, out string) error {
	if isMemory(s.dsn) {
		_, err := s.writer.ExecContext(ctx, "VACUUM INTO ?1", out)
		return err
	}
	db, err := sql.Open("sqlite", withParams(s.dsn, url.Values{
		"_pragma": {fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds())},
	}))
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "VACUUM INTO ?1", out)
	return err
}

// checkCopy opens the copy at path read-only and runs PRAGMA quick_check.
func checkCopy(ctx context.Context, path string) error {
	db, err := openReadOnly(path)
	if err != nil {
		return err
	}
	defer db.Close()
	var result string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&result); err != nil {
		return fmt.Errorf("check the copy %s: %w", path, err)
	}
	if result != "ok" {
		return fmt.Errorf("the copy %s is damaged: %s", path, result)
	}
	return nil
}

// openReadOnly opens the database file path for reads only.
func openReadOnly(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", withParams(path, url.Values{"_pragma": {"query_only(1)"}}))
	if err != nil {
		return nil, fmt.Errorf("open the copy %s: %w", path, err)
	}
	return db, nil
}
