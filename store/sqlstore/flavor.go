package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Flavor is what one SQL dialect writes its own way. The core's queries
// are otherwise the same text for every flavor.
type Flavor interface {
	// Name starts every error message: "sqlite", "postgres".
	Name() string
	// Placeholder is the n-th parameter (from 1) as the dialect writes it
	// ("$1", "?1"). The core writes $n; Rebind rewrites.
	Placeholder(n int) string
	// Time is the argument for a NOT NULL time column, at Millis
	// precision.
	Time(t time.Time) any
	// NullTime is the argument for a nullable time column: NULL for the
	// zero time, so "ended_at IS NULL" reads as "open".
	NullTime(t time.Time) any
	// ScanTime is the scan destination of a time column that sets *t, in
	// UTC; NULL sets the zero time.
	ScanTime(t *time.Time) any
	// Strings is the argument for a string-list column (scopes, redirect
	// URIs); nil and empty are stored alike.
	Strings(list []string) any
	// ScanStrings is the scan destination of a string-list column.
	ScanStrings(list *[]string) any
}

// DB runs statements: a pool or a transaction, of any driver.
type DB interface {
	Execer
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Execer runs a statement that returns no rows and says how many it
// changed.
type Execer interface {
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
}

// Row is one result row. Scan returns an error that errors.Is
// sql.ErrNoRows when there is none (database/sql's, and pgx's since
// v5.6).
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set, as database/sql and pgx both have it.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Rebind rewrites the $n parameters of query as f writes them. The
// queries of this package hold no "$" but in parameters.
func Rebind(f Flavor, query string) string {
	if f.Placeholder(1) == "$1" {
		return query
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(query, '$')
		if i < 0 {
			b.WriteString(query)
			return b.String()
		}
		j := i + 1
		for j < len(query) && '0' <= query[j] && query[j] <= '9' {
			j++
		}
		b.WriteString(query[:i])
		if n, err := strconv.Atoi(query[i+1 : j]); err == nil {
			b.WriteString(f.Placeholder(n))
		} else {
			b.WriteString(query[i:j])
		}
		query = query[j:]
	}
}

// Millis is t as every backend stores it: in UTC, truncated to the
// millisecond (what SQLite's unix milliseconds keep; PostgreSQL's
// microseconds are truncated to it before writing). Truncate counts from
// the zero time, a whole number of seconds before the Unix epoch, so
// this is UnixMilli's floor.
func Millis(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

// NonNil turns a nil slice into an empty one, for NOT NULL columns: a
// driver binds nil as NULL.
func NonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// OrNil returns nil for an empty slice, so nil and empty read back alike.
func OrNil[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// Qualified prefixes each column of a comma-separated list with alias.
func Qualified(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}
