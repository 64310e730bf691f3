package sqlite

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/sqlstore"
)

// The sessions' writes, each one statement or one IMMEDIATE write
// transaction; the reads are the shared core's.

// OpenSession implements store.Sessions.
func (s *Store) OpenSession(ctx context.Context, sess store.Session, lic store.License) (store.Session, error) {
	if old, ok, err := s.rec.Opened(ctx, s.read, sess.ID); ok || err != nil {
		return old, err
	}

	// The write lock is held from the first read below to the commit, so
	// the look-up, the seat check, the count (a counter kept by triggers)
	// and the insert are one step for every connection to this file (see
	// the package doc).
	var out store.Session
	err := s.inTx(ctx, func(ctx context.Context, tx *writeTx) error {
		old, err := s.rec.Session(ctx, sqlstore.SQL(tx), sess.ID, "")
		switch {
		case err == nil && old.Open():
			out = old
			return nil
		case err == nil && !old.Reopenable():
			return store.ErrSessionEnded
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}

		want := normalize(sess)
		if want.Reserved {
			held, err := s.rec.SeatHeld(ctx, sqlstore.SQL(tx), seatQuery, want.Subject)
			if err != nil {
				return err
			}
			want.Reserved = !held
		}
		if lic.Slots > 0 {
			u, err := s.rec.Usage(ctx, sqlstore.SQL(tx), usageQuery)
			if err != nil {
				return err
			}
			if !lic.Admits(u.Open, u.Reserved, want.Reserved) {
				return store.ErrLicenseExhausted
			}
		}

		// A session that ended by timeout is replaced whole: it is a new
		// session that happens to carry the same sid.
		out = want
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (`+sqlstore.SessionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, '')
			ON CONFLICT (id) DO UPDATE SET
				subject = excluded.subject, client_id = excluded.client_id, kind = excluded.kind,
				reserved = excluded.reserved, opened_at = excluded.opened_at,
				last_seen_at = excluded.last_seen_at, expires_at = excluded.expires_at,
				ended_at = NULL, end_reason = ''`,
			out.ID, out.Subject, out.ClientID, out.Kind, out.Reserved,
			millis(out.OpenedAt), millis(out.LastSeenAt), flavor{}.NullTime(out.ExpiresAt)); err != nil {
			return fmt.Errorf("sqlite: open session: %w", err)
		}
		return nil
	})
	return sqlstore.Keep(out, err)
}

// usageQuery reads the counter that the triggers of
// migrations/0004_license_usage.sql keep (sqlstore.Config.Usage);
// seatQuery asks sqlstore.Records.SeatHeld with the terms of the partial
// index sessions_reserved_seat (migrations/0005_per_login.sql), so the
// index answers.
const (
	usageQuery = "SELECT open, open_reserved FROM license_usage WHERE id = 1"
	seatQuery  = "SELECT EXISTS (SELECT 1 FROM sessions WHERE subject = ?1 AND reserved = 1 AND ended_at IS NULL)"
)

// normalize returns sess as the database will give it back: open, times
// in UTC at millisecond precision.
func normalize(sess store.Session) store.Session {
	sess.OpenedAt = sqlstore.Millis(sess.OpenedAt)
	sess.LastSeenAt = sqlstore.Millis(sess.LastSeenAt)
	sess.ExpiresAt = sqlstore.Millis(sess.ExpiresAt)
	sess.EndedAt, sess.EndReason = time.Time{}, ""
	return sess
}

// TouchSessions moves LastSeenAt forward for the open sessions in seen,
// all in one transaction: one fsync per flush, not per session.
func (s *Store) TouchSessions(ctx context.Context, seen map[string]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	return s.inTx(ctx, func(ctx context.Context, tx *writeTx) error {
		stmt, err := tx.PrepareContext(ctx,
			"UPDATE sessions SET last_seen_at = ?1 WHERE id = ?2 AND ended_at IS NULL AND last_seen_at < ?1")
		if err != nil {
			return fmt.Errorf("sqlite: touch sessions: %w", err)
		}
		defer stmt.Close()
		ids, times := sqlstore.Touches(seen)
		for i, id := range ids {
			if _, err := stmt.ExecContext(ctx, millis(times[i]), id); err != nil {
				return fmt.Errorf("sqlite: touch sessions: %w", err)
			}
		}
		return nil
	})
}

// EndSession ends an open session; an ended one is returned as it is, so
// its first reason stands; an unknown id gets an ended tombstone.
func (s *Store) EndSession(ctx context.Context, id, reason string, at time.Time) (store.Session, error) {
	var out store.Session
	err := s.inTx(ctx, func(ctx context.Context, tx *writeTx) error {
		old, err := s.rec.Session(ctx, sqlstore.SQL(tx), id, "")
		if errors.Is(err, store.ErrNotFound) {
			t := sqlstore.Millis(at)
			out = store.Session{ID: id, OpenedAt: t, LastSeenAt: t, EndedAt: t, EndReason: reason}
			if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (`+sqlstore.SessionColumns+`)
				VALUES (?1, '', '', '', 0, ?2, ?2, NULL, ?2, ?3)`,
				id, millis(t), reason); err != nil {
				return fmt.Errorf("sqlite: end session: %w", err)
			}
			return nil
		}
		if err != nil {
			return err
		}
		out = old
		if !old.Open() {
			return nil
		}
		out.EndedAt, out.EndReason = sqlstore.Millis(at), reason
		if _, err := tx.ExecContext(ctx, "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ?",
			millis(out.EndedAt), reason, id); err != nil {
			return fmt.Errorf("sqlite: end session: %w", err)
		}
		return nil
	})
	return sqlstore.Keep(out, err)
}

// EndStaleSessions ends open sessions past their ExpiresAt (EndLifetime,
// checked first because it is the hard limit) or idle since before
// idleBefore (EndIdle), all at now, and returns them oldest first.
func (s *Store) EndStaleSessions(ctx context.Context, idleBefore, now time.Time) ([]store.Session, error) {
	// One statement is atomic on its own; RETURNING hands back exactly the
	// rows it changed.
	rows, err := sqlstore.SQL(s.writer).Query(ctx, `UPDATE sessions SET
			ended_at = ?1,
			end_reason = CASE WHEN expires_at IS NOT NULL AND expires_at <= ?1 THEN ?3 ELSE ?4 END
		WHERE ended_at IS NULL
			AND ((expires_at IS NOT NULL AND expires_at <= ?1) OR last_seen_at < ?2)
		RETURNING `+sqlstore.SessionColumns,
		millis(now), millis(idleBefore), store.EndLifetime, store.EndIdle)
	out, err := s.rec.Sessions(rows, err)
	if err != nil {
		return nil, fmt.Errorf("sqlite: end stale sessions: %w", err)
	}
	slices.SortFunc(out, func(a, b store.Session) int {
		if c := a.OpenedAt.Compare(b.OpenedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// TouchReferenceTokens moves LastUsedAt forward for the tokens in used,
// all in one transaction: one fsync per flush, not per token.
func (s *Store) TouchReferenceTokens(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return s.inTx(ctx, func(ctx context.Context, tx *writeTx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE reference_tokens SET last_used_at = ?1
			WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)`)
		if err != nil {
			return fmt.Errorf("sqlite: touch reference tokens: %w", err)
		}
		defer stmt.Close()
		// Sorted as in TouchSessions.
		ids, times := sqlstore.Touches(used) // "never used" is not a use
		for i, id := range ids {
			if _, err := stmt.ExecContext(ctx, millis(times[i]), id); err != nil {
				return fmt.Errorf("sqlite: touch reference tokens: %w", err)
			}
		}
		return nil
	})
}
