package sqlstore

import (
	"context"
	"time"

	"github.com/erpgate/erpgate/store"
)

// SessionColumns are the columns of sessions, in ScanSession's order.
const SessionColumns = `id, subject, client_id, kind, reserved, opened_at, last_seen_at, expires_at, ended_at, end_reason`

// ScanSession reads a row of SessionColumns.
func (r *Records) ScanSession(row Row) (store.Session, error) {
	var s store.Session
	f := r.f
	if err := row.Scan(&s.ID, &s.Subject, &s.ClientID, &s.Kind, &s.Reserved, f.ScanTime(&s.OpenedAt),
		f.ScanTime(&s.LastSeenAt), f.ScanTime(&s.ExpiresAt), f.ScanTime(&s.EndedAt), &s.EndReason); err != nil {
		return store.Session{}, err
	}
	return s, nil
}

// Session reads one session through db; store.ErrNotFound. lock is ""
// or a locking clause such as " FOR UPDATE".
func (r *Records) Session(ctx context.Context, db DB, id, lock string) (store.Session, error) {
	q := r.q.session
	if lock != "" {
		q += lock
	}
	return one(r, db.QueryRow(ctx, q, id), r.ScanSession, "session", store.ErrNotFound)
}

// Sessions collects the rows of SessionColumns that a Query returned.
func (r *Records) Sessions(rows Rows, err error) ([]store.Session, error) {
	return Collect(rows, err, r.ScanSession)
}

// Session returns the session with id; store.ErrNotFound if unknown.
func (s *Store) Session(ctx context.Context, id string) (store.Session, error) {
	return s.rec.Session(ctx, s.read, id, "")
}

// OpenSessions lists open sessions, oldest OpenedAt first (ties by ID).
func (s *Store) OpenSessions(ctx context.Context) ([]store.Session, error) {
	return list(ctx, s.rec, s.read, s.rec.ScanSession, "open sessions", s.rec.q.openSessions)
}

// EndedSessionsSince lists sessions with EndedAt >= since, oldest EndedAt
// first (ties by ID).
func (s *Store) EndedSessionsSince(ctx context.Context, since time.Time) ([]store.Session, error) {
	return list(ctx, s.rec, s.read, s.rec.ScanSession, "ended sessions", s.rec.q.endedSessionsSince, s.rec.f.Time(since))
}
