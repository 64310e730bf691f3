package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/erpgate/erpgate/store"
)

// Revoke records jti at now until expiresAt. A second Revoke only ever
// extends the expiry (shortening it would let a revoked token back in
// early), and an extension moves revoked_at forward so pollers see it;
// the upsert's WHERE leaves the row alone otherwise. One statement, so
// replicas revoking one jti at once need no lock: the loser of the
// insert race waits for the winner's row and applies its update to it.
func (s *Store) Revoke(ctx context.Context, jti string, expiresAt, now time.Time) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO revocations AS r (jti, expires_at, revoked_at) VALUES ($1, $2, $3)
		ON CONFLICT (jti) DO UPDATE SET
			expires_at = excluded.expires_at,
			revoked_at = greatest(r.revoked_at, excluded.revoked_at)
		WHERE excluded.expires_at > r.expires_at`,
		jti, ts(expiresAt), ts(now)); err != nil {
		return fmt.Errorf("postgres: revoke: %w", err)
	}
	return nil
}

// Revoked reports whether jti is revoked.
func (s *Store) Revoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := s.pool.QueryRow(ctx, "SELECT 1 FROM revocations WHERE jti = $1", jti).Scan(&one)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("postgres: revoked: %w", err)
	}
	return true, nil
}

// RevokedSince lists revocations with RevokedAt >= since, oldest
// RevokedAt first (ties by ID).
func (s *Store) RevokedSince(ctx context.Context, since time.Time) ([]store.Revocation, error) {
	rows, err := s.pool.Query(ctx, `SELECT jti, expires_at, revoked_at FROM revocations
		WHERE revoked_at >= $1 ORDER BY revoked_at, jti`, ts(since))
	if err != nil {
		return nil, fmt.Errorf("postgres: revoked since: %w", err)
	}
	defer rows.Close()
	var out []store.Revocation
	for rows.Next() {
		var r store.Revocation
		var expires, revoked pgtype.Timestamptz
		if err := rows.Scan(&r.ID, &expires, &revoked); err != nil {
			return nil, fmt.Errorf("postgres: revoked since: %w", err)
		}
		r.ExpiresAt, r.RevokedAt = fromTS(expires), fromTS(revoked)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: revoked since: %w", err)
	}
	return out, nil
}

// DeleteExpiredRevocations forgets revocations whose expiry is before now.
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) error {
	return s.execTx(ctx, "delete expired revocations", "DELETE FROM revocations WHERE expires_at < $1", ts(now))
}
