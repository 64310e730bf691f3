package sqlite

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/erpgate/erpgate/store"
)

var _ store.Registry = (*Store)(nil)

// TouchReferenceTokens moves LastUsedAt forward for the tokens in used,
// all in one transaction: one fsync per flush, not per token.
func (s *Store) TouchReferenceTokens(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return s.inTx(ctx, func(ctx context.Context, tx *writeTx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE reference_tokens SET last_used_at = ?1
			WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)`)
		if err != nil {
			return fmt.Errorf("sqlite: touch reference tokens: %w", err)
		}
		defer stmt.Close()
		// Sorted as in TouchSessions.
		for _, id := range slices.Sorted(maps.Keys(used)) {
			at := used[id]
			if at.IsZero() {
				continue // "never used" is not a use
			}
			if _, err := stmt.ExecContext(ctx, millis(at), id); err != nil {
				return fmt.Errorf("sqlite: touch reference tokens: %w", err)
			}
		}
		return nil
	})
}
