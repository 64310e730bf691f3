package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	sqlitedrv "modernc.org/sqlite" // also registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/sqlstore"
)

var _ store.Backend = (*Store)(nil)

// busyTimeout is how long a write waits for another process's write
// transaction before failing with SQLITE_BUSY. Write transactions here are
// a handful of statements, so seconds mean something is stuck.
const busyTimeout = 5 * time.Second

// Store is a store.Backend on one SQLite database.
type Store struct {
	// Store is the SQL core shared with store/postgres; what it does not
	// answer, this package does (locking, the license counter).
	*sqlstore.Store
	// rec reads and writes the records in this package's transactions,
	// and read is the read pool for them.
	rec  *sqlstore.Records
	read sqlstore.DB
	// writer has exactly one connection and begins every transaction
	// IMMEDIATE; see the package doc for why both.
	writer *pool
	// reader serves plain reads in parallel. For an in-memory database
	// it is writer itself, since each connection would see its own
	// empty database.
	reader *pool
	// writes runs every write transaction (inTx), committing concurrent
	// ones together (see batch.go).
	writes *writer
	// dsn is the database as opened, for Backup's own connection.
	dsn string
}

// Open opens (creating if missing) the database dsn and brings its schema
// up to date. dsn is a file path such as data/erpgate.db, whose parent
// directory is created if missing, a "file:" URI, or ":memory:" for a
// database that lives as long as the Store (tests). Open switches a file
// to WAL journal mode and sets busy_timeout and foreign_keys on every
// connection.
func Open(ctx context.Context, dsn string) (*Store, error) {
	if dsn == "" {
		return nil, errors.New("sqlite: empty DSN")
	}
	memory := isMemory(dsn)
	if !memory {
		if err := prepareFile(filePath(dsn)); err != nil {
			return nil, err
		}
	}

	pragmas := []string{
		fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()),
		"foreign_keys(1)",
	}
	writerParams := url.Values{
		"_pragma": pragmas,
		"_txlock": {"immediate"},
	}
	writerDB, err := sql.Open("sqlite", withParams(dsn, writerParams))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	writer := &pool{DB: writerDB}
	writer.SetMaxOpenConns(1)
	// Keep the one connection for good: for :memory: it is the database.
	writer.SetConnMaxIdleTime(0)
	writer.SetConnMaxLifetime(0)

	s := &Store{writer: writer, reader: writer, dsn: dsn}
	if !memory {
		if err := enableWAL(ctx, writerDB); err != nil {
			writer.Close()
			return nil, err
		}
	}
	if err := migrate(ctx, writerDB, time.Now()); err != nil {
		writer.Close()
		return nil, err
	}
	s.writes = newWriter(writer)
	if memory {
		s.Store = s.core()
		return s, nil
	}

	// WAL is a property of the file, set above; readers only need the
	// busy timeout and query_only, so a bug that writes through them fails
	// instead of racing the writer.
	readerParams := url.Values{
		"_pragma":     pragmas,
		"_query_only": {"1"},
	}
	readerDB, err := sql.Open("sqlite", withParams(dsn, readerParams))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	reader := &pool{DB: readerDB}
	n := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	s.reader = reader
	s.Store = s.core()
	// Ping runs a query on the read pool, which opens the file if no
	// connection is open yet.
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// core returns the shared SQL core on s's pools: reads from the read
// pool, one-statement writes and sweeps on the writer's connection, and
// the inserts of grants and keys through group commit (batch.go).
func (s *Store) core() *sqlstore.Store {
	s.rec, s.read = sqlstore.NewRecords(flavor{}), sqlstore.SQL(s.reader)
	return sqlstore.New(sqlstore.Config{
		Flavor:         flavor{},
		Read:           s.read,
		Write:          sqlstore.SQL(s.writer),
		Insert:         batched{s},
		Sweep:          sqlstore.SQL(s.writer),
		Usage:          usageQuery,
		RevokeFamilies: s.revokeFamilies,
	})
}

// batched runs each statement as a write transaction of its own through
// inTx, so that it shares a commit with the writes queued beside it.
type batched struct{ s *Store }

func (b batched) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := b.s.inTx(ctx, func(ctx context.Context, tx *writeTx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// Close finishes the writes already queued, then closes both pools.
func (s *Store) Close() error {
	s.writes.close()
	err := s.writer.Close()
	if s.reader != s.writer {
		err = errors.Join(err, s.reader.Close())
	}
	return err
}

// enableWAL switches the file to WAL, once per Open rather than per
// connection (the mode is stored in the file). The switch needs an
// exclusive lock taken while holding a shared one, and SQLite returns
// SQLITE_BUSY at once for such an upgrade instead of calling the busy
// handler (it could deadlock), so when several processes open a new file
// together the losers retry here until busyTimeout.
func enableWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("sqlite: journal_mode is %q, want wal (is the file on a file system without shared memory?)", mode)
			}
			return nil
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return fmt.Errorf("sqlite: enable WAL: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// isBusy reports whether err is SQLITE_BUSY, extended codes included.
func isBusy(err error) bool {
	var se *sqlitedrv.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// withParams appends the driver's query parameters to dsn.
func withParams(dsn string, v url.Values) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + v.Encode()
}

// isMemory reports whether dsn names an in-memory database, which exists
// per connection.
func isMemory(dsn string) bool {
	path, query, _ := strings.Cut(dsn, "?")
	if path == ":memory:" || path == "file::memory:" {
		return true
	}
	q, err := url.ParseQuery(query)
	return err == nil && q.Get("mode") == "memory"
}

// filePath returns the file system path dsn names.
func filePath(dsn string) string {
	path, _, _ := strings.Cut(dsn, "?")
	rest, ok := strings.CutPrefix(path, "file:")
	if !ok {
		return path
	}
	if strings.HasPrefix(rest, "//") {
		// file:///abs/path or file://localhost/abs/path
		if u, err := url.Parse(path); err == nil {
			return u.Path
		}
	}
	return rest
}

// prepareFile creates the parent directory of path and, if path does not
// exist yet, an empty database file readable by its owner only: the
// database holds the private signing keys, and SQLite gives its -wal and
// -shm files the main file's permissions. (An empty file is a valid empty
// SQLite database.)
func prepareFile(path string) error {
	if path == "" {
		return errors.New("sqlite: DSN names no file")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return f.Close()
}

// millis is how a time is stored.
func millis(t time.Time) int64 { return t.UnixMilli() }

// fromMillis reads a stored time back, in UTC.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// inTx runs f in a write transaction (BEGIN IMMEDIATE), possibly shared
// with other inTx calls under savepoints (batch.go); f's writes are
// committed if it returns nil and undone if not. f must use the ctx it
// is given, which is the caller's without its cancellation.
func (s *Store) inTx(ctx context.Context, f func(ctx context.Context, tx *writeTx) error) error {
	return s.writes.run(ctx, f)
}
