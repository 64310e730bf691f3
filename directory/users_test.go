package directory_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/erpgate/erpgate/directory"
)

// stored returns a stored user changed at at.
func stored(login string, at time.Time) directory.User {
	return directory.User{Login: login, ID: "id-" + login, Name: "Stored " + login, Type: directory.TypeInternal,
		PasswordHash: "stored-hash-" + login, CreatedAt: at, UpdatedAt: at}
}

// Stored users come and go with Sync: created, disabled (not handed
// out), enabled, deleted (a tombstone drops them).
func TestStoredUsers(t *testing.T) {
	src := &source{}
	d, c := newTable(t, src)
	bob := stored("bob", t0)
	src.put(bob)
	mustSync(t, d)
	if u := d.User("bob"); u == nil || u.Name != bob.Name || u.PasswordHash != bob.PasswordHash {
		t.Fatalf("User(bob) after Sync = %+v, want the stored user", u)
	}
	if d.ConfigUser("bob") != nil {
		t.Errorf("ConfigUser(bob) is set for a stored user")
	}

	c.advance(time.Second)
	bob.Disabled, bob.UpdatedAt = true, c.Now()
	src.put(bob)
	mustSync(t, d)
	if u := d.User("bob"); u != nil {
		t.Errorf("User(bob) after disabling = %+v, want nil", u)
	}

	c.advance(time.Second)
	bob.Disabled, bob.UpdatedAt = false, c.Now()
	src.put(bob)
	mustSync(t, d)
	if d.User("bob") == nil {
		t.Fatalf("User(bob) after enabling is nil")
	}

	c.advance(time.Second)
	src.put(directory.User{Login: "bob", ID: bob.ID, Disabled: true, UpdatedAt: c.Now(), DeletedAt: c.Now()})
	mustSync(t, d)
	if u := d.User("bob"); u != nil {
		t.Errorf("User(bob) after deletion = %+v, want nil", u)
	}
	// Gone for good: a later sync with an empty window keeps it gone.
	c.advance(time.Minute)
	mustSync(t, d)
	if d.User("bob") != nil {
		t.Errorf("User(bob) came back after deletion")
	}
}

// A stored user never shadows a file user of the same login, even one
// the file disables: the file is read-only at run time.
func TestStoredUserNeverShadowsFile(t *testing.T) {
	src := &source{}
	fileAlice := alice("file-hash")
	d, _ := newTable(t, src, fileAlice)
	src.put(stored("alice", t0))
	mustSync(t, d)
	if u := d.User("alice"); u == nil || u.PasswordHash != "file-hash" {
		t.Fatalf("User(alice) = %+v, want the file's", u)
	}
	if d.ConfigUser("alice") == nil {
		t.Errorf("ConfigUser(alice) = nil, want the file's user")
	}
	off := fileAlice
	off.Disabled = true
	d.SetConfig(nil, []directory.User{off})
	if u := d.User("alice"); u != nil {
		t.Errorf("User(alice) with the file's alice disabled = %+v, want nil (not the stored one)", u)
	}
	// Once the file drops the login, the stored user is the one.
	d.SetConfig(nil, nil)
	if u := d.User("alice"); u == nil || u.PasswordHash != "stored-hash-alice" {
		t.Errorf("User(alice) with no file user = %+v, want the stored one", u)
	}
	logins := func(us []*directory.User) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.Login)
		}
		slices.Sort(out)
		return out
	}
	d.SetConfig(nil, []directory.User{off, {Login: "svc", Type: directory.TypeSystem}})
	if got := logins(d.ConfigUsers()); !slices.Equal(got, []string{"alice", "svc"}) {
		t.Errorf("ConfigUsers = %v, want alice (disabled) and svc", got)
	}
}

// A stored user may change their own password (the account page): the
// change applies while the stored hash is the one it replaced, and an
// operator setting another password wins.
func TestStoredUserOwnPassword(t *testing.T) {
	src := &source{}
	d, c := newTable(t, src)
	bob := stored("bob", t0)
	src.put(bob)
	mustSync(t, d)
	pc, ok := d.NewPasswordChange("bob", "own-hash", c.Now())
	if !ok || pc.Replaces != bob.PasswordHash {
		t.Fatalf("NewPasswordChange(bob) = %+v, %v; want one replacing the stored hash", pc, ok)
	}
	src.save(pc)
	mustSync(t, d)
	if u := d.User("bob"); u == nil || u.PasswordHash != "own-hash" {
		t.Fatalf("User(bob) after own change = %+v, want own-hash", u)
	}
	c.advance(time.Second)
	bob.PasswordHash, bob.UpdatedAt = "operator-hash", c.Now()
	src.put(bob)
	mustSync(t, d)
	if u := d.User("bob"); u == nil || u.PasswordHash != "operator-hash" {
		t.Errorf("User(bob) after the operator set a password = %+v, want operator-hash", u)
	}
	if _, ok := d.NewPasswordChange("nobody", "x", c.Now()); ok {
		t.Errorf("NewPasswordChange of an unknown login is ok")
	}
}

// BenchmarkSyncOneUserChange is a Sync that finds one stored user
// changed among n: the view is rebuilt whole (publish), so its cost
// grows with the directory, not with the change.
func BenchmarkSyncOneUserChange(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			src := &source{}
			for i := range n {
				src.put(stored("user"+strconv.Itoa(i), t0))
			}
			c := &clock{now: t0}
			d := directory.NewTable(src, c.Now)
			d.SetConfig(nil, nil)
			if err := d.Sync(b.Context()); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				c.advance(time.Minute) // past the overlap: only the change is read
				u := stored("user0", c.Now())
				src.put(u)
				if err := d.Sync(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
