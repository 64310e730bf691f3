package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

// testRefToken returns a personal access token of subject, created at
// created and valid for 30 days, never used nor revoked.
func testRefToken(id, subject string, created time.Time) store.ReferenceToken {
	return store.ReferenceToken{
		ID:          id,
		Hash:        "hash-" + id,
		Type:        store.PersonalAccessToken,
		ClientID:    "urn:app:web",
		Subject:     subject,
		Scopes:      []string{"read", "update"},
		CreatedAt:   created,
		CreatedBy:   "admin",
		ExpiresAt:   created.Add(30 * 24 * time.Hour),
		Name:        "Backup script " + id,
		Description: "Nightly export to the file server",
	}
}

// checkRefToken fails t unless got and want agree field by field: scopes
// by content (nil and empty alike), times by time.Equal.
func checkRefToken(t *testing.T, what string, got, want store.ReferenceToken) {
	t.Helper()
	if got.ID != want.ID || got.Hash != want.Hash || got.Type != want.Type || got.ClientID != want.ClientID ||
		got.Subject != want.Subject || !slices.Equal(got.Scopes, want.Scopes) ||
		!got.CreatedAt.Equal(want.CreatedAt) || got.CreatedBy != want.CreatedBy ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || !got.LastUsedAt.Equal(want.LastUsedAt) ||
		!got.RevokedAt.Equal(want.RevokedAt) || got.Name != want.Name || got.Description != want.Description {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// checkRefTokens fails t unless got and want hold the same tokens in the
// same order.
func checkRefTokens(t *testing.T, what string, got, want []store.ReferenceToken) {
	t.Helper()
	if !slices.Equal(refTokenIDs(got), refTokenIDs(want)) {
		t.Errorf("%s = %v, want %v", what, refTokenIDs(got), refTokenIDs(want))
		return
	}
	for i := range want {
		checkRefToken(t, fmt.Sprintf("%s[%s]", what, want[i].ID), got[i], want[i])
	}
}

func refTokenIDs(ts []store.ReferenceToken) []string {
	ids := make([]string, len(ts))
	for i, rt := range ts {
		ids[i] = rt.ID
	}
	return ids
}

func mustSaveRefToken(t *testing.T, r store.ReferenceTokens, rt store.ReferenceToken) {
	t.Helper()
	if err := r.SaveReferenceToken(t.Context(), rt); err != nil {
		t.Fatalf("SaveReferenceToken(%s): %v", rt.ID, err)
	}
}

// mustRefToken returns the token with id, and fails t unless looking it
// up by its hash gives the same.
func mustRefToken(t *testing.T, r store.ReferenceTokens, id string) store.ReferenceToken {
	t.Helper()
	got, err := r.ReferenceToken(t.Context(), id)
	if err != nil {
		t.Fatalf("ReferenceToken(%s): %v", id, err)
	}
	byHash, err := r.ReferenceTokenByHash(t.Context(), got.Hash)
	if err != nil {
		t.Fatalf("ReferenceTokenByHash(%s): %v", got.Hash, err)
	}
	checkRefToken(t, "ReferenceTokenByHash("+got.Hash+")", byHash, got)
	return got
}

func mustRefTokens(t *testing.T, r store.ReferenceTokens, subject string) []store.ReferenceToken {
	t.Helper()
	got, err := r.ReferenceTokens(t.Context(), subject)
	if err != nil {
		t.Fatalf("ReferenceTokens(%q): %v", subject, err)
	}
	return got
}

func mustRevokeRefToken(t *testing.T, r store.ReferenceTokens, id string, now time.Time) store.ReferenceToken {
	t.Helper()
	got, err := r.RevokeReferenceToken(t.Context(), id, now)
	if err != nil {
		t.Fatalf("RevokeReferenceToken(%s): %v", id, err)
	}
	return got
}

func mustTouchRefTokens(t *testing.T, r store.ReferenceTokens, used map[string]time.Time) {
	t.Helper()
	if err := r.TouchReferenceTokens(t.Context(), used); err != nil {
		t.Fatalf("TouchReferenceTokens(%v): %v", used, err)
	}
}

func checkRefTokenGone(t *testing.T, r store.ReferenceTokens, id, hash string) {
	t.Helper()
	if _, err := r.ReferenceToken(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReferenceToken(%s): err = %v, want ErrNotFound", id, err)
	}
	if _, err := r.ReferenceTokenByHash(t.Context(), hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReferenceTokenByHash(%s): err = %v, want ErrNotFound", hash, err)
	}
}

func testReferenceTokens(t *testing.T, open opener) {
	// "SaveReferenceToken stores t"; it is found by id and by hash.
	// Times in a zone other than UTC, to catch a backend that drops their
	// instant.
	t.Run("SaveAndGet", func(t *testing.T) {
		b := open(t)
		pat := testRefToken("rt-1", "alice", at(0).In(cet))
		pat.ExpiresAt = pat.ExpiresAt.In(cet)
		mustSaveRefToken(t, b, pat)
		checkRefToken(t, "ReferenceToken", mustRefToken(t, b, "rt-1"), pat)

		// Every field set, LastUsedAt and RevokedAt included, as given.
		sat := store.ReferenceToken{ID: "rt-2", Hash: "hash-rt-2", Type: store.ServiceAccessToken,
			ClientID: "urn:app:billing", Subject: "svc-billing", Scopes: []string{"read"},
			CreatedAt: at(0), CreatedBy: "cli", ExpiresAt: at(time.Hour),
			LastUsedAt: at(time.Minute), RevokedAt: at(2 * time.Minute),
			Name: "Sync", Description: "Billing's nightly sync"}
		mustSaveRefToken(t, b, sat)
		checkRefToken(t, "ReferenceToken with every field set", mustRefToken(t, b, "rt-2"), sat)
	})

	// Name and Description are kept as given: any text, quotes and
	// non-ASCII included; "" for none (tokens issued before they
	// existed). They come back from every read: by id, by hash, in the
	// list and from a revocation.
	t.Run("NameAndDescription", func(t *testing.T) {
		b := open(t)
		named := testRefToken("rt-named", "alice", at(0))
		named.Name, named.Description = `Отчети "Q1" — Ümlaut's`, "line one\nline two; DROP TABLE x; -- 😀"
		unnamed := testRefToken("rt-unnamed", "alice", at(time.Second))
		unnamed.Name, unnamed.Description = "", ""
		for _, rt := range []store.ReferenceToken{named, unnamed} {
			mustSaveRefToken(t, b, rt)
			checkRefToken(t, "ReferenceToken "+rt.ID, mustRefToken(t, b, rt.ID), rt)
		}
		checkRefTokens(t, "ReferenceTokens", mustRefTokens(t, b, "alice"), []store.ReferenceToken{named, unnamed})
		revoked := named
		revoked.RevokedAt = at(time.Minute)
		checkRefToken(t, "RevokeReferenceToken", mustRevokeRefToken(t, b, named.ID, at(time.Minute)), revoked)
	})

	// Scopes round-trip by content: nil and empty both come back with
	// length 0; "LastUsedAt zero until first use", "RevokedAt zero unless
	// revoked".
	t.Run("RoundTripEmpty", func(t *testing.T) {
		b := open(t)
		withNil := testRefToken("rt-nil", "alice", at(0))
		withNil.Scopes = nil
		withEmpty := testRefToken("rt-empty", "alice", at(0))
		withEmpty.Scopes = []string{}
		for _, rt := range []store.ReferenceToken{withNil, withEmpty} {
			mustSaveRefToken(t, b, rt)
			got := mustRefToken(t, b, rt.ID)
			checkRefToken(t, "ReferenceToken "+rt.ID, got, rt)
			if len(got.Scopes) != 0 || !got.LastUsedAt.IsZero() || !got.RevokedAt.IsZero() {
				t.Errorf("ReferenceToken %s: want no scopes and zero LastUsedAt and RevokedAt, got %+v", rt.ID, got)
			}
		}
	})

	// "ReferenceTokenByHash ...; ErrNotFound"; "ReferenceToken returns
	// the token with id; ErrNotFound". An id is not a hash, nor the other
	// way round.
	t.Run("NotFound", func(t *testing.T) {
		b := open(t)
		checkRefTokenGone(t, b, "nope", "nope")
		mustSaveRefToken(t, b, testRefToken("rt-1", "alice", at(0)))
		checkRefTokenGone(t, b, "hash-rt-1", "rt-1")
	})

	// "SaveReferenceToken stores t; ErrConflict if its ID or hash
	// exists." Nothing of the refused token is stored.
	t.Run("SaveConflictID", func(t *testing.T) {
		b := open(t)
		first := testRefToken("rt-1", "alice", at(0))
		mustSaveRefToken(t, b, first)
		second := testRefToken("rt-1", "mallory", at(time.Hour))
		second.Hash = "hash-other"
		if err := b.SaveReferenceToken(t.Context(), second); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("SaveReferenceToken with an existing ID: err = %v, want ErrConflict", err)
		}
		checkRefToken(t, "token after conflict", mustRefToken(t, b, "rt-1"), first)
		if _, err := b.ReferenceTokenByHash(t.Context(), "hash-other"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReferenceTokenByHash of the refused token: err = %v, want ErrNotFound", err)
		}
		checkRefTokens(t, "ReferenceTokens after conflict", mustRefTokens(t, b, ""), []store.ReferenceToken{first})
	})

	t.Run("SaveConflictHash", func(t *testing.T) {
		b := open(t)
		first := testRefToken("rt-1", "alice", at(0))
		mustSaveRefToken(t, b, first)
		second := testRefToken("rt-2", "mallory", at(time.Hour))
		second.Hash = first.Hash
		if err := b.SaveReferenceToken(t.Context(), second); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("SaveReferenceToken with an existing hash: err = %v, want ErrConflict", err)
		}
		checkRefToken(t, "token after conflict", mustRefToken(t, b, "rt-1"), first)
		if _, err := b.ReferenceToken(t.Context(), "rt-2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReferenceToken of the refused token: err = %v, want ErrNotFound", err)
		}
		checkRefTokens(t, "ReferenceTokens after conflict", mustRefTokens(t, b, ""), []store.ReferenceToken{first})
	})

	// Of concurrent saves of one hash under different ids exactly one
	// succeeds: a hash names one token.
	t.Run("SaveSameHashConcurrently", func(t *testing.T) {
		b := open(t)
		const n = 20
		errs := race(n, func(i int) error {
			rt := testRefToken(fmt.Sprintf("rt-%02d", i), "alice", at(0))
			rt.Hash = "hash-shared"
			return b.SaveReferenceToken(t.Context(), rt)
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("callers %d and %d both saved a token with one hash", winner, i)
				}
				winner = i
			case !errors.Is(err, store.ErrConflict):
				t.Fatalf("caller %d: SaveReferenceToken: %v", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no caller saved the token")
		}
		got, err := b.ReferenceTokenByHash(t.Context(), "hash-shared")
		if err != nil {
			t.Fatalf("ReferenceTokenByHash: %v", err)
		}
		if want := fmt.Sprintf("rt-%02d", winner); got.ID != want {
			t.Fatalf("ReferenceTokenByHash = %s, want the winner's %s", got.ID, want)
		}
		if got := mustRefTokens(t, b, ""); len(got) != 1 {
			t.Fatalf("ReferenceTokens = %v, want only the winner's", refTokenIDs(got))
		}
	})

	// "ReferenceTokens lists tokens, oldest first; subject "" means all."
	// Revoked tokens are tokens too.
	t.Run("List", func(t *testing.T) {
		b := open(t)
		if got := mustRefTokens(t, b, ""); len(got) != 0 {
			t.Fatalf("ReferenceTokens on an empty store = %v, want none", refTokenIDs(got))
		}
		a1 := testRefToken("rt-c", "alice", at(-time.Hour))
		bob := testRefToken("rt-a", "bob", at(-time.Minute))
		svc := testRefToken("rt-d", "svc-billing", at(0))
		svc.Type, svc.ClientID, svc.CreatedBy = store.ServiceAccessToken, "urn:app:billing", "cli"
		a2 := testRefToken("rt-b", "alice", at(time.Millisecond))
		a2.RevokedAt = at(time.Minute)
		all := []store.ReferenceToken{a1, bob, svc, a2}
		// Saved out of order, with ids out of order too, so neither
		// insertion order nor id can pass for age.
		for _, i := range []int{3, 1, 0, 2} {
			mustSaveRefToken(t, b, all[i])
		}
		checkRefTokens(t, `ReferenceTokens("")`, mustRefTokens(t, b, ""), all)
		checkRefTokens(t, `ReferenceTokens("alice")`, mustRefTokens(t, b, "alice"), []store.ReferenceToken{a1, a2})
		checkRefTokens(t, `ReferenceTokens("svc-billing")`, mustRefTokens(t, b, "svc-billing"), []store.ReferenceToken{svc})
		checkRefTokens(t, `ReferenceTokens("nobody")`, mustRefTokens(t, b, "nobody"), nil)
	})

	// "RevokeReferenceToken revokes the token with id at at and returns
	// it; revoking again keeps the first RevokedAt; ErrNotFound."
	t.Run("Revoke", func(t *testing.T) {
		b := open(t)
		rt := testRefToken("rt-1", "alice", at(0))
		other := testRefToken("rt-2", "alice", at(0))
		mustSaveRefToken(t, b, rt)
		mustSaveRefToken(t, b, other)
		mustTouchRefTokens(t, b, map[string]time.Time{"rt-1": at(time.Second)})
		rt.LastUsedAt = at(time.Second)

		want := rt
		want.RevokedAt = at(time.Minute)
		checkRefToken(t, "RevokeReferenceToken", mustRevokeRefToken(t, b, "rt-1", at(time.Minute).In(cet)), want)
		checkRefToken(t, "revoked token", mustRefToken(t, b, "rt-1"), want)

		for _, now := range []time.Time{at(time.Hour), at(0)} {
			checkRefToken(t, fmt.Sprintf("RevokeReferenceToken again at %v", now),
				mustRevokeRefToken(t, b, "rt-1", now), want)
		}
		checkRefToken(t, "twice revoked token", mustRefToken(t, b, "rt-1"), want)
		checkRefToken(t, "other token", mustRefToken(t, b, "rt-2"), other)

		if _, err := b.RevokeReferenceToken(t.Context(), "nope", at(time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("RevokeReferenceToken(unknown): err = %v, want ErrNotFound", err)
		}
		checkRefTokenGone(t, b, "nope", "hash-nope")
	})

	// "TouchReferenceTokens sets LastUsedAt for each id in used (batched,
	// like TouchSessions); unknown ids are ignored; never moves
	// backwards."
	t.Run("Touch", func(t *testing.T) {
		b := open(t)
		rts := map[string]store.ReferenceToken{}
		for _, id := range []string{"rt-a", "rt-b", "rt-c"} {
			rts[id] = testRefToken(id, "alice", at(0))
			mustSaveRefToken(t, b, rts[id])
		}
		check := func(what string, lastUsed map[string]time.Time) {
			t.Helper()
			for id, rt := range rts {
				rt.LastUsedAt = lastUsed[id]
				checkRefToken(t, what+": "+id, mustRefToken(t, b, id), rt)
			}
		}

		// Nothing to write is not an error.
		mustTouchRefTokens(t, b, nil)
		mustTouchRefTokens(t, b, map[string]time.Time{})
		check("after empty TouchReferenceTokens", nil)

		mustTouchRefTokens(t, b, map[string]time.Time{
			"rt-a":    at(time.Minute).In(cet),
			"rt-b":    at(time.Second),
			"unknown": at(time.Minute),
		})
		check("after first batch", map[string]time.Time{"rt-a": at(time.Minute), "rt-b": at(time.Second)})
		checkRefTokenGone(t, b, "unknown", "hash-unknown")

		// rt-a goes back (ignored), rt-b stays (ignored), rt-c moves from
		// zero, all in one batch.
		mustTouchRefTokens(t, b, map[string]time.Time{
			"rt-a": at(time.Second),
			"rt-b": at(time.Second),
			"rt-c": at(time.Millisecond),
		})
		check("after second batch", map[string]time.Time{
			"rt-a": at(time.Minute), "rt-b": at(time.Second), "rt-c": at(time.Millisecond),
		})

		mustTouchRefTokens(t, b, map[string]time.Time{"rt-a": at(time.Minute + time.Millisecond)})
		check("after third batch", map[string]time.Time{
			"rt-a": at(time.Minute + time.Millisecond), "rt-b": at(time.Second), "rt-c": at(time.Millisecond),
		})
	})

	// A stored token is a value: writing into the scopes the caller
	// passed or got back changes nothing stored.
	t.Run("NoSharedSlices", func(t *testing.T) {
		b := open(t)
		rt := testRefToken("rt-1", "alice", at(0))
		want := testRefToken("rt-1", "alice", at(0))
		mustSaveRefToken(t, b, rt)
		rt.Scopes[0] = "X"
		got := mustRefToken(t, b, "rt-1")
		checkRefToken(t, "ReferenceToken after the caller wrote into its scopes", got, want)
		got.Scopes[0] = "Y"
		checkRefToken(t, "ReferenceToken after the caller wrote into a returned token", mustRefToken(t, b, "rt-1"), want)
		listed := mustRefTokens(t, b, "")
		listed[0].Scopes[0] = "Z"
		revoked := mustRevokeRefToken(t, b, "rt-1", at(time.Minute))
		revoked.Scopes[0] = "W"
		want.RevokedAt = at(time.Minute)
		checkRefToken(t, "ReferenceToken after the caller wrote into listed and revoked tokens", mustRefToken(t, b, "rt-1"), want)
	})
}
