package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/erpgate/erpgate/store"
)

// SigningKeys returns every key, oldest CreatedAt first (ties by ID so
// the order is stable).
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, algorithm, private_jwk, created_at, retire_at, expires_at
		FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: signing keys: %w", err)
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		var created, retire, expires pgtype.Timestamptz
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateJWK, &created, &retire, &expires); err != nil {
			return nil, fmt.Errorf("postgres: signing keys: %w", err)
		}
		k.CreatedAt, k.RetireAt, k.ExpiresAt = fromTS(created), fromTS(retire), fromTS(expires)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: signing keys: %w", err)
	}
	return out, nil
}

// AddSigningKey stores k; store.ErrConflict if its ID exists (the
// primary key's unique violation, so two replicas generating a key with
// one ID cannot both store it).
func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO signing_keys
		(id, algorithm, private_jwk, created_at, retire_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.Algorithm, nonNil(k.PrivateJWK), ts(k.CreatedAt), ts(k.RetireAt), ts(k.ExpiresAt))
	return insertErr(err, "add signing key")
}

// DeleteExpiredSigningKeys removes keys whose ExpiresAt is before now.
func (s *Store) DeleteExpiredSigningKeys(ctx context.Context, now time.Time) error {
	return s.execTx(ctx, "delete expired signing keys", "DELETE FROM signing_keys WHERE expires_at < $1", ts(now))
}

// keyLock is the pg_advisory_xact_lock key LockKeys takes ("erpgkeys"
// in ASCII), in the one-key space of migrateLock.
const keyLock int64 = 0x657270676b657973

// LockKeys runs f while holding a database-wide advisory lock, for
// signing.Config.Lock: replicas that find no active signing key at the
// same moment (an empty database, a rotation due) take turns, and each
// after the first re-reads the keys under the lock, finds the key the
// first one stored and generates none. The lock is held by a transaction
// of its own; f reads and writes through the pool as usual. It is
// released when f returns, or by the server if this process dies.
func (s *Store) LockKeys(ctx context.Context, f func(ctx context.Context) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", keyLock); err != nil {
			return fmt.Errorf("postgres: lock signing keys: %w", err)
		}
		return f(ctx)
	})
}
