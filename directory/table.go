package directory

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/erpgate/erpgate/internal/loop"
)

// AppSource is where the directory's run-time records live (the store):
// Trusted Applications and users created by administrators, and
// passwords users set themselves. Each lists what changed at or after
// since, oldest first; a deleted user is listed as its tombstone
// (DeletedAt set).
type AppSource interface {
	AppsChangedSince(ctx context.Context, since time.Time) ([]App, error)
	UsersChangedSince(ctx context.Context, since time.Time) ([]User, error)
	PasswordChangesSince(ctx context.Context, since time.Time) ([]PasswordChange, error)
}

// Table is the live directory: the config file's apps and users, the
// apps and users created at run time, and the passwords users set
// themselves. Lookups are a map read on an immutable view; SetConfig and
// Sync swap in a new one. A stored app never shadows a configured one,
// nor a stored user a configured one (disabled in the file included):
// the file is read-only at run time. A stored password change applies to
// the user of its login only while the user still has the hash it
// replaced (see PasswordChange): an operator who writes another
// password_hash, or sets a stored user's password, resets it.
type Table struct {
	source AppSource // nil: config records only
	clock  func() time.Time

	view atomic.Pointer[view]

	mu        sync.Mutex // serialises SetConfig and Sync
	config    *view      // the config file's part
	stored    map[string]*App
	users     map[string]*User           // stored users by login, disabled ones too; no tombstones
	passwords map[string]*PasswordChange // by login
	syncedAt  time.Time
}

// view is one immutable state of the table.
type view struct {
	apps   map[string]*App
	users  map[string]*User // enabled users, with the password in force
	config map[string]bool  // ids of apps from the config file
	// file is the config file's users as the file has them: disabled
	// ones too, and no password change applied.
	file map[string]*User
	// stored is the stored users as the store has them, disabled ones
	// too, and no password change applied; shadowed ones left out.
	stored map[string]*User
}

// NewTable returns a table with no records; call SetConfig, then Sync.
func NewTable(source AppSource, clock func() time.Time) *Table {
	t := &Table{source: source, clock: clock, stored: map[string]*App{}, users: map[string]*User{},
		passwords: map[string]*PasswordChange{}, config: &view{}}
	t.view.Store(&view{})
	return t
}

// App returns the app with id (configured or stored), or nil.
func (t *Table) App(id string) *App { return t.view.Load().apps[id] }

// User returns the enabled user with login, or nil: a disabled user
// cannot sign in or act anywhere. Its PasswordHash is the one in force:
// the user's own password change if one applies, else the file's.
func (t *Table) User(login string) *User { return t.view.Load().users[login] }

// NewPasswordChange returns the record of login setting their own
// password to hash at at, with Replaces the hash the file, or the store
// for a stored user, has for the user now. ok is false unless login is
// an enabled user with a password (a system user has none to change).
//
// The account page saves the record (the store's SavePasswordChange) and
// then calls Sync, which applies it in this process at once; other
// processes apply it at their next Sync. at should come from the
// table's clock, so the next Sync's window holds it.
func (t *Table) NewPasswordChange(login, hash string, at time.Time) (PasswordChange, bool) {
	v := t.view.Load()
	u := v.file[login]
	if u == nil {
		u = v.stored[login]
	}
	if u == nil || u.Disabled || u.PasswordHash == "" {
		return PasswordChange{}, false
	}
	return PasswordChange{Login: login, Hash: hash, Replaces: u.PasswordHash, ChangedAt: at}, true
}

// ConfigApp reports whether id is an app of the config file (which the
// admin API may not change).
func (t *Table) ConfigApp(id string) bool { return t.view.Load().config[id] }

// ConfigUser returns the config file's user with login as the file has
// it (disabled or not), or nil: such a login is the file's, and the
// admin API may neither change it nor create a stored user with it.
func (t *Table) ConfigUser(login string) *User { return t.view.Load().file[login] }

// ConfigUsers returns the config file's users as the file has them, in
// no particular order.
func (t *Table) ConfigUsers() []*User {
	v := t.view.Load()
	out := make([]*User, 0, len(v.file))
	for _, u := range v.file {
		out = append(out, u)
	}
	return out
}

// Change is one record that changed, as it was and as it is; nil on one
// side means added or removed.
type Change[T any] struct{ Old, New *T }

// Changes is what a SetConfig changed.
type Changes struct {
	Apps  []Change[App]
	Users []Change[User]
}

// SetConfig replaces the config file's apps and users (start and
// reload) and returns what changed in the file, so the caller can end the
// sessions and grants the change takes away. Users are compared as the
// file has them: a password a user set themselves is not a change of the
// file, and stays in force while the file keeps the hash it replaced; a
// file that gives the user another hash is reported (a reset) and wins.
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

// syncOverlap re-reads changes from slightly before the last sync, so
// a change committed during the previous sync is not missed.
const syncOverlap = 5 * time.Second

// Sync loads the apps, users and password changes stored or changed
// since the last sync, and drops the users deleted since. The admin API calls it after changing an app, and the
// account page after saving a password change, so this process sees the
// change at once; Run calls it for changes made by other processes. A
// stored record replaces the one held for its app or login whole, as it
// does in the store.
func (t *Table) Sync(ctx context.Context) error {
	if t.source == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock()
	since := t.syncedAt
	if !since.IsZero() {
		since = since.Add(-syncOverlap)
	}
	apps, err := t.source.AppsChangedSince(ctx, since)
	if err != nil {
		return err
	}
	users, err := t.source.UsersChangedSince(ctx, since)
	if err != nil {
		return err
	}
	passwords, err := t.source.PasswordChangesSince(ctx, since)
	if err != nil {
		return err
	}
	t.syncedAt = now
	if len(apps) == 0 && len(users) == 0 && len(passwords) == 0 {
		return nil
	}
	for i := range apps {
		a := apps[i]
		t.stored[a.ID] = &a
	}
	for i := range users {
		u := users[i]
		if !u.DeletedAt.IsZero() {
			delete(t.users, u.Login) // a tombstone: the user is gone
			continue
		}
		t.users[u.Login] = &u
	}
	for i := range passwords {
		c := passwords[i]
		t.passwords[c.Login] = &c
	}
	t.publish()
	return nil
}

// overrides reports whether c is the password of u, the config file's
// user of its login: the file still has the hash c replaced (otherwise an
// operator reset it since, and the file wins). A user the file gives no
// password gets none this way.
func (c *PasswordChange) overrides(u *User) bool {
	return c.Hash != "" && u.PasswordHash != "" && c.Replaces == u.PasswordHash
}

// publish swaps in the view of the config and stored parts. Called with
// mu held.
func (t *Table) publish() {
	v := &view{apps: make(map[string]*App, len(t.config.apps)+len(t.stored)),
		users: make(map[string]*User, len(t.config.users)+len(t.users)), config: t.config.config, file: t.config.users,
		stored: make(map[string]*User, len(t.users))}
	for login, u := range t.users {
		if t.config.users[login] == nil {
			v.stored[login] = u
		}
	}
	for _, part := range []map[string]*User{t.config.users, v.stored} {
		for login, u := range part {
			if u.Disabled {
				continue
			}
			if c := t.passwords[login]; c != nil && c.overrides(u) {
				own := *u
				own.PasswordHash = c.Hash
				u = &own
			}
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
	loop.Every(ctx, interval, func(ctx context.Context) {
		if err := t.Sync(ctx); err != nil {
			warn(err)
		}
	})
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
