package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

func checkRevoked(t *testing.T, b store.Backend, jti string, want bool) {
	t.Helper()
	got, err := b.Revoked(t.Context(), jti)
	if err != nil {
		t.Fatalf("Revoked(%q): %v", jti, err)
	}
	if got != want {
		t.Fatalf("Revoked(%q) = %v, want %v", jti, got, want)
	}
}

func mustRevoke(t *testing.T, b store.Backend, jti string, expiresAt, now time.Time) {
	t.Helper()
	if err := b.Revoke(t.Context(), jti, expiresAt, now); err != nil {
		t.Fatalf("Revoke(%q): %v", jti, err)
	}
}

func mustRevokedSince(t *testing.T, b store.Backend, since time.Time) []store.Revocation {
	t.Helper()
	got, err := b.RevokedSince(t.Context(), since)
	if err != nil {
		t.Fatalf("RevokedSince: %v", err)
	}
	return got
}

// checkRevocations fails t unless got and want agree in order, times by
// time.Equal.
func checkRevocations(t *testing.T, what string, got, want []store.Revocation) {
	t.Helper()
	if !slices.EqualFunc(got, want, func(a, b store.Revocation) bool {
		return a.ID == b.ID && a.ExpiresAt.Equal(b.ExpiresAt) && a.RevokedAt.Equal(b.RevokedAt)
	}) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func testRevocations(t *testing.T, open opener) {
	t.Run("RevokeRevoked", func(t *testing.T) {
		b := open(t)
		checkRevoked(t, b, "jti-1", false)
		mustRevoke(t, b, "jti-1", at(time.Hour), at(0))
		checkRevoked(t, b, "jti-1", true)
		checkRevoked(t, b, "jti-2", false)
	})

	// "Revoking twice is not an error."
	t.Run("Idempotent", func(t *testing.T) {
		b := open(t)
		for range 2 {
			mustRevoke(t, b, "jti-1", at(time.Hour), at(0))
		}
		checkRevoked(t, b, "jti-1", true)
		checkRevocations(t, "RevokedSince", mustRevokedSince(t, b, time.Time{}),
			[]store.Revocation{{ID: "jti-1", ExpiresAt: at(time.Hour), RevokedAt: at(0)}})
	})

	// "... keeps the later expiry ... one with the same or an earlier
	// expiry changes nothing": the token stays valid until its own
	// expiry, so forgetting its revocation early would let it back in.
	t.Run("SecondRevokeDoesNotShorten", func(t *testing.T) {
		b := open(t)
		mustRevoke(t, b, "jti-1", at(2*time.Hour), at(0))
		mustRevoke(t, b, "jti-1", at(time.Hour), at(time.Minute))
		checkRevocations(t, "RevokedSince", mustRevokedSince(t, b, time.Time{}),
			[]store.Revocation{{ID: "jti-1", ExpiresAt: at(2 * time.Hour), RevokedAt: at(0)}})
		if err := b.DeleteExpiredRevocations(t.Context(), at(90*time.Minute)); err != nil {
			t.Fatalf("DeleteExpiredRevocations: %v", err)
		}
		checkRevoked(t, b, "jti-1", true)
	})

	// "A second call with a later expiresAt extends it and sets RevokedAt
	// to the later of the two nows", so a poller learns the new expiry.
	t.Run("SecondRevokeExtends", func(t *testing.T) {
		b := open(t)
		mustRevoke(t, b, "jti-1", at(time.Hour), at(0))
		mustRevoke(t, b, "jti-1", at(2*time.Hour), at(time.Minute))
		want := []store.Revocation{{ID: "jti-1", ExpiresAt: at(2 * time.Hour), RevokedAt: at(time.Minute)}}
		checkRevocations(t, "RevokedSince after extension", mustRevokedSince(t, b, at(time.Minute)), want)

		// An extension whose now is earlier (another replica's clock)
		// still extends, but RevokedAt does not move back.
		mustRevoke(t, b, "jti-1", at(3*time.Hour), at(-time.Minute))
		want[0].ExpiresAt = at(3 * time.Hour)
		checkRevocations(t, "RevokedSince after an extension from the past", mustRevokedSince(t, b, time.Time{}), want)
	})

	// "RevokedSince returns the revocations whose RevokedAt >= since,
	// oldest RevokedAt first (ties by ID)."
	t.Run("RevokedSince", func(t *testing.T) {
		b := open(t)
		if got := mustRevokedSince(t, b, time.Time{}); len(got) != 0 {
			t.Fatalf("RevokedSince on an empty store = %+v, want none", got)
		}
		all := []store.Revocation{
			{ID: "a", ExpiresAt: at(time.Hour), RevokedAt: at(-time.Minute)},
			{ID: "b", ExpiresAt: at(time.Hour), RevokedAt: at(0)},
			{ID: "c", ExpiresAt: at(2 * time.Hour), RevokedAt: at(0)},
			{ID: "d", ExpiresAt: at(30 * time.Minute), RevokedAt: at(time.Millisecond)},
			{ID: "e", ExpiresAt: at(time.Hour), RevokedAt: at(time.Minute)},
		}
		// Recorded out of order, so insertion order cannot pass for time.
		for _, i := range []int{4, 2, 0, 3, 1} {
			mustRevoke(t, b, all[i].ID, all[i].ExpiresAt, all[i].RevokedAt)
		}
		for _, tc := range []struct {
			since time.Time
			want  []store.Revocation
		}{
			{time.Time{}, all},
			{at(-time.Hour), all},
			{at(0), all[1:]}, // at or after: b and c were recorded exactly then
			{at(time.Millisecond), all[3:]},
			{at(2 * time.Millisecond), all[4:]},
			{at(time.Hour), nil},
		} {
			checkRevocations(t, fmt.Sprintf("RevokedSince(%v)", tc.since), mustRevokedSince(t, b, tc.since), tc.want)
		}
	})

	// "DeleteExpiredRevocations forgets revocations whose ExpiresAt is
	// before now (one expiring exactly at now is kept)."
	t.Run("DeleteExpired", func(t *testing.T) {
		b := open(t)
		now := at(0)
		for jti, exp := range map[string]time.Time{
			"expired": now.Add(-time.Millisecond),
			"at-now":  now, // not past its expiry yet
			"live":    now.Add(time.Hour),
		} {
			mustRevoke(t, b, jti, exp, now.Add(-time.Hour))
		}
		if err := b.DeleteExpiredRevocations(t.Context(), now); err != nil {
			t.Fatalf("DeleteExpiredRevocations: %v", err)
		}
		checkRevoked(t, b, "expired", false)
		checkRevoked(t, b, "at-now", true)
		checkRevoked(t, b, "live", true)
		checkRevocations(t, "RevokedSince after DeleteExpiredRevocations", mustRevokedSince(t, b, time.Time{}),
			[]store.Revocation{
				{ID: "at-now", ExpiresAt: now, RevokedAt: now.Add(-time.Hour)},
				{ID: "live", ExpiresAt: now.Add(time.Hour), RevokedAt: now.Add(-time.Hour)},
			})
	})
}
