package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/store"
)

// testPasswordChange returns login's change to an argon2id PHC string (its
// $, = and + must survive) replacing the file's.
func testPasswordChange(login string, changed time.Time) directory.PasswordChange {
	return directory.PasswordChange{
		Login:     login,
		Hash:      "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$" + login + "+new/hash=",
		Replaces:  "$argon2id$v=19$m=65536,t=3,p=4$b2xkc2FsdA$" + login + "+file/hash=",
		ChangedAt: changed,
	}
}

func checkPasswordChanges(t *testing.T, what string, got, want []directory.PasswordChange) {
	t.Helper()
	logins := func(cs []directory.PasswordChange) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.Login
		}
		return out
	}
	if !slices.Equal(logins(got), logins(want)) {
		t.Errorf("%s = %v, want %v", what, logins(got), logins(want))
		return
	}
	for i, w := range want {
		g := got[i]
		if g.Login != w.Login || g.Hash != w.Hash || g.Replaces != w.Replaces || !g.ChangedAt.Equal(w.ChangedAt) {
			t.Errorf("%s[%s]:\n got %+v\nwant %+v", what, w.Login, g, w)
		}
	}
}

func mustSavePasswordChange(t *testing.T, b store.Backend, c directory.PasswordChange) {
	t.Helper()
	if err := b.SavePasswordChange(t.Context(), c); err != nil {
		t.Fatalf("SavePasswordChange(%s): %v", c.Login, err)
	}
}

func mustPasswordChangesSince(t *testing.T, b store.Backend, since time.Time) []directory.PasswordChange {
	t.Helper()
	got, err := b.PasswordChangesSince(t.Context(), since)
	if err != nil {
		t.Fatalf("PasswordChangesSince(%v): %v", since, err)
	}
	return got
}

func testPasswordChanges(t *testing.T, open opener) {
	// "PasswordChangesSince lists the changes whose ChangedAt is at or
	// after since, oldest ChangedAt first (ties by Login)."
	t.Run("Since", func(t *testing.T) {
		b := open(t)
		if got := mustPasswordChangesSince(t, b, time.Time{}); len(got) != 0 {
			t.Fatalf("PasswordChangesSince on an empty store = %d changes, want none", len(got))
		}
		all := []directory.PasswordChange{
			testPasswordChange("zoe", at(-time.Minute).In(cet)),
			testPasswordChange("alice", at(0)),
			testPasswordChange("carol", at(0)), // same time: by login
			testPasswordChange("bob", at(time.Millisecond)),
		}
		for _, i := range []int{3, 2, 0, 1} {
			mustSavePasswordChange(t, b, all[i])
		}
		for _, tc := range []struct {
			since time.Time
			want  []directory.PasswordChange
		}{
			{time.Time{}, all},
			{at(-time.Minute), all}, // at or after
			{at(-time.Minute + time.Millisecond), all[1:]},
			{at(0), all[1:]},
			{at(time.Millisecond), all[3:]},
			{at(2 * time.Millisecond), nil},
		} {
			checkPasswordChanges(t, fmt.Sprintf("PasswordChangesSince(%v)", tc.since), mustPasswordChangesSince(t, b, tc.since), tc.want)
		}
	})

	// "SavePasswordChange stores c, replacing the stored change of
	// c.Login whole": hash, the hash it replaces and the time, even an
	// earlier one (the store keeps what it was last given).
	t.Run("Replace", func(t *testing.T) {
		b := open(t)
		first := testPasswordChange("alice", at(0))
		bob := testPasswordChange("bob", at(0))
		mustSavePasswordChange(t, b, first)
		mustSavePasswordChange(t, b, bob)

		second := directory.PasswordChange{Login: "alice", Hash: "second", Replaces: "reset-by-operator", ChangedAt: at(time.Hour)}
		mustSavePasswordChange(t, b, second)
		checkPasswordChanges(t, "PasswordChangesSince after a second change", mustPasswordChangesSince(t, b, time.Time{}),
			[]directory.PasswordChange{bob, second})
		checkPasswordChanges(t, "PasswordChangesSince(the second change)", mustPasswordChangesSince(t, b, at(time.Minute)),
			[]directory.PasswordChange{second})

		earlier := directory.PasswordChange{Login: "alice", Hash: "third", Replaces: second.Replaces, ChangedAt: at(-time.Hour)}
		mustSavePasswordChange(t, b, earlier)
		checkPasswordChanges(t, "PasswordChangesSince after an earlier-dated change", mustPasswordChangesSince(t, b, time.Time{}),
			[]directory.PasswordChange{earlier, bob})
		if got := mustPasswordChangesSince(t, b, at(time.Minute)); len(got) != 0 {
			t.Errorf("PasswordChangesSince(after every change) = %d changes, want none", len(got))
		}
	})
}
