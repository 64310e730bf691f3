package postgres

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/erpgate/erpgate/store"
)

var _ store.Registry = (*Store)(nil)

// TouchReferenceTokens moves LastUsedAt forward for the tokens in used,
// in one statement over the ids in sorted order (as TouchSessions), so
// two replicas flushing at once lock rows in the same order.
func (s *Store) TouchReferenceTokens(ctx context.Context, used map[string]time.Time) error {
	ids := make([]string, 0, len(used))
	times := make([]time.Time, 0, len(used))
	for _, id := range slices.Sorted(maps.Keys(used)) {
		if at := used[id]; !at.IsZero() { // "never used" is not a use
			ids = append(ids, id)
			times = append(times, ts(at))
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return s.execTx(ctx, "touch reference tokens", `UPDATE reference_tokens AS t SET last_used_at = u.at
		FROM (SELECT id, at FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at) ORDER BY id) AS u
		WHERE t.id = u.id COLLATE "C" AND (t.last_used_at IS NULL OR t.last_used_at < u.at)`, ids, times)
}
