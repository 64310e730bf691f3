package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/erpgate/erpgate/store"
)

// Revoke records jti at now until expiresAt. A second Revoke only ever
// extends the expiry (shortening it would let a revoked token back in
// early), and an extension moves revoked_at forward so pollers see it;
// the upsert's WHERE leaves the row alone otherwise.
func (s *Store) Revoke(ctx context.Context, jti string, expiresAt, now time.Time) error {
	if _, err := s.writer.ExecContext(ctx, `INSERT INTO revocations (jti, expires_at, revoked_at) VALUES (?, ?, ?)
		ON CONFLICT (jti) DO UPDATE SET
			expires_at = excluded.expires_at,
			revoked_at = max(revoked_at, excluded.revoked_at)
		WHERE excluded.expires_at > expires_at`,
		jti, millis(expiresAt), millis(now)); err != nil {
		return fmt.Errorf("sqlite: revoke: %w", err)
	}
	return nil
}

// Revoked reports whether jti is revoked.
func (s *Store) Revoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := s.reader.QueryRowContext(ctx, "SELECT 1 FROM revocations WHERE jti = ?", jti).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sqlite: revoked: %w", err)
	}
	return true, nil
}

// RevokedSince lists revocations with RevokedAt >= since, oldest
// RevokedAt first (ties by ID).
func (s *Store) RevokedSince(ctx context.Context, since time.Time) ([]store.Revocation, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT jti, expires_at, revoked_at FROM revocations
		WHERE revoked_at >= ? ORDER BY revoked_at, jti`, millis(since))
	if err != nil {
		return nil, fmt.Errorf("sqlite: revoked since: %w", err)
	}
	defer rows.Close()
	var out []store.Revocation
	for rows.Next() {
		var r store.Revocation
		var expires, revoked int64
		if err := rows.Scan(&r.ID, &expires, &revoked); err != nil {
			return nil, fmt.Errorf("sqlite: revoked since: %w", err)
		}
		r.ExpiresAt, r.RevokedAt = fromMillis(expires), fromMillis(revoked)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: revoked since: %w", err)
	}
	return out, nil
}

// DeleteExpiredRevocations forgets revocations whose expiry is before now.
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) error {
	if _, err := s.writer.ExecContext(ctx, "DELETE FROM revocations WHERE expires_at < ?", millis(now)); err != nil {
		return fmt.Errorf("sqlite: delete expired revocations: %w", err)
	}
	return nil
}
