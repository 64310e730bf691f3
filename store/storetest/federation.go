package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

func testFederatedLinks(t *testing.T, open opener) {
	link := func(provider, subject, login string, used time.Time) store.FederatedLink {
		return store.FederatedLink{Provider: provider, Subject: subject, Login: login, CreatedAt: at(0), LastUsedAt: used}
	}
	save := func(t *testing.T, b store.Backend, l store.FederatedLink) {
		t.Helper()
		if err := b.SaveFederatedLink(t.Context(), l); err != nil {
			t.Fatalf("SaveFederatedLink(%s, %s): %v", l.Provider, l.Subject, err)
		}
	}
	check := func(t *testing.T, what string, got, want store.FederatedLink) {
		t.Helper()
		if got.Provider != want.Provider || got.Subject != want.Subject || got.Login != want.Login ||
			!got.CreatedAt.Equal(want.CreatedAt) || !got.LastUsedAt.Equal(want.LastUsedAt) {
			t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
		}
	}

	t.Run("RoundTrip", func(t *testing.T) {
		b := open(t)
		if _, err := b.FederatedLink(t.Context(), "entra", "sub-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("FederatedLink of none: %v, want ErrNotFound", err)
		}
		l := link("entra", "sub-1", "alice", at(0).In(cet))
		save(t, b, l)
		got, err := b.FederatedLink(t.Context(), "entra", "sub-1")
		if err != nil {
			t.Fatalf("FederatedLink: %v", err)
		}
		check(t, "FederatedLink", got, l)
		// The key is (provider, subject): the same subject at another
		// provider is another person.
		if _, err := b.FederatedLink(t.Context(), "google", "sub-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FederatedLink(google, sub-1): %v, want ErrNotFound", err)
		}
	})

	t.Run("SameLoginMovesLastUsedForward", func(t *testing.T) {
		b := open(t)
		save(t, b, link("entra", "sub-1", "alice", at(0)))
		save(t, b, link("entra", "sub-1", "alice", at(time.Hour)))
		save(t, b, link("entra", "sub-1", "alice", at(time.Minute))) // a late writer
		got, err := b.FederatedLink(t.Context(), "entra", "sub-1")
		if err != nil {
			t.Fatalf("FederatedLink: %v", err)
		}
		check(t, "after three saves", got, link("entra", "sub-1", "alice", at(time.Hour)))
	})

	t.Run("OtherLoginConflicts", func(t *testing.T) {
		b := open(t)
		save(t, b, link("entra", "sub-1", "alice", at(0)))
		if err := b.SaveFederatedLink(t.Context(), link("entra", "sub-1", "mallory", at(time.Hour))); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("SaveFederatedLink to another login: %v, want ErrConflict", err)
		}
		got, err := b.FederatedLink(t.Context(), "entra", "sub-1")
		if err != nil {
			t.Fatalf("FederatedLink: %v", err)
		}
		check(t, "after the conflict", got, link("entra", "sub-1", "alice", at(0)))
	})

	t.Run("LinksOfAndDelete", func(t *testing.T) {
		b := open(t)
		save(t, b, link("google", "g-1", "alice", at(0)))
		save(t, b, link("entra", "sub-2", "alice", at(0)))
		save(t, b, link("entra", "sub-1", "alice", at(0)))
		save(t, b, link("entra", "sub-3", "bob", at(0)))
		got, err := b.FederatedLinksOf(t.Context(), "alice")
		if err != nil {
			t.Fatalf("FederatedLinksOf: %v", err)
		}
		want := []store.FederatedLink{link("entra", "sub-1", "alice", at(0)), link("entra", "sub-2", "alice", at(0)), link("google", "g-1", "alice", at(0))}
		if len(got) != len(want) {
			t.Fatalf("FederatedLinksOf(alice) = %+v, want %+v", got, want)
		}
		for i := range want {
			check(t, "link", got[i], want[i])
		}
		if err := b.DeleteFederatedLinks(t.Context(), "alice"); err != nil {
			t.Fatalf("DeleteFederatedLinks: %v", err)
		}
		if got, err := b.FederatedLinksOf(t.Context(), "alice"); err != nil || len(got) != 0 {
			t.Errorf("FederatedLinksOf(alice) after delete = %+v, %v; want none", got, err)
		}
		if _, err := b.FederatedLink(t.Context(), "entra", "sub-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted link: %v, want ErrNotFound", err)
		}
		if _, err := b.FederatedLink(t.Context(), "entra", "sub-3"); err != nil {
			t.Errorf("bob's link after alice's delete: %v", err)
		}
		if err := b.DeleteFederatedLinks(t.Context(), "nobody"); err != nil {
			t.Errorf("DeleteFederatedLinks of none: %v", err)
		}
		// A deleted identity may be linked again, to anyone.
		save(t, b, link("entra", "sub-1", "carol", at(time.Hour)))
	})
}
