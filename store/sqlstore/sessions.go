package sqlstore

import (
	"context"
	"errors"
	"maps"
	"slices"
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

// Opened is OpenSession's fast path, without any lock: every call after
// the first finds its session open, and returning what a read saw is
// still correct, since the session was open at that instant. It returns
// the open session with id and true, or false if there is none or it
// ended (then OpenSession decides under its lock).
func (r *Records) Opened(ctx context.Context, db DB, id string) (store.Session, bool, error) {
	old, err := r.Session(ctx, db, id, "")
	switch {
	case err == nil && old.Open():
		return old, true, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return store.Session{}, false, err
	}
	return store.Session{}, false, nil
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

// Usage reads the license counter with query (Config.Usage, with a
// locking clause if the caller wants one) through db.
func (r *Records) Usage(ctx context.Context, db DB, query string) (store.Usage, error) {
	var u store.Usage
	if err := db.QueryRow(ctx, query).Scan(&u.Open, &u.Reserved); err != nil {
		return store.Usage{}, r.Err("license usage", err)
	}
	return u, nil
}

// Usage returns the license counter (Config.Usage).
func (s *Store) Usage(ctx context.Context) (store.Usage, error) {
	return s.rec.Usage(ctx, s.read, s.usage)
}

// SeatHeld reports whether an open session of subject holds its
// reserved seat, asking with query (the dialect's, which says "reserved"
// as its partial unique index does, so that the index answers), whose
// one parameter is subject.
func (r *Records) SeatHeld(ctx context.Context, db DB, query, subject string) (bool, error) {
	var held bool
	if err := db.QueryRow(ctx, query, subject).Scan(&held); err != nil {
		return false, r.Err("reserved seat", err)
	}
	return held, nil
}

// Touches returns the ids of seen in byte order with their times (at
// Millis precision), leaving out zero times, which would move nothing:
// TouchSessions and TouchReferenceTokens of every backend write in this
// order, so two flushes of overlapping batches lock rows alike and
// cannot deadlock.
func Touches(seen map[string]time.Time) (ids []string, times []time.Time) {
	ids = make([]string, 0, len(seen))
	for _, id := range slices.Sorted(maps.Keys(seen)) {
		if at := seen[id]; !at.IsZero() {
			ids = append(ids, id)
			times = append(times, Millis(at))
		}
	}
	return ids, times
}
