package directory_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/directory"
)

// source is an AppSource in memory: what the store would list, with
// ChangedAt and UpdatedAt deciding what a since window holds.
type source struct {
	mu        sync.Mutex
	apps      []directory.App
	users     map[string]directory.User // tombstones too, as the store keeps them
	passwords map[string]directory.PasswordChange
	err       error
}

func (s *source) UsersChangedSince(_ context.Context, since time.Time) ([]directory.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	var out []directory.User
	for _, u := range s.users {
		if !u.UpdatedAt.Before(since) {
			out = append(out, u)
		}
	}
	return out, nil
}

// put stores u as the store's CreateUser, UpdateUser and DeleteUser
// leave it: one record per login.
func (s *source) put(u directory.User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users == nil {
		s.users = map[string]directory.User{}
	}
	s.users[u.Login] = u
}

func (s *source) AppsChangedSince(_ context.Context, since time.Time) ([]directory.App, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	var out []directory.App
	for _, a := range s.apps {
		if !a.UpdatedAt.Before(since) {
			out = append(out, a)
		}
	}
	return out, nil
}

func (s *source) PasswordChangesSince(_ context.Context, since time.Time) ([]directory.PasswordChange, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	var out []directory.PasswordChange
	for _, c := range s.passwords {
		if !c.ChangedAt.Before(since) {
			out = append(out, c)
		}
	}
	return out, nil
}

// save stores c as the store's SavePasswordChange does: one per login.
func (s *source) save(c directory.PasswordChange) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.passwords == nil {
		s.passwords = map[string]directory.PasswordChange{}
	}
	s.passwords[c.Login] = c
}

var t0 = time.Date(2025, time.March, 14, 9, 26, 53, 0, time.UTC)

// clock is a settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func alice(hash string) directory.User {
	return directory.User{Login: "alice", ID: directory.StableUserID("alice"), Name: "Alice",
		Type: directory.TypeInternal, PasswordHash: hash}
}

// newTable returns a table over src holding the file's users.
func newTable(t *testing.T, src *source, users ...directory.User) (*directory.Table, *clock) {
	t.Helper()
	c := &clock{now: t0}
	d := directory.NewTable(src, c.Now)
	d.SetConfig(nil, users)
	if err := d.Sync(t.Context()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return d, c
}

func mustSync(t *testing.T, d *directory.Table) {
	t.Helper()
	if err := d.Sync(t.Context()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// checkHash fails t unless the user in force for login has hash; "" means
// no user.
func checkHash(t *testing.T, d *directory.Table, what, login, want string) {
	t.Helper()
	u := d.User(login)
	switch {
	case u == nil && want != "":
		t.Errorf("%s: User(%s) = nil, want hash %q", what, login, want)
	case u != nil && want == "":
		t.Errorf("%s: User(%s) has hash %q, want no user", what, login, u.PasswordHash)
	case u != nil && u.PasswordHash != want:
		t.Errorf("%s: User(%s).PasswordHash = %q, want %q", what, login, u.PasswordHash, want)
	}
}

// The account page's flow: NewPasswordChange, save, Sync. The change is
// in force at once, and the rest of the record is the file's.
func TestOwnPasswordChange(t *testing.T) {
	src := &source{}
	d, clk := newTable(t, src, alice("file-1"))
	c, ok := d.NewPasswordChange("alice", "own-1", clk.Now())
	if !ok {
		t.Fatal("NewPasswordChange(alice) = false, want a change")
	}
	if want := (directory.PasswordChange{Login: "alice", Hash: "own-1", Replaces: "file-1", ChangedAt: t0}); c != want {
		t.Fatalf("NewPasswordChange = %+v, want %+v", c, want)
	}
	checkHash(t, d, "before saving", "alice", "file-1")
	src.save(c)
	mustSync(t, d)
	checkHash(t, d, "after Sync", "alice", "own-1")
	if u := d.User("alice"); u.Name != "Alice" || u.ID != directory.StableUserID("alice") || u.Type != directory.TypeInternal {
		t.Errorf("User(alice) after the change = %+v; want the file's record but the hash", u)
	}

	// A second change replaces the first; it still replaces the file's
	// hash, which is what the file has.
	clk.advance(time.Minute)
	c, ok = d.NewPasswordChange("alice", "own-2", clk.Now())
	if !ok || c.Replaces != "file-1" {
		t.Fatalf("second NewPasswordChange = %+v, %v; want Replaces the file's file-1", c, ok)
	}
	src.save(c)
	mustSync(t, d)
	checkHash(t, d, "after a second change", "alice", "own-2")
}

// Another process's change arrives with a Sync (Run's), within the
// overlap of the last sync's window.
func TestSyncFromSource(t *testing.T) {
	src := &source{}
	bob := directory.User{Login: "bob", Type: directory.TypeInternal, PasswordHash: "file-bob"}
	d, clk := newTable(t, src, alice("file-1"), bob)
	clk.advance(time.Second)
	// Written by another replica whose clock is a little behind.
	src.save(directory.PasswordChange{Login: "alice", Hash: "own-1", Replaces: "file-1", ChangedAt: t0.Add(-2 * time.Second)})
	mustSync(t, d)
	checkHash(t, d, "after Sync", "alice", "own-1")
	checkHash(t, d, "other user", "bob", "file-bob")

	// A failing source changes nothing, and the next Sync catches up.
	src.err = errors.New("store down")
	src.save(directory.PasswordChange{Login: "bob", Hash: "own-bob", Replaces: "file-bob", ChangedAt: clk.Now()})
	clk.advance(time.Second)
	if err := d.Sync(t.Context()); err == nil {
		t.Fatal("Sync with a failing source: nil error")
	}
	checkHash(t, d, "after a failed Sync", "bob", "file-bob")
	src.err = nil
	clk.advance(time.Second)
	mustSync(t, d)
	checkHash(t, d, "after the next Sync", "bob", "own-bob")
	checkHash(t, d, "alice after the next Sync", "alice", "own-1")
}

// "An operator who later changes that user's password_hash in the file
// must win (that is a reset)": the stored change replaced another hash
// than the file has now, and is ignored, whether the file changed before
// the change was synced or after.
func TestFileResetWins(t *testing.T) {
	t.Run("AfterTheChange", func(t *testing.T) {
		src := &source{}
		d, clk := newTable(t, src, alice("file-1"))
		c, _ := d.NewPasswordChange("alice", "own-1", clk.Now())
		src.save(c)
		mustSync(t, d)
		checkHash(t, d, "after the change", "alice", "own-1")

		ch := d.SetConfig(nil, []directory.User{alice("file-2")})
		checkHash(t, d, "after the reset", "alice", "file-2")
		// The reset is a change of the file, reported so the caller signs
		// the user out everywhere.
		if len(ch.Users) != 1 || ch.Users[0].Old.PasswordHash != "file-1" || ch.Users[0].New.PasswordHash != "file-2" {
			t.Fatalf("SetConfig reset: Users = %+v; want alice file-1 -> file-2", ch.Users)
		}
		// Syncing again (the change is still stored) does not bring it back.
		clk.advance(time.Second)
		mustSync(t, d)
		checkHash(t, d, "after a Sync following the reset", "alice", "file-2")
		// Nor does a table started afresh on that file and store.
		fresh, _ := newTable(t, src, alice("file-2"))
		checkHash(t, fresh, "a new process", "alice", "file-2")
	})

	t.Run("BeforeTheSync", func(t *testing.T) {
		src := &source{}
		d, clk := newTable(t, src, alice("file-1"))
		c, _ := d.NewPasswordChange("alice", "own-1", clk.Now())
		src.save(c)
		d.SetConfig(nil, []directory.User{alice("file-2")})
		mustSync(t, d)
		checkHash(t, d, "a change of the old hash synced after the reset", "alice", "file-2")
	})

	// After a reset the user may change their password again: the new
	// change replaces the new hash.
	t.Run("ChangeAfterReset", func(t *testing.T) {
		src := &source{}
		d, clk := newTable(t, src, alice("file-1"))
		c, _ := d.NewPasswordChange("alice", "own-1", clk.Now())
		src.save(c)
		mustSync(t, d)
		d.SetConfig(nil, []directory.User{alice("file-2")})
		clk.advance(time.Minute)
		c, _ = d.NewPasswordChange("alice", "own-2", clk.Now())
		if c.Replaces != "file-2" {
			t.Fatalf("NewPasswordChange after the reset: Replaces = %q, want file-2", c.Replaces)
		}
		src.save(c)
		mustSync(t, d)
		checkHash(t, d, "after changing again", "alice", "own-2")
	})
}

// "A SetConfig must keep applying stored changes", and "changes applied
// through Sync must NOT appear in the Changes returned by SetConfig".
func TestSetConfigKeepsOwnPassword(t *testing.T) {
	src := &source{}
	d, clk := newTable(t, src, alice("file-1"))
	c, _ := d.NewPasswordChange("alice", "own-1", clk.Now())
	src.save(c)
	mustSync(t, d)

	// The same file again: nothing changed in it.
	if ch := d.SetConfig(nil, []directory.User{alice("file-1")}); len(ch.Users) != 0 {
		t.Errorf("SetConfig of the same file after a password change: Users = %+v, want none", ch.Users)
	}
	checkHash(t, d, "after reloading the same file", "alice", "own-1")

	// Another field of the user changes: reported as the file has it, and
	// the user's own password stays.
	renamed := alice("file-1")
	renamed.Name = "Alice B."
	ch := d.SetConfig(nil, []directory.User{renamed})
	if len(ch.Users) != 1 || ch.Users[0].Old.PasswordHash != "file-1" || ch.Users[0].New.PasswordHash != "file-1" {
		t.Fatalf("SetConfig renaming alice: Users = %+v; want one change, file-1 on both sides", ch.Users)
	}
	checkHash(t, d, "after a rename", "alice", "own-1")
	if u := d.User("alice"); u.Name != "Alice B." {
		t.Errorf("User(alice).Name = %q after the rename, want Alice B.", u.Name)
	}
}

// A disabled user is no user, own password or not; enabled again with
// the same hash in the file, their own password is in force again (the
// file did not reset it). A disabled user cannot start a change.
func TestDisabledUser(t *testing.T) {
	src := &source{}
	d, clk := newTable(t, src, alice("file-1"))
	c, _ := d.NewPasswordChange("alice", "own-1", clk.Now())
	src.save(c)
	mustSync(t, d)

	off := alice("file-1")
	off.Disabled = true
	d.SetConfig(nil, []directory.User{off})
	checkHash(t, d, "disabled", "alice", "")
	if _, ok := d.NewPasswordChange("alice", "own-2", clk.Now()); ok {
		t.Error("NewPasswordChange of a disabled user = true, want false")
	}

	d.SetConfig(nil, []directory.User{alice("file-1")})
	checkHash(t, d, "enabled again", "alice", "own-1")
}

// A change applies to the file's user of its login only: no user comes
// of a change alone, and a user the file gives no password (a system
// user) gets none.
func TestChangeNeedsFileUserWithPassword(t *testing.T) {
	src := &source{}
	svc := directory.User{Login: "svc", Type: directory.TypeSystem}
	d, clk := newTable(t, src, alice("file-1"), svc)
	if _, ok := d.NewPasswordChange("svc", "own", clk.Now()); ok {
		t.Error("NewPasswordChange of a system user = true, want false")
	}
	if _, ok := d.NewPasswordChange("nobody", "own", clk.Now()); ok {
		t.Error("NewPasswordChange of an unknown login = true, want false")
	}
	src.save(directory.PasswordChange{Login: "svc", Hash: "own", Replaces: "", ChangedAt: clk.Now()})
	src.save(directory.PasswordChange{Login: "nobody", Hash: "own", Replaces: "", ChangedAt: clk.Now()})
	src.save(directory.PasswordChange{Login: "alice", Hash: "", Replaces: "file-1", ChangedAt: clk.Now()})
	mustSync(t, d)
	if u := d.User("svc"); u == nil || u.PasswordHash != "" {
		t.Errorf("User(svc) after a stored change = %+v, want the system user with no password", u)
	}
	checkHash(t, d, "unknown login", "nobody", "")
	checkHash(t, d, "a change to no password", "alice", "file-1")
}

// A table without a source has the file's records only.
func TestNoSource(t *testing.T) {
	d := directory.NewTable(nil, time.Now)
	d.SetConfig(nil, []directory.User{alice("file-1")})
	if err := d.Sync(t.Context()); err != nil {
		t.Fatalf("Sync without a source: %v", err)
	}
	checkHash(t, d, "no source", "alice", "file-1")
}
