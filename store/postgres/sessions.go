package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/sqlstore"
)

// raceAttempts bounds the loops that re-read a row after a conditional
// write found it changed by another replica. Each such change is one-way
// (a row once inserted is never deleted, an ended session is not ended
// again), so the second pass settles it; the bound only turns a bug into
// an error instead of a spin.
const raceAttempts = 3

// OpenSession implements store.Sessions.
//
// The transaction first locks the single row of license_lock FOR UPDATE,
// then reads the open-session counter on that row, checks whether the
// subject's reserved seat is held (when the caller asks for it) and
// inserts: OpenSession calls of every replica take turns there, and
// because the transaction is READ COMMITTED the counter and the seat
// read after the lock hold every session the previous holder committed. A trigger moves the
// counter with every session opened or ended
// (migrations/0004_license_usage.sql), taking the row's lock. So every
// transaction here that may open or end a session locks that row first
// (lockUsage): were EndSession to lock its session row and then wait for
// the counter while a sweep held the counter and waited for that session
// row, neither would move. TouchSessions ends nothing and fires no
// trigger, so it takes only session rows, in id order as a sweep does.
//
// The price is that opens and ends of every replica take turns on one
// row, also without a cap: a few hundred opens/s on this project's
// 2-CPU test machine (BenchmarkOpenSessionParallel), where without a cap
// they were about 1.5 times as many before the counter. An open is a
// new token's first call only; a row per shard, summed under a cap, would
// lift this if it ever matters.
//
// The alternatives were weighed: pg_advisory_xact_lock would do the same
// but is per database, so two erpgate schemas in one database would
// queue on each other, and it is invisible in the schema; SERIALIZABLE
// would need every caller to retry on serialization failures, which for
// a count over all open sessions would be frequent at the cap.
//
// The session row itself needs no lock: the writes below are conditional
// (an insert that does nothing if the id appeared since the read, an
// update of the ended row only as it was read), so a concurrent first
// call with the same id, or a logout's tombstone, makes them change
// nothing and the loop reads the row again.
func (s *Store) OpenSession(ctx context.Context, sess store.Session, lic store.License) (store.Session, error) {
	if old, ok, err := s.rec.Opened(ctx, pgxDB{s.pool}, sess.ID); ok || err != nil {
		return old, err
	}

	var out store.Session
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		u, err := s.lockUsage(ctx, tx)
		if err != nil {
			return err
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

			// The counter row's lock also covers the seats: every
			// transaction that opens or ends a session holds it.
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
				q = `UPDATE sessions SET subject = $2, client_id = $3, kind = $4, reserved = $5,
					opened_at = $6, last_seen_at = $7, expires_at = $8, ended_at = NULL, end_reason = ''
					WHERE id = $1 AND ended_at = $9 AND end_reason = $10
					RETURNING ` + sqlstore.SessionColumns
				args = append(args, ts(old.EndedAt), old.EndReason)
			} else {
				q = `INSERT INTO sessions (` + sqlstore.SessionColumns + `)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, '')
					ON CONFLICT (id) DO NOTHING
					RETURNING ` + sqlstore.SessionColumns
			}
			out, err = s.rec.ScanSession(tx.QueryRow(ctx, q, args...))
			if errors.Is(err, pgx.ErrNoRows) {
				continue // changed since the read: read it again
			}
			if err != nil {
				return fmt.Errorf("postgres: open session: %w", err)
			}
			return nil
		}
		return fmt.Errorf("postgres: open session %q: still changing after %d attempts", sess.ID, raceAttempts)
	})
	return sqlstore.Keep(out, err)
}

// The counter row (sqlstore.Config.Usage) that license_lock holds, moved
// by the trigger of migrations/0004_license_usage.sql and locked by
// lockUsage; and the seat question of sqlstore.Records.SeatHeld, which
// the partial index sessions_reserved_seat of
// migrations/0005_per_login.sql answers.
const (
	usageQuery = "SELECT open_sessions, open_reserved FROM license_lock WHERE id = 1"
	seatQuery  = "SELECT EXISTS (SELECT 1 FROM sessions WHERE subject = $1 AND reserved AND ended_at IS NULL)"
)

// lockUsage locks license_lock's row for the rest of tx and returns the
// counter it holds.
func (s *Store) lockUsage(ctx context.Context, tx pgx.Tx) (store.Usage, error) {
	return s.rec.Usage(ctx, pgxDB{tx}, usageQuery+" FOR UPDATE")
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
// The counter row is locked first (see OpenSession), then the session
// row is read FOR UPDATE, so an OpenSession reopening it waits until
// this decision is committed. An id with no row cannot be locked: the
// tombstone insert does nothing if a row appeared since the read, and the
// loop reads that row instead.
func (s *Store) EndSession(ctx context.Context, id, reason string, at time.Time) (store.Session, error) {
	var out store.Session
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := s.lockUsage(ctx, tx); err != nil {
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
// After the counter row (see OpenSession), one statement: the stale
// rows are locked in id order first, so a sweep and a TouchSessions
// batch (also in id order) cannot deadlock; a row touched or ended by
// another replica while the sweep waited for it is re-checked against
// the conditions at its newest version and skipped if no longer stale.
func (s *Store) EndStaleSessions(ctx context.Context, idleBefore, now time.Time) ([]store.Session, error) {
	var out []store.Session
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := s.lockUsage(ctx, tx); err != nil {
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
