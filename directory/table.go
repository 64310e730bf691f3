package directory

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// AppSource is where Trusted Applications created at run time live (the
// store).
type AppSource interface {
	AppsChangedSince(ctx context.Context, since time.Time) ([]App, error)
}

// Table is the live directory: the config file's apps and users, and the
// apps created at run time. Lookups are a map read on an immutable view;
// SetConfig and Sync swap in a new one. A stored app never shadows a
// configured one.
type Table struct {
	source AppSource // nil: config apps only
	clock  func() time.Time

	view atomic.Pointer[view]

	mu       sync.Mutex // serialises SetConfig and Sync
	config   *view      // the config file's part
	stored   map[string]*App
	syncedAt time.Time
}

// view is one immutable state of the table.
type view struct {
	apps   map[string]*App
	users  map[string]*User
	config map[string]bool // ids of apps from the config file
}

// NewTable returns a table with no records; call SetConfig, then Sync.
func NewTable(source AppSource, clock func() time.Time) *Table {
	t := &Table{source: source, clock: clock, stored: map[string]*App{}, config: &view{}}
	t.view.Store(&view{})
	return t
}

// App returns the app with id (configured or stored), or nil.
func (t *Table) App(id string) *App { return t.view.Load().apps[id] }

// User returns the enabled user with login, or nil: a disabled user
// cannot sign in or act anywhere.
func (t *Table) User(login string) *User { return t.view.Load().users[login] }

// ConfigApp reports whether id is an app of the config file (which the
// admin API may not change).
func (t *Table) ConfigApp(id string) bool { return t.view.Load().config[id] }

// Change is one record that changed, as it was and as it is; nil on one
// side means added or removed.
type Change[T any] struct{ Old, New *T }

// Changes is what a SetConfig changed.
type Changes struct {
	Apps  []Change[App]
	Users []Change[User]
}

// SetConfig replaces the config file's apps and users (start and
// reload) and returns what changed, so the caller can end the sessions
// and grants the change takes away.
func (t *Table) SetConfig(apps []App, users []User) Changes {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := &view{apps: make(map[string]*App, len(apps)), users: make(map[string]*User, len(users)),
		config: make(map[string]bool, len(apps))}
	for i := range apps {
		a := apps[i]
		next.apps[a.ID] = &a
		next.config[a.ID] = true
	}
	for i := range users {
		u := users[i]
		next.users[u.Login] = &u
	}
	var ch Changes
	ch.Apps = diff(t.config.apps, next.apps)
	ch.Users = diff(t.config.users, next.users)
	t.config = next
	t.publish()
	return ch
}

// diff lists the keys whose record differs between old and next.
func diff[T any](old, next map[string]*T) []Change[T] {
	var out []Change[T]
	for k, o := range old {
		n := next[k]
		if n == nil || !equal(o, n) {
			out = append(out, Change[T]{Old: o, New: n})
		}
	}
	for k, n := range next {
		if old[k] == nil {
			out = append(out, Change[T]{New: n})
		}
	}
	return out
}

// appSyncOverlap re-reads changes from slightly before the last sync, so
// a change committed during the previous sync is not missed.
const appSyncOverlap = 5 * time.Second

// Sync loads apps created or changed in the store since the last sync.
// The admin API calls it after a change so this process sees it at once;
// Run calls it for changes made by other processes.
func (t *Table) Sync(ctx context.Context) error {
	if t.source == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock()
	since := t.syncedAt
	if !since.IsZero() {
		since = since.Add(-appSyncOverlap)
	}
	changed, err := t.source.AppsChangedSince(ctx, since)
	if err != nil {
		return err
	}
	t.syncedAt = now
	if len(changed) == 0 {
		return nil
	}
	for i := range changed {
		a := changed[i]
		t.stored[a.ID] = &a
	}
	t.publish()
	return nil
}

// publish swaps in the view of the config and stored parts. Called with
// mu held.
func (t *Table) publish() {
	v := &view{apps: make(map[string]*App, len(t.config.apps)+len(t.stored)),
		users: make(map[string]*User, len(t.config.users)), config: t.config.config}
	for login, u := range t.config.users {
		if !u.Disabled {
			v.users[login] = u
		}
	}
	for id, a := range t.stored {
		v.apps[id] = a
	}
	for id, a := range t.config.apps {
		v.apps[id] = a
	}
	t.view.Store(v)
}

// Run syncs every interval until ctx ends; failures are reported to
// warn and retried at the next tick.
func (t *Table) Run(ctx context.Context, interval time.Duration, warn func(error)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := t.Sync(ctx); err != nil {
				warn(err)
			}
		}
	}
}

// Apps returns every app, in no particular order.
func (t *Table) Apps() []*App {
	v := t.view.Load()
	out := make([]*App, 0, len(v.apps))
	for _, a := range v.apps {
		out = append(out, a)
	}
	return out
}
