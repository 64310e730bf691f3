package sqlstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/erpgate/erpgate/store"
)

// RecordSessionClient records c; the same pair again is one row with the
// later SeenAt. It runs as the grants' inserts do (SQLite: group commit
// with the concurrent writes, so a refresh does not add an fsync of its
// own under load).
func (s *Store) RecordSessionClient(ctx context.Context, c store.SessionClient) error {
	if _, err := s.insert.Exec(ctx, s.rec.q.recordSessionClient, c.SessionID, c.ClientID, c.Subject, s.rec.f.Time(c.SeenAt)); err != nil {
		return s.rec.Err("record session client", err)
	}
	return nil
}

// TakeSessionClients deletes the rows of sid and returns them, sorted by
// ClientID: one DELETE … RETURNING, so of concurrent calls each row goes
// to the one whose statement deleted it.
func (s *Store) TakeSessionClients(ctx context.Context, sid string) ([]store.SessionClient, error) {
	out, err := list(ctx, s.rec, s.write, s.rec.scanSessionClient, "take session clients", s.rec.q.takeSessionClients, sid)
	slices.SortFunc(out, func(a, b store.SessionClient) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out, err
}

// DeleteStaleSessionClients forgets the rows seen before before.
func (s *Store) DeleteStaleSessionClients(ctx context.Context, before time.Time) error {
	return s.deleteExpired(ctx, "delete stale session clients", s.rec.q.deleteStaleSessionClients, before)
}

func (r *Records) scanSessionClient(row Row) (store.SessionClient, error) {
	var c store.SessionClient
	err := row.Scan(&c.SessionID, &c.ClientID, &c.Subject, r.f.ScanTime(&c.SeenAt))
	return c, err
}
