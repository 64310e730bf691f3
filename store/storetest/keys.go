package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

func testKey(id string, created time.Time) store.SigningKey {
	return store.SigningKey{
		ID:         id,
		Algorithm:  "ES256",
		PrivateJWK: []byte(`{"kty":"EC","crv":"P-256","kid":"` + id + `","d":"secret"}`),
		CreatedAt:  created,
		RetireAt:   created.Add(24 * time.Hour),
		ExpiresAt:  created.Add(25 * time.Hour),
	}
}

func keyIDs(ks []store.SigningKey) []string {
	ids := make([]string, len(ks))
	for i, k := range ks {
		ids[i] = k.ID
	}
	return ids
}

func testKeys(t *testing.T, open opener) {
	t.Run("Empty", func(t *testing.T) {
		b := open(t)
		got, err := b.SigningKeys(t.Context())
		if err != nil {
			t.Fatalf("SigningKeys: %v", err)
		}
		if len(got) != 0 {
			t.Fatalf("SigningKeys on an empty store = %v, want none", keyIDs(got))
		}
	})

	// "SigningKeys returns every stored key, oldest first."
	t.Run("AddListOldestFirst", func(t *testing.T) {
		b := open(t)
		want := []store.SigningKey{
			testKey("k1", at(-48*time.Hour)),
			testKey("k2", at(-24*time.Hour)),
			testKey("k3", at(0)),
		}
		// Added out of order, so insertion order cannot pass for age.
		for _, i := range []int{1, 2, 0} {
			if err := b.AddSigningKey(t.Context(), want[i]); err != nil {
				t.Fatalf("AddSigningKey(%s): %v", want[i].ID, err)
			}
		}
		got, err := b.SigningKeys(t.Context())
		if err != nil {
			t.Fatalf("SigningKeys: %v", err)
		}
		if !slices.Equal(keyIDs(got), keyIDs(want)) {
			t.Fatalf("SigningKeys order = %v, want %v", keyIDs(got), keyIDs(want))
		}
		for i := range want {
			checkKey(t, "SigningKeys["+want[i].ID+"]", got[i], want[i])
		}
	})

	// "AddSigningKey stores k; ErrConflict if its ID exists."
	t.Run("Conflict", func(t *testing.T) {
		b := open(t)
		first := testKey("k1", at(0))
		if err := b.AddSigningKey(t.Context(), first); err != nil {
			t.Fatalf("AddSigningKey: %v", err)
		}
		second := testKey("k1", at(time.Hour))
		second.Algorithm = "RS256"
		if err := b.AddSigningKey(t.Context(), second); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("AddSigningKey with an existing ID: err = %v, want ErrConflict", err)
		}
		got, err := b.SigningKeys(t.Context())
		if err != nil {
			t.Fatalf("SigningKeys: %v", err)
		}
		if len(got) != 1 {
			t.Fatalf("SigningKeys = %v, want only k1", keyIDs(got))
		}
		checkKey(t, "key after conflict", got[0], first)
	})

	// "DeleteExpiredSigningKeys removes keys whose ExpiresAt is before now."
	t.Run("DeleteExpired", func(t *testing.T) {
		b := open(t)
		now := at(0)
		keys := []store.SigningKey{
			testKey("expired", now.Add(-30*time.Hour)),
			testKey("at-now", now.Add(-25*time.Hour)), // ExpiresAt == now: not before now
			testKey("live", now.Add(-time.Hour)),
		}
		for _, k := range keys {
			if err := b.AddSigningKey(t.Context(), k); err != nil {
				t.Fatalf("AddSigningKey(%s): %v", k.ID, err)
			}
		}
		if err := b.DeleteExpiredSigningKeys(t.Context(), now); err != nil {
			t.Fatalf("DeleteExpiredSigningKeys: %v", err)
		}
		got, err := b.SigningKeys(t.Context())
		if err != nil {
			t.Fatalf("SigningKeys: %v", err)
		}
		if want := []string{"at-now", "live"}; !slices.Equal(keyIDs(got), want) {
			t.Fatalf("after DeleteExpiredSigningKeys: %v, want %v", keyIDs(got), want)
		}
	})
}
