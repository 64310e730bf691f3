package issuer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/erpgate/erpgate/store"
)

// AppStore is where Trusted Applications created at run time live.
type AppStore interface {
	AppsChangedSince(ctx context.Context, since time.Time) ([]store.App, error)
}

// appTable is the immutable snapshot of every app the server knows: the
// config's, then the store's (a stored app never shadows a configured
// one). Lookups are a map read; Sync swaps in a new snapshot.
type appTable struct {
	config  map[string]*App // from the config file, never changes
	current atomic.Pointer[map[string]*App]
	source  AppStore // nil: config apps only

	mu       sync.Mutex // serialises SyncApps
	stored   map[string]*App
	syncedAt time.Time
}

func newAppTable(cfgApps map[string]*App, source AppStore) *appTable {
	t := &appTable{config: cfgApps, source: source, stored: map[string]*App{}}
	t.current.Store(&cfgApps)
	return t
}

// app returns the app with id, or nil.
func (s *Server) app(id string) *App { return (*s.apps.current.Load())[id] }

// appSyncOverlap re-reads changes from slightly before the last sync, so
// a change committed during the previous sync is not missed.
const appSyncOverlap = 5 * time.Second

// SyncApps loads apps created or changed since the last sync. The admin
// API calls it after a change so this process sees it at once; Run calls
// it periodically for changes made by other processes.
func (s *Server) SyncApps(ctx context.Context) error {
	t := s.apps
	if t.source == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := s.cfg.Clock()
	since := t.syncedAt
	if !since.IsZero() {
		since = since.Add(-appSyncOverlap)
	}
	changed, err := t.source.AppsChangedSince(ctx, since)
	if err != nil {
		return err
	}
	t.syncedAt = now
	if len(changed) == 0 && !since.IsZero() {
		return nil
	}
	for _, sa := range changed {
		if t.config[sa.URI] != nil {
			continue
		}
		t.stored[sa.URI] = AppFromStore(sa)
	}
	next := make(map[string]*App, len(t.config)+len(t.stored))
	for id, a := range t.stored {
		next[id] = a
	}
	for id, a := range t.config {
		next[id] = a
	}
	t.current.Store(&next)
	return nil
}

// RunAppSync syncs every interval until ctx ends.
func (s *Server) RunAppSync(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := s.SyncApps(ctx); err != nil {
				s.cfg.Logger.Warn("sync apps", "err", err)
			}
		}
	}
}

// AppFromStore converts a stored run-time app.
func AppFromStore(a store.App) *App {
	return &App{
		ID: a.URI, Name: a.Name, Public: a.Public, SecretHash: a.SecretHash, SystemUser: a.SystemUser,
		Scopes: a.Scopes, RedirectURIs: a.RedirectURIs, PostLogoutRedirectURIs: a.PostLogoutRedirectURIs,
		AllowInternalUsers: a.AllowInternalUsers, AllowCommunityUsers: a.AllowCommunityUsers,
		ReferenceTokens: a.ReferenceTokens, RequirePKCE: a.RequirePKCE, Enabled: a.Enabled,
	}
}

// ConfigApp reports whether id is an app of the config file (which the
// admin API may not change).
func (s *Server) ConfigApp(id string) bool { return s.apps.config[id] != nil }

// LookupApp returns the app with id (configured or stored), or nil. The
// result is shared and must not be modified.
func (s *Server) LookupApp(id string) *App { return s.app(id) }

// LookupUser returns the user with login, or nil. The result is shared
// and must not be modified.
func (s *Server) LookupUser(login string) *User { return s.users[login] }
