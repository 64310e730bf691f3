package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/erpgate/erpgate/store/sqlstore"
)

// flavor is how PostgreSQL differs for the shared SQL core: $N
// parameters, times as timestamptz truncated to the millisecond (what
// sqlite's unix milliseconds keep, so both compare and return times
// alike) and read back in UTC, string lists as text[].
type flavor struct{}

var _ sqlstore.Flavor = flavor{}

func (flavor) Name() string             { return "postgres" }
func (flavor) Placeholder(n int) string { return "$" + strconv.Itoa(n) }
func (flavor) Time(t time.Time) any     { return sqlstore.Millis(t) }
func (flavor) NullTime(t time.Time) any { return nullTS(t) }

// nullTS stores a zero time as NULL, so "no time" is unambiguous and
// "ended_at IS NULL" reads as "open".
func nullTS(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: ts(t), Valid: !t.IsZero()}
}
func (flavor) ScanTime(t *time.Time) any      { return (*pgTime)(t) }
func (flavor) Strings(list []string) any      { return sqlstore.NonNil(list) }
func (flavor) ScanStrings(list *[]string) any { return list }

// pgTime scans a timestamptz into a time in UTC; NULL is the zero time.
type pgTime time.Time

func (p *pgTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	*p = pgTime{}
	if v.Valid {
		*p = pgTime(v.Time.UTC())
	}
	return nil
}

// pgxDB is the sqlstore.DB of the pool or a transaction.
type pgxDB struct{ q querier }

func (d pgxDB) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := d.q.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (d pgxDB) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := d.q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (d pgxDB) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return d.q.QueryRow(ctx, query, args...)
}

// retried runs each statement in a transaction of its own through inTx,
// so that a sweep that deadlocks with another replica's (two sweeps
// deleting the same rows in different orders) is run again rather than
// failing.
type retried struct{ s *Store }

func (r retried) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := r.s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, query, args...)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}
