package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/erpgate/erpgate/store"
)

func (r *Records) scanKey(row Row) (store.SigningKey, error) {
	var k store.SigningKey
	f := r.f
	err := row.Scan(&k.ID, &k.Algorithm, &k.PrivateJWK, f.ScanTime(&k.CreatedAt), f.ScanTime(&k.RetireAt), f.ScanTime(&k.ExpiresAt))
	return k, err
}

// SigningKeys returns every key, oldest CreatedAt first (ties by ID so
// the order is stable).
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return list(ctx, s.rec, s.read, s.rec.scanKey, "signing keys", s.rec.q.signingKeys)
}

// AddSigningKey stores k; store.ErrConflict if its ID exists (the
// primary key, so two replicas generating a key with one ID cannot both
// store it). ON CONFLICT DO NOTHING plus the row count says "exists"
// without parsing driver error codes.
func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey) error {
	f := s.rec.f
	n, err := s.insert.Exec(ctx, s.rec.q.addSigningKey,
		k.ID, k.Algorithm, NonNil(k.PrivateJWK), f.Time(k.CreatedAt), f.Time(k.RetireAt), f.Time(k.ExpiresAt))
	return s.rec.changed(n, err, "add signing key", store.ErrConflict)
}

// DeleteExpiredSigningKeys removes keys whose ExpiresAt is before now.
func (s *Store) DeleteExpiredSigningKeys(ctx context.Context, now time.Time) error {
	return s.deleteExpired(ctx, "delete expired signing keys", s.rec.q.deleteExpiredKeys, now)
}

// Revoke records jti at now until expiresAt. A second Revoke only ever
// extends the expiry (shortening it would let a revoked token back in
// early), and an extension moves revoked_at forward so pollers see it;
// the upsert's WHERE leaves the row alone otherwise. One statement, so
// revoking one jti at once needs no lock: the loser of the insert race
// applies its update to the winner's row.
func (s *Store) Revoke(ctx context.Context, jti string, expiresAt, now time.Time) error {
	if _, err := s.write.Exec(ctx, s.rec.q.revoke, jti, s.rec.f.Time(expiresAt), s.rec.f.Time(now)); err != nil {
		return s.rec.Err("revoke", err)
	}
	return nil
}

// Revoked reports whether jti is revoked.
func (s *Store) Revoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := s.read.QueryRow(ctx, s.rec.q.revoked, jti).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, s.rec.Err("revoked", err)
	}
	return true, nil
}

func (r *Records) scanRevocation(row Row) (store.Revocation, error) {
	var rv store.Revocation
	err := row.Scan(&rv.ID, r.f.ScanTime(&rv.ExpiresAt), r.f.ScanTime(&rv.RevokedAt))
	return rv, err
}

// RevokedSince lists revocations with RevokedAt >= since, oldest
// RevokedAt first (ties by ID).
func (s *Store) RevokedSince(ctx context.Context, since time.Time) ([]store.Revocation, error) {
	return list(ctx, s.rec, s.read, s.rec.scanRevocation, "revoked since", s.rec.q.revokedSince, s.rec.f.Time(since))
}

// DeleteExpiredRevocations forgets revocations whose expiry is before now.
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) error {
	return s.deleteExpired(ctx, "delete expired revocations", s.rec.q.deleteExpiredRevocations, now)
}
