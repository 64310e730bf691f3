package gateway

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/store/postgres"
)

// changeSyncTimeout bounds one reload started by a change notification.
const changeSyncTimeout = 10 * time.Second

// SharedStore is what a store shared by several replicas offers beyond
// store.Backend (SPEC §9): postgres.Store has both. Its zero value, for
// sqlite and memory, offers nothing: there, writes of other processes
// (the CLI) arrive by polling.
type SharedStore struct {
	// Listen reports, until ctx ends, the topics of changes any process
	// wrote (postgres.Store.Listen); nil when the store cannot. Its
	// connection lives as long as the gateway and checks itself, so it is
	// not bounded by store.timeout.
	Listen func(ctx context.Context, changed func(topic string), logger *slog.Logger)
	// LockKeys runs f while no other replica does (signing.Config.Lock);
	// nil when the store has no such lock.
	LockKeys func(ctx context.Context, f func(ctx context.Context) error) error
}

// keyLockTimeout bounds one run under the signing-key lock, waiting for
// the lock included (another replica may be generating a key).
const keyLockTimeout = 30 * time.Second

// withKeyLockTimeout is s with each run under LockKeys bounded by
// keyLockTimeout.
func (s SharedStore) withKeyLockTimeout() SharedStore {
	lock := s.LockKeys
	if lock == nil {
		return s
	}
	s.LockKeys = func(ctx context.Context, f func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, keyLockTimeout)
		defer cancel()
		return lock(ctx, f)
	}
	return s
}

// storeTimeout is store.timeout, or its default for a config not read
// from a file.
func storeTimeout(s config.Store) time.Duration {
	return cmp.Or(s.Timeout.D(), config.DefaultStoreTimeout)
}

// runChangeSync reloads what another replica changed as soon as the store
// says so: a revocation, a session ended by logout or an administrator,
// an app created or disabled, a signing key added. The loops started by
// runLoops keep polling meanwhile: they are the fallback while the
// notification connection is down, and all there is with a store that
// has none. It returns when ctx ends.
func (g *Gateway) runChangeSync(ctx context.Context) {
	if g.shared.Listen == nil {
		return
	}
	syncOnChange(ctx, g.shared.Listen, map[string]func(context.Context) error{
		postgres.TopicRevocations: g.revoked.Sync,
		postgres.TopicSessions:    g.sessions.SyncEnded,
		postgres.TopicApps:        g.syncApps,
		postgres.TopicUsers:       g.syncApps, // the directory's stored users
		postgres.TopicKeys:        g.keys.Refresh,
	}, g.logger)
}

// syncOnChange runs listen and, for each topic it reports, the topic's
// sync. Each topic has a worker that syncs once per burst: a report
// arriving while its sync runs queues exactly one more, which starts
// after it, so every change is read by a sync that began after the
// change was reported, and listen never blocks. Topics without a sync
// are ignored. It returns when listen does (when ctx ends).
func syncOnChange(ctx context.Context, listen func(context.Context, func(string), *slog.Logger),
	syncs map[string]func(context.Context) error, logger *slog.Logger) {
	kicks := make(map[string]chan struct{}, len(syncs))
	var wg sync.WaitGroup
	for topic, sync := range syncs {
		kick := make(chan struct{}, 1)
		kicks[topic] = kick
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-kick:
				}
				sctx, cancel := context.WithTimeout(ctx, changeSyncTimeout)
				err := sync(sctx)
				cancel()
				if err != nil && ctx.Err() == nil {
					logger.Warn("reload after a change notification failed; polling catches up", "topic", topic, "err", err)
				}
			}
		})
	}
	listen(ctx, func(topic string) {
		select {
		case kicks[topic] <- struct{}{}: // a nil channel (no sync for topic) is never ready
		default: // a sync is queued already
		}
	}, logger)
	wg.Wait()
}
