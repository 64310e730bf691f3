package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/sqlstore"
)

// raceAttempts bounds the loops that re-read a row after a conditional
// write found it changed by another replica. Each such change is one-way
// (a row once inserted is never deleted, an ended session is not ended
// again), so the second pass settles it; the bound only turns a bug into
// an error instead of a spin.
const raceAttempts = 3

// licenseShards is how many rows the open-session counter is split into
// (migrations/0011_license_shards.sql): a session counts in the shard
// its id hashes to, erpgate_license_shard(id).
const licenseShards = 16

// OpenSession implements store.Sessions.
//
// The license count is kept in licenseShards rows, moved by a trigger on
// sessions (migrations/0004, 0011), and every transaction that may open
// or end a session first locks the shard row of its session: opens and
// ends of different shards run side by side, and the trigger never waits
// for a shard while holding a session row (were EndSession to lock its
// session row and then wait for the shard while another held the shard
// and waited for that row, neither would move). Transactions that end
// many sessions (EndStaleSessions) lock every shard, in shard order.
//
// Under a cap the open must also know the total. After locking its own
// shard it reads the sum of all of them (READ COMMITTED: what was
// committed), and goes on only while the sum is at least licenseShards
// below each limit (License.Admits' two: the slots, and the shared slots
// beside the reserved seats). That keeps the cap exact: an open holds its
// shard's lock until it commits, so at most licenseShards opens are in
// flight at once, one per shard, and each one checked, when it began,
// that the committed sessions plus licenseShards fit — so the committed
// sessions plus those in flight always fit. Nearer the limit the open
// starts again in a transaction that locks every shard in shard order
// (no open is then in flight) and counts exactly, as the single counter
// row did: opens near a cap take turns, as they must.
//
// The alternatives were weighed: one counter row made every open and end
// of every replica take turns, a commit's disk flush each (about 1,400
// opens/s here, a third of pgbench -N); pg_advisory_xact_lock would do
// the same and is per database, so two erpgate schemas in one database
// would queue on each other; SERIALIZABLE would need every caller to
// retry on serialization failures, frequent at the cap.
//
// A reserved seat is decided by the unique index sessions_reserved_seat
// (migrations/0005): two opens of one login on two shards may both read
// the seat as free; the second insert then waits for the first and does
// nothing, and the open reads again and takes a shared slot.
//
// The session row itself needs no lock: the writes below are conditional
// (an insert that does nothing if the id appeared since the read, an
// update of the ended row only as it was read), so a concurrent first
// call with the same id, or a logout's tombstone, makes them change
// nothing and the loop reads the row again.
//
// The common cases — a new session far from any limit, and a session
// already open (another replica opened it) — take one round trip
// (quickOpen); the rest go through a transaction that reads, decides and
// writes (openSession).
func (s *Store) OpenSession(ctx context.Context, sess store.Session, lic store.License) (store.Session, error) {
	out, done, err := s.quickOpen(ctx, sess, lic)
	if done || err != nil {
		return sqlstore.Keep(out, err)
	}
	out, err = s.openSession(ctx, sess, lic, false)
	if errors.Is(err, errNearLimit) {
		out, err = s.openSession(ctx, sess, lic, true)
	}
	return sqlstore.Keep(out, err)
}

// quickOpen is OpenSession's first try, in one round trip: a transaction
// sent as one batch that locks the session's shard, inserts the session
// if its id is new and the shards' sum, read after the lock, is far from
// every limit (farFromLimit's rule, in SQL), with the reserved seat if
// asked for and free, and reads the session's row. done is false when
// the row is absent or ended (near a limit, a seat raced for, a session
// to reopen or refuse): openSession decides those.
func (s *Store) quickOpen(ctx context.Context, sess store.Session, lic store.License) (out store.Session, done bool, err error) {
	var b pgx.Batch
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	b.Queue("SELECT shard FROM license_shards WHERE shard = erpgate_license_shard($1) FOR UPDATE", sess.ID)
	b.Queue(`INSERT INTO sessions (`+sqlstore.SessionColumns+`)
		SELECT $1, $2, $3, $4,
			$5::boolean AND NOT EXISTS (SELECT 1 FROM sessions WHERE subject = $2 AND reserved AND ended_at IS NULL),
			$6, $7, $8, NULL, ''
		FROM (SELECT coalesce(sum(open_sessions), 0) AS used, coalesce(sum(open_reserved), 0) AS seats FROM license_shards) AS u
		WHERE $9::integer <= 0 OR (u.used + $11::integer <= $9 AND u.used - u.seats + $11::integer <= $9 - $10::integer)
		ON CONFLICT DO NOTHING`,
		sess.ID, sess.Subject, sess.ClientID, sess.Kind, sess.Reserved,
		ts(sess.OpenedAt), ts(sess.LastSeenAt), nullTS(sess.ExpiresAt), lic.Slots, lic.Reserved, licenseShards)
	found := false
	b.Queue("SELECT "+sqlstore.SessionColumns+" FROM sessions WHERE id = $1", sess.ID).QueryRow(func(row pgx.Row) error {
		var err error
		out, err = s.rec.ScanSession(row)
		found = err == nil
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	b.Queue("COMMIT")
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		if retryable(err) {
			return store.Session{}, false, nil // a deadlock victim: the transaction path runs it again
		}
		return store.Session{}, false, fmt.Errorf("postgres: open session: %w", err)
	}
	if !found || !out.Open() {
		return store.Session{}, false, nil
	}
	return out, true, nil
}

// errNearLimit stops an open that locked only its shard and found the
// sum too near a limit to go on without locking them all.
var errNearLimit = errors.New("postgres: near the license limit")

// openSession is one OpenSession transaction: locking only the session's
// shard, or with all every shard.
func (s *Store) openSession(ctx context.Context, sess store.Session, lic store.License, all bool) (store.Session, error) {
	var out store.Session
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		u, err := s.lockShards(ctx, tx, sess.ID, all, lic.Slots > 0)
		if err != nil {
			return err
		}
		if !all && lic.Slots > 0 && !farFromLimit(u, lic) {
			return errNearLimit
		}
		for range raceAttempts {
			old, err := s.rec.Session(ctx, pgxDB{tx}, sess.ID, "")
			found := err == nil
			switch {
			case found && old.Open():
				out = old
				return nil
			case found && !old.Reopenable():
				return store.ErrSessionEnded
			case !found && !errors.Is(err, store.ErrNotFound):
				return err
			}

			seat := sess.Reserved
			if seat {
				held, err := s.rec.SeatHeld(ctx, pgxDB{tx}, seatQuery, sess.Subject)
				if err != nil {
					return err
				}
				seat = !held
			}
			if !lic.Admits(u.Open, u.Reserved, seat) {
				return store.ErrLicenseExhausted
			}

			// A session that ended and may reopen is replaced whole: it
			// is a new session that happens to carry the same sid.
			args := []any{sess.ID, sess.Subject, sess.ClientID, sess.Kind, seat,
				ts(sess.OpenedAt), ts(sess.LastSeenAt), nullTS(sess.ExpiresAt)}
			var q string
			if found {
				// Only the ended row read above: Reopenable judged it.
				// Taking a seat another shard's open took meanwhile is
				// a unique violation: writeSession's savepoint keeps
				// the transaction, and the loop reads the seat again.
				q = `UPDATE sessions SET subject = $2, client_id = $3, kind = $4, reserved = $5,
					opened_at = $6, last_seen_at = $7, expires_at = $8, ended_at = NULL, end_reason = ''
					WHERE id = $1 AND ended_at = $9 AND end_reason = $10
					RETURNING ` + sqlstore.SessionColumns
				args = append(args, ts(old.EndedAt), old.EndReason)
			} else {
				// No conflict target: a row with this id, or one holding
				// this login's seat, appeared since the reads.
				q = `INSERT INTO sessions (` + sqlstore.SessionColumns + `)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, '')
					ON CONFLICT DO NOTHING
					RETURNING ` + sqlstore.SessionColumns
			}
			if found {
				out, err = s.writeSession(ctx, tx, q, args)
			} else {
				out, err = s.rec.ScanSession(tx.QueryRow(ctx, q, args...))
			}
			if errors.Is(err, pgx.ErrNoRows) || errors.Is(err, errSeatTaken) {
				continue // changed since the read: read it again
			}
			if err != nil {
				return fmt.Errorf("postgres: open session: %w", err)
			}
			return nil
		}
		return fmt.Errorf("postgres: open session %q: still changing after %d attempts", sess.ID, raceAttempts)
	})
	return out, err
}

// errSeatTaken: the reserved seat the write would take is held by a
// session another transaction just opened.
var errSeatTaken = errors.New("postgres: the reserved seat was taken meanwhile")

// writeSession runs q, which writes one session and returns it, under a
// savepoint, so that a unique violation of sessions_reserved_seat
// (errSeatTaken) leaves tx usable.
func (s *Store) writeSession(ctx context.Context, tx pgx.Tx, q string, args []any) (store.Session, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return store.Session{}, err
	}
	out, err := s.rec.ScanSession(sp.QueryRow(ctx, q, args...))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "sessions_reserved_seat" {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return store.Session{}, rerr
		}
		return store.Session{}, errSeatTaken
	}
	if err != nil {
		_ = sp.Rollback(ctx)
		return store.Session{}, err
	}
	return out, sp.Commit(ctx)
}

// farFromLimit reports whether u, the committed count read after the
// open's shard was locked, leaves room for one open per shard under both
// of lic's limits (see OpenSession).
func farFromLimit(u store.Usage, lic store.License) bool {
	return u.Open+licenseShards <= lic.Slots && u.Open-u.Reserved+licenseShards <= lic.Slots-lic.Reserved
}

// The counter (sqlstore.Config.Usage): the sum of the shards of
// migrations/0011_license_shards.sql. And the seat question of
// sqlstore.Records.SeatHeld, which the partial index
// sessions_reserved_seat of migrations/0005_per_login.sql answers.
const (
	usageQuery = "SELECT coalesce(sum(open_sessions), 0)::integer, coalesce(sum(open_reserved), 0)::integer FROM license_shards"
	seatQuery  = "SELECT EXISTS (SELECT 1 FROM sessions WHERE subject = $1 AND reserved AND ended_at IS NULL)"
)

// lockShards locks, for the rest of tx, the shard of session id — or
// with all every shard, in shard order — and, with count, returns the
// sum of the shards read after the lock.
//
// The lock and the sum are two statements sent in one round trip: the
// sum must be a statement of its own, whose snapshot is taken once the
// lock is held (a subquery of the locking statement would read from
// before its wait, missing what the previous holder committed).
func (s *Store) lockShards(ctx context.Context, tx pgx.Tx, id string, all, count bool) (store.Usage, error) {
	var b pgx.Batch
	if all {
		b.Queue("SELECT shard FROM license_shards ORDER BY shard FOR UPDATE")
	} else {
		b.Queue("SELECT shard FROM license_shards WHERE shard = erpgate_license_shard($1) FOR UPDATE", id)
	}
	var u store.Usage
	if count {
		b.Queue(usageQuery).QueryRow(func(row pgx.Row) error { return row.Scan(&u.Open, &u.Reserved) })
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return store.Usage{}, fmt.Errorf("postgres: lock license shards: %w", err)
	}
	return u, nil
}

// TouchSessions moves LastSeenAt forward for the open sessions in seen:
// one transaction, its updates sent as one batch (one round trip). The
// ids are sorted so that two replicas flushing overlapping batches lock
// the rows in the same order and cannot deadlock.
func (s *Store) TouchSessions(ctx context.Context, seen map[string]time.Time) error {
	ids, times := sqlstore.Touches(seen)
	if len(ids) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var b pgx.Batch
		for i, id := range ids {
			b.Queue("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND ended_at IS NULL AND last_seen_at < $1",
				times[i], id)
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: touch sessions: %w", err)
	}
	return nil
}

// EndSession ends an open session; an ended one is returned as it is, so
// its first reason stands; an unknown id gets an ended tombstone.
//
// The session's shard is locked first (see OpenSession), then the session
// row is read FOR UPDATE, so an OpenSession reopening it waits until
// this decision is committed. An id with no row cannot be locked: the
// tombstone insert does nothing if a row appeared since the read, and the
// loop reads that row instead.
func (s *Store) EndSession(ctx context.Context, id, reason string, at time.Time) (store.Session, error) {
	var out store.Session
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := s.lockShards(ctx, tx, id, false, false); err != nil {
			return err
		}
		for range raceAttempts {
			old, err := s.rec.Session(ctx, pgxDB{tx}, id, " FOR UPDATE")
			switch {
			case errors.Is(err, store.ErrNotFound):
				out, err = s.rec.ScanSession(tx.QueryRow(ctx, `INSERT INTO sessions (`+sqlstore.SessionColumns+`)
					VALUES ($1, '', '', '', false, $2, $2, NULL, $2, $3)
					ON CONFLICT (id) DO NOTHING
					RETURNING `+sqlstore.SessionColumns, id, ts(at), reason))
				if errors.Is(err, pgx.ErrNoRows) {
					continue
				}
			case err != nil:
				return err
			case !old.Open():
				out = old
				return nil
			default:
				out, err = s.rec.ScanSession(tx.QueryRow(ctx,
					"UPDATE sessions SET ended_at = $2, end_reason = $3 WHERE id = $1 RETURNING "+sqlstore.SessionColumns,
					id, ts(at), reason))
			}
			if err != nil {
				return fmt.Errorf("postgres: end session: %w", err)
			}
			return nil
		}
		return fmt.Errorf("postgres: end session %q: still changing after %d attempts", id, raceAttempts)
	})
	return sqlstore.Keep(out, err)
}

// EndStaleSessions ends open sessions past their ExpiresAt (EndLifetime,
// checked first because it is the hard limit) or idle since before
// idleBefore (EndIdle), all at now, and returns them oldest first.
//
// After every shard, in shard order (see OpenSession), one statement: the stale
// rows are locked in id order first, so a sweep and a TouchSessions
// batch (also in id order) cannot deadlock; a row touched or ended by
// another replica while the sweep waited for it is re-checked against
// the conditions at its newest version and skipped if no longer stale.
func (s *Store) EndStaleSessions(ctx context.Context, idleBefore, now time.Time) ([]store.Session, error) {
	var out []store.Session
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := s.lockShards(ctx, tx, "", true, false); err != nil {
			return err
		}
		rows, err := pgxDB{tx}.Query(ctx, `WITH stale AS (
				SELECT id FROM sessions
				WHERE ended_at IS NULL
					AND ((expires_at IS NOT NULL AND expires_at <= $1) OR last_seen_at < $2)
				ORDER BY id
				FOR UPDATE
			), ended AS (
				UPDATE sessions AS s SET
					ended_at = $1,
					end_reason = CASE WHEN s.expires_at IS NOT NULL AND s.expires_at <= $1
						THEN $3::text ELSE $4::text END
				FROM stale
				WHERE s.id = stale.id
				RETURNING `+sqlstore.Qualified("s", sqlstore.SessionColumns)+`
			)
			SELECT `+sqlstore.SessionColumns+` FROM ended ORDER BY opened_at, id`,
			ts(now), ts(idleBefore), store.EndLifetime, store.EndIdle)
		out, err = s.rec.Sessions(rows, err)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: end stale sessions: %w", err)
	}
	return out, nil
}

// TouchReferenceTokens moves LastUsedAt forward for the tokens in used,
// in one statement over the ids in sorted order (as TouchSessions), so
// two replicas flushing at once lock rows in the same order.
func (s *Store) TouchReferenceTokens(ctx context.Context, used map[string]time.Time) error {
	ids, times := sqlstore.Touches(used) // "never used" is not a use
	if len(ids) == 0 {
		return nil
	}
	return s.execTx(ctx, "touch reference tokens", `UPDATE reference_tokens AS t SET last_used_at = u.at
		FROM (SELECT id, at FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at) ORDER BY id) AS u
		WHERE t.id = u.id COLLATE "C" AND (t.last_used_at IS NULL OR t.last_used_at < u.at)`, ids, times)
}
