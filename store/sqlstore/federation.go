package sqlstore

import (
	"context"

	"github.com/erpgate/erpgate/store"
)

// LinkColumns are the columns of federated_links, in scanLink's order.
const LinkColumns = `provider, subject, login, created_at, last_used_at`

func (r *Records) scanLink(row Row) (store.FederatedLink, error) {
	var l store.FederatedLink
	err := row.Scan(&l.Provider, &l.Subject, &l.Login, r.f.ScanTime(&l.CreatedAt), r.f.ScanTime(&l.LastUsedAt))
	return l, err
}

// FederatedLink returns the link of (provider, subject); store.ErrNotFound.
func (s *Store) FederatedLink(ctx context.Context, provider, subject string) (store.FederatedLink, error) {
	return one(s.rec, s.read.QueryRow(ctx, s.rec.q.federatedLink, provider, subject), s.rec.scanLink, "federated link", store.ErrNotFound)
}

// SaveFederatedLink stores l in one conditional upsert: a row it did not
// change is linked to another login (store.ErrConflict).
func (s *Store) SaveFederatedLink(ctx context.Context, l store.FederatedLink) error {
	f := s.rec.f
	n, err := s.write.Exec(ctx, s.rec.q.saveFederatedLink, l.Provider, l.Subject, l.Login, f.Time(l.CreatedAt), f.Time(l.LastUsedAt))
	return s.rec.changed(n, err, "save federated link", store.ErrConflict)
}

// FederatedLinksOf lists the links of login, by provider and subject
// (byte order: SQLite compares TEXT bytewise, PostgreSQL's columns are
// COLLATE "C").
func (s *Store) FederatedLinksOf(ctx context.Context, login string) ([]store.FederatedLink, error) {
	return list(ctx, s.rec, s.read, s.rec.scanLink, "federated links of a login", s.rec.q.federatedLinksOf, login)
}

// DeleteFederatedLinks forgets the links of login.
func (s *Store) DeleteFederatedLinks(ctx context.Context, login string) error {
	if _, err := s.write.Exec(ctx, s.rec.q.deleteFederatedLinks, login); err != nil {
		return s.rec.Err("delete federated links", err)
	}
	return nil
}
