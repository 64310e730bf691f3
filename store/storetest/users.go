package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/store"
)

// testUser returns a stored user with every field set, so a column a
// backend drops shows; the password hash's $, = and + must survive.
func testUser(login string, created time.Time) directory.User {
	return directory.User{
		Login: login, ID: "id-" + login, Name: "User " + login, Email: login + "@example.com",
		EmailVerified: true, Locale: "bg-BG", Type: directory.TypeInternal, Admin: true, MFARequired: true,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$" + login + "+hash/x=",
		CreatedAt:    created, UpdatedAt: created,
	}
}

// checkUser fails t unless got and want agree field by field, times by
// time.Equal.
func checkUser(t *testing.T, what string, got, want directory.User) {
	t.Helper()
	if got.Login != want.Login || got.ID != want.ID || got.Name != want.Name || got.Email != want.Email ||
		got.EmailVerified != want.EmailVerified || got.MFARequired != want.MFARequired || got.Locale != want.Locale || got.Type != want.Type ||
		got.Admin != want.Admin || got.PasswordHash != want.PasswordHash || got.Disabled != want.Disabled ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) || !got.DeletedAt.Equal(want.DeletedAt) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func userLogins(us []directory.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Login
	}
	return out
}

func mustCreateUser(t *testing.T, b store.Backend, u directory.User) {
	t.Helper()
	if err := b.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", u.Login, err)
	}
}

func mustUsersChangedSince(t *testing.T, b store.Backend, since time.Time) []directory.User {
	t.Helper()
	got, err := b.UsersChangedSince(t.Context(), since)
	if err != nil {
		t.Fatalf("UsersChangedSince(%v): %v", since, err)
	}
	return got
}

func testUsers(t *testing.T, open opener) {
	t.Run("CreateGet", func(t *testing.T) {
		b := open(t)
		if _, err := b.User(t.Context(), "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("User on an empty store: %v, want ErrNotFound", err)
		}
		alice := testUser("alice", at(0).In(cet))
		mustCreateUser(t, b, alice)
		got, err := b.User(t.Context(), "alice")
		if err != nil {
			t.Fatalf("User: %v", err)
		}
		checkUser(t, "User(alice)", got, alice)
		// A system user has no password and no email.
		svc := directory.User{Login: "svc", ID: "id-svc", Type: directory.TypeSystem, CreatedAt: at(1), UpdatedAt: at(1)}
		mustCreateUser(t, b, svc)
		if got, _ := b.User(t.Context(), "svc"); got.PasswordHash != "" || got.Email != "" {
			t.Errorf("User(svc) = %+v, want no password and no email", got)
		}
		other := testUser("alice", at(time.Hour))
		other.Name = "Another"
		if err := b.CreateUser(t.Context(), other); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("CreateUser of an existing login: %v, want ErrConflict", err)
		}
		got, _ = b.User(t.Context(), "alice")
		checkUser(t, "User(alice) after a refused create", got, alice)
		// Logins are compared exactly.
		if _, err := b.User(t.Context(), "Alice"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("User(Alice): %v, want ErrNotFound (logins are case-sensitive)", err)
		}
	})

	// "Users lists the live users, oldest CreatedAt first (ties by login)."
	t.Run("List", func(t *testing.T) {
		b := open(t)
		if got, err := b.Users(t.Context()); err != nil || len(got) != 0 {
			t.Fatalf("Users on an empty store = %v, %v; want none", got, err)
		}
		for _, u := range []directory.User{
			testUser("zoe", at(time.Minute)), testUser("carol", at(0)), testUser("bob", at(0)), testUser("dan", at(-time.Hour)),
		} {
			mustCreateUser(t, b, u)
		}
		if err := b.DeleteUser(t.Context(), "carol", at(2*time.Minute)); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		got, err := b.Users(t.Context())
		if err != nil {
			t.Fatalf("Users: %v", err)
		}
		if want := []string{"dan", "bob", "zoe"}; !slices.Equal(userLogins(got), want) {
			t.Errorf("Users = %v, want %v (deleted carol left out)", userLogins(got), want)
		}
	})

	// "UpdateUser replaces the live user with u.Login (ID and CreatedAt
	// are kept as stored)."
	t.Run("Update", func(t *testing.T) {
		b := open(t)
		if err := b.UpdateUser(t.Context(), testUser("nobody", at(0))); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UpdateUser of a missing user: %v, want ErrNotFound", err)
		}
		alice := testUser("alice", at(0))
		mustCreateUser(t, b, alice)
		next := directory.User{Login: "alice", ID: "another-id", Name: "Alice B", Email: "", Locale: "",
			Type: directory.TypeCommunity, PasswordHash: "", Disabled: true,
			CreatedAt: at(time.Hour), UpdatedAt: at(time.Minute)}
		if err := b.UpdateUser(t.Context(), next); err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		want := next
		want.ID, want.CreatedAt = alice.ID, alice.CreatedAt
		got, _ := b.User(t.Context(), "alice")
		checkUser(t, "User after UpdateUser", got, want)
	})

	// "DeleteUser turns the live user with login into a tombstone."
	t.Run("Delete", func(t *testing.T) {
		b := open(t)
		if err := b.DeleteUser(t.Context(), "nobody", at(0)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("DeleteUser of a missing user: %v, want ErrNotFound", err)
		}
		alice := testUser("alice", at(0))
		mustCreateUser(t, b, alice)
		del := at(time.Minute)
		if err := b.DeleteUser(t.Context(), "alice", del); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		if _, err := b.User(t.Context(), "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("User after DeleteUser: %v, want ErrNotFound", err)
		}
		if err := b.DeleteUser(t.Context(), "alice", at(2*time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteUser again: %v, want ErrNotFound", err)
		}
		if err := b.UpdateUser(t.Context(), alice); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateUser of a deleted user: %v, want ErrNotFound", err)
		}
		got := mustUsersChangedSince(t, b, del)
		if len(got) != 1 {
			t.Fatalf("UsersChangedSince(deletion) = %v, want alice's tombstone", userLogins(got))
		}
		tomb := directory.User{Login: "alice", ID: alice.ID, Type: alice.Type, Disabled: true,
			CreatedAt: alice.CreatedAt, UpdatedAt: del, DeletedAt: del}
		checkUser(t, "tombstone", got[0], tomb)

		// The login may be created again: a new record, not the old one.
		again := testUser("alice", at(time.Hour))
		again.ID, again.Name, again.Admin = "id-alice-2", "Alice the second", false
		mustCreateUser(t, b, again)
		g, err := b.User(t.Context(), "alice")
		if err != nil {
			t.Fatalf("User after re-creating: %v", err)
		}
		checkUser(t, "re-created user", g, again)
		if err := b.CreateUser(t.Context(), again); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateUser over the re-created user: %v, want ErrConflict", err)
		}
	})

	// "UsersChangedSince lists users, tombstones included, whose
	// UpdatedAt is at or after since, oldest UpdatedAt first (ties by
	// login)."
	t.Run("ChangedSince", func(t *testing.T) {
		b := open(t)
		if got := mustUsersChangedSince(t, b, time.Time{}); len(got) != 0 {
			t.Fatalf("UsersChangedSince on an empty store = %v, want none", userLogins(got))
		}
		mustCreateUser(t, b, testUser("zoe", at(-time.Minute)))
		mustCreateUser(t, b, testUser("carol", at(0)))
		mustCreateUser(t, b, testUser("alice", at(0)))
		mustCreateUser(t, b, testUser("bob", at(time.Millisecond)))
		// An update moves zoe last; a deletion moves carol after her.
		zoe := testUser("zoe", at(-time.Minute))
		zoe.UpdatedAt = at(time.Second)
		if err := b.UpdateUser(t.Context(), zoe); err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		if err := b.DeleteUser(t.Context(), "carol", at(2*time.Second)); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		for _, tc := range []struct {
			since time.Time
			want  []string
		}{
			{time.Time{}, []string{"alice", "bob", "zoe", "carol"}},
			{at(time.Millisecond), []string{"bob", "zoe", "carol"}},
			{at(2 * time.Millisecond), []string{"zoe", "carol"}},
			{at(2 * time.Second), []string{"carol"}},
			{at(3 * time.Second), nil},
		} {
			got := mustUsersChangedSince(t, b, tc.since)
			if !slices.Equal(userLogins(got), tc.want) {
				t.Errorf("UsersChangedSince(%v) = %v, want %v", tc.since.Sub(t0), userLogins(got), tc.want)
			}
		}
		if got := mustUsersChangedSince(t, b, at(2*time.Second)); len(got) == 1 && got[0].DeletedAt.IsZero() {
			t.Errorf("carol in UsersChangedSince has no DeletedAt: %+v", got[0])
		}
	})

	// Of concurrent creates of one login exactly one succeeds, the others
	// meet ErrConflict.
	t.Run("ConcurrentCreate", func(t *testing.T) {
		b := open(t)
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = b.CreateUser(t.Context(), testUser("alice", at(time.Duration(i)*time.Millisecond))) })
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("CreateUser: %v, want nil or ErrConflict", err)
			}
		}
		if won != 1 {
			t.Errorf("%d concurrent creates of one login succeeded, want 1", won)
		}
	})
}

func testReset(login, hash string, created time.Time) store.PasswordReset {
	return store.PasswordReset{Hash: hash, Login: login, CreatedAt: created, CreatedBy: "root",
		ExpiresAt: created.Add(24 * time.Hour)}
}

func checkReset(t *testing.T, what string, got, want store.PasswordReset) {
	t.Helper()
	if got.Hash != want.Hash || got.Login != want.Login || got.CreatedBy != want.CreatedBy ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) || !got.UsedAt.Equal(want.UsedAt) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func testPasswordResets(t *testing.T, open opener) {
	t.Run("SaveUse", func(t *testing.T) {
		b := open(t)
		ctx := t.Context()
		if _, err := b.PasswordReset(ctx, "h1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("PasswordReset on an empty store: %v, want ErrNotFound", err)
		}
		r := testReset("alice", "h1", at(0).In(cet))
		if err := b.SavePasswordReset(ctx, r); err != nil {
			t.Fatalf("SavePasswordReset: %v", err)
		}
		got, err := b.PasswordReset(ctx, "h1")
		if err != nil {
			t.Fatalf("PasswordReset: %v", err)
		}
		checkReset(t, "PasswordReset", got, r)
		used, err := b.UsePasswordReset(ctx, "h1", at(time.Minute))
		if err != nil {
			t.Fatalf("UsePasswordReset: %v", err)
		}
		r.UsedAt = at(time.Minute)
		checkReset(t, "UsePasswordReset", used, r)
		// Single use: a second use is refused; the record says when it
		// was used.
		if _, err := b.UsePasswordReset(ctx, "h1", at(2*time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UsePasswordReset again: %v, want ErrNotFound", err)
		}
		got, _ = b.PasswordReset(ctx, "h1")
		checkReset(t, "PasswordReset after use", got, r)
		if _, err := b.UsePasswordReset(ctx, "unknown", at(0)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UsePasswordReset of an unknown hash: %v, want ErrNotFound", err)
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		b := open(t)
		r := testReset("alice", "h1", at(0))
		if err := b.SavePasswordReset(t.Context(), r); err != nil {
			t.Fatalf("SavePasswordReset: %v", err)
		}
		if _, err := b.UsePasswordReset(t.Context(), "h1", r.ExpiresAt); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UsePasswordReset at its expiry: %v, want ErrNotFound", err)
		}
		if _, err := b.UsePasswordReset(t.Context(), "h1", r.ExpiresAt.Add(-time.Millisecond)); err != nil {
			t.Errorf("UsePasswordReset a millisecond before expiry: %v", err)
		}
	})

	// "at most one per login, so issuing a new link ends the previous
	// one"; other logins' links stay.
	t.Run("OnePerLogin", func(t *testing.T) {
		b := open(t)
		ctx := t.Context()
		for _, r := range []store.PasswordReset{testReset("alice", "h1", at(0)), testReset("bob", "hb", at(0)),
			testReset("alice", "h2", at(time.Minute))} {
			if err := b.SavePasswordReset(ctx, r); err != nil {
				t.Fatalf("SavePasswordReset(%s): %v", r.Hash, err)
			}
		}
		if _, err := b.PasswordReset(ctx, "h1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the replaced link: %v, want ErrNotFound", err)
		}
		if _, err := b.UsePasswordReset(ctx, "h1", at(2*time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("using the replaced link: %v, want ErrNotFound", err)
		}
		for _, h := range []string{"h2", "hb"} {
			if _, err := b.UsePasswordReset(ctx, h, at(2*time.Minute)); err != nil {
				t.Errorf("UsePasswordReset(%s): %v", h, err)
			}
		}
	})

	t.Run("ConcurrentUse", func(t *testing.T) {
		b := open(t)
		if err := b.SavePasswordReset(t.Context(), testReset("alice", "h1", at(0))); err != nil {
			t.Fatalf("SavePasswordReset: %v", err)
		}
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { _, errs[i] = b.UsePasswordReset(t.Context(), "h1", at(time.Minute)) })
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("UsePasswordReset: %v, want nil or ErrNotFound", err)
			}
		}
		if won != 1 {
			t.Errorf("%d concurrent uses of one link succeeded, want 1", won)
		}
	})
}
