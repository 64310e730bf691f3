package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

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
