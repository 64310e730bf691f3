package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Revoke records jti until expiresAt. A second Revoke only ever extends
// the expiry: shortening it would let a revoked token back in early.
func (s *Store) Revoke(ctx context.Context, jti string, expiresAt time.Time) error {
	if _, err := s.writer.ExecContext(ctx, `INSERT INTO revocations (jti, expires_at) VALUES (?, ?)
		ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
		jti, millis(expiresAt)); err != nil {
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

// DeleteExpiredRevocations forgets revocations whose expiry is before now.
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) error {
	if _, err := s.writer.ExecContext(ctx, "DELETE FROM revocations WHERE expires_at < ?", millis(now)); err != nil {
		return fmt.Errorf("sqlite: delete expired revocations: %w", err)
	}
	return nil
}
