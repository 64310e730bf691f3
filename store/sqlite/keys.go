package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/erpgate/erpgate/store"
)

// SigningKeys returns every key, oldest CreatedAt first (ties by ID so
// the order is stable).
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT id, algorithm, private_jwk, created_at, retire_at, expires_at
		FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: signing keys: %w", err)
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		var created, retire, expires int64
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateJWK, &created, &retire, &expires); err != nil {
			return nil, fmt.Errorf("sqlite: signing keys: %w", err)
		}
		k.CreatedAt, k.RetireAt, k.ExpiresAt = fromMillis(created), fromMillis(retire), fromMillis(expires)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: signing keys: %w", err)
	}
	return out, nil
}

// AddSigningKey stores k; store.ErrConflict if its ID exists. ON CONFLICT
// DO NOTHING plus the row count says "exists" without parsing driver
// error codes.
func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey) error {
	return s.inTx(ctx, func(ctx context.Context, tx *writeTx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO signing_keys
			(id, algorithm, private_jwk, created_at, retire_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			k.ID, k.Algorithm, nonNil(k.PrivateJWK), millis(k.CreatedAt), millis(k.RetireAt), millis(k.ExpiresAt))
		if err != nil {
			return fmt.Errorf("sqlite: add signing key: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: add signing key: %w", err)
		} else if n == 0 {
			return store.ErrConflict
		}
		return nil
	})
}

// DeleteExpiredSigningKeys removes keys whose ExpiresAt is before now.
func (s *Store) DeleteExpiredSigningKeys(ctx context.Context, now time.Time) error {
	if _, err := s.writer.ExecContext(ctx, "DELETE FROM signing_keys WHERE expires_at < ?", millis(now)); err != nil {
		return fmt.Errorf("sqlite: delete expired signing keys: %w", err)
	}
	return nil
}

// nonNil turns a nil slice into an empty one: the driver would bind nil
// as NULL, which the NOT NULL column refuses.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
