package storetest

import (
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

func testRevocations(t *testing.T, open opener) {
	t.Run("RevokeRevoked", func(t *testing.T) {
		b := open(t)
		checkRevoked(t, b, "jti-1", false)
		if err := b.Revoke(t.Context(), "jti-1", at(time.Hour)); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		checkRevoked(t, b, "jti-1", true)
		checkRevoked(t, b, "jti-2", false)
	})

	// "Revoking twice is not an error."
	t.Run("Idempotent", func(t *testing.T) {
		b := open(t)
		for range 2 {
			if err := b.Revoke(t.Context(), "jti-1", at(time.Hour)); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
		}
		checkRevoked(t, b, "jti-1", true)
	})

	// A second Revoke with an earlier expiry must not shorten the first:
	// the token stays valid until its own expiry, so forgetting its
	// revocation early would let it back in.
	t.Run("SecondRevokeDoesNotShorten", func(t *testing.T) {
		b := open(t)
		if err := b.Revoke(t.Context(), "jti-1", at(2*time.Hour)); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		if err := b.Revoke(t.Context(), "jti-1", at(time.Hour)); err != nil {
			t.Fatalf("second Revoke: %v", err)
		}
		if err := b.DeleteExpiredRevocations(t.Context(), at(90*time.Minute)); err != nil {
			t.Fatalf("DeleteExpiredRevocations: %v", err)
		}
		checkRevoked(t, b, "jti-1", true)
	})

	// "DeleteExpiredRevocations forgets revocations past their expiry."
	t.Run("DeleteExpired", func(t *testing.T) {
		b := open(t)
		now := at(0)
		for jti, exp := range map[string]time.Time{
			"expired": now.Add(-time.Millisecond),
			"at-now":  now, // not past its expiry yet
			"live":    now.Add(time.Hour),
		} {
			if err := b.Revoke(t.Context(), jti, exp); err != nil {
				t.Fatalf("Revoke(%s): %v", jti, err)
			}
		}
		if err := b.DeleteExpiredRevocations(t.Context(), now); err != nil {
			t.Fatalf("DeleteExpiredRevocations: %v", err)
		}
		checkRevoked(t, b, "expired", false)
		checkRevoked(t, b, "at-now", true)
		checkRevoked(t, b, "live", true)
	})
}
