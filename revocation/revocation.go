package revocation

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/erpgate/erpgate/internal/loop"
	"github.com/erpgate/erpgate/store"
)

// Store is the part of the store the list uses.
type Store interface {
	Revoke(ctx context.Context, jti string, expiresAt, now time.Time) error
	RevokedSince(ctx context.Context, since time.Time) ([]store.Revocation, error)
}

// List is the in-memory revocation list. Entries leave it when the token
// would have expired anyway, so its size is bounded by the tokens revoked
// within one access-token lifetime.
type List struct {
	store  Store
	clock  func() time.Time
	logger *slog.Logger

	mu       sync.RWMutex
	revoked  map[string]time.Time // jti -> token expiry
	syncedAt time.Time            // store time of the last sync

	listeners revokeListeners // OnRevoke (listen.go)
}

// syncOverlap re-reads a little before the last sync, so a revocation
// committed while the previous sync ran is not missed.
const syncOverlap = 5 * time.Second

// Open loads every revocation still in force.
func Open(ctx context.Context, st Store, clock func() time.Time, logger *slog.Logger) (*List, error) {
	l := &List{store: st, clock: clock, logger: logger, revoked: map[string]time.Time{}}
	if err := l.Sync(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// Revoke records jti as revoked until expiresAt, in the store first (so a
// restart keeps it) and then locally (so this process refuses it at once).
func (l *List) Revoke(ctx context.Context, jti string, expiresAt time.Time) error {
	if err := l.store.Revoke(ctx, jti, expiresAt, l.clock()); err != nil {
		return err
	}
	l.mu.Lock()
	l.revoked[jti] = expiresAt
	l.mu.Unlock()
	l.listeners.notify([]string{jti})
	return nil
}

// Revoked reports whether jti is revoked. It never touches the store.
func (l *List) Revoked(jti string) bool {
	l.mu.RLock()
	_, ok := l.revoked[jti]
	l.mu.RUnlock()
	return ok
}

// Sync loads revocations recorded since the last sync and forgets expired
// ones.
func (l *List) Sync(ctx context.Context) error {
	now := l.clock()
	l.mu.RLock()
	since := l.syncedAt
	l.mu.RUnlock()
	if !since.IsZero() {
		since = since.Add(-syncOverlap)
	}
	revs, err := l.store.RevokedSince(ctx, since)
	if err != nil {
		return err
	}
	var learnt []string // revoked elsewhere, new to this process
	l.mu.Lock()
	for _, r := range revs {
		if r.ExpiresAt.After(now) {
			if _, known := l.revoked[r.ID]; !known {
				learnt = append(learnt, r.ID)
			}
			l.revoked[r.ID] = r.ExpiresAt
		}
	}
	for jti, exp := range l.revoked {
		if !exp.After(now) {
			delete(l.revoked, jti)
		}
	}
	l.syncedAt = now
	l.mu.Unlock()
	l.listeners.notify(learnt)
	return nil
}

// Run syncs every interval until ctx ends.
func (l *List) Run(ctx context.Context, interval time.Duration) {
	loop.Every(ctx, interval, func(ctx context.Context) {
		if err := l.Sync(ctx); err != nil {
			l.logger.Warn("sync revocation list", "err", err)
		}
	})
}
