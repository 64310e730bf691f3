package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

func testPasskeys(t *testing.T, open opener) {
	key := func(login, id string, created time.Duration) store.Passkey {
		return store.Passkey{
			CredentialID: []byte(id), Login: login, UserHandle: []byte("handle-" + login),
			PublicKey: []byte{0xa5, 0x01, 0x02}, SignCount: 3, AAGUID: make([]byte, 16),
			Transports: []string{"internal", "hybrid"}, BackupEligible: true, BackupState: true,
			UserVerified: true, Name: "Laptop " + id, CreatedAt: at(created),
		}
	}
	ids := func(t *testing.T, b store.Backend, login string) []string {
		t.Helper()
		list, err := b.Passkeys(t.Context(), login)
		if err != nil {
			t.Fatalf("Passkeys(%s): %v", login, err)
		}
		var out []string
		for _, p := range list {
			out = append(out, string(p.CredentialID))
		}
		return out
	}

	t.Run("SaveListFind", func(t *testing.T) {
		b := open(t)
		if got := ids(t, b, "alice"); len(got) != 0 {
			t.Fatalf("passkeys of none: %v", got)
		}
		for _, p := range []store.Passkey{key("alice", "k2", time.Minute), key("alice", "k1", 0), key("bob", "k3", 0)} {
			if err := b.SavePasskey(t.Context(), p); err != nil {
				t.Fatalf("SavePasskey(%s): %v", p.CredentialID, err)
			}
		}
		// A credential id is unique across users.
		if err := b.SavePasskey(t.Context(), key("bob", "k1", 0)); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("SavePasskey of a registered id: %v, want ErrConflict", err)
		}
		if got := ids(t, b, "alice"); !reflect.DeepEqual(got, []string{"k1", "k2"}) {
			t.Fatalf("alice's passkeys %v, want oldest first [k1 k2]", got)
		}
		got, err := b.PasskeyByCredentialID(t.Context(), []byte("k2"))
		if err != nil {
			t.Fatalf("PasskeyByCredentialID: %v", err)
		}
		want := key("alice", "k2", time.Minute)
		got.CreatedAt = got.CreatedAt.UTC()
		want.CreatedAt = want.CreatedAt.UTC()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("passkey read back\n got %+v\nwant %+v", got, want)
		}
		if _, err := b.PasskeyByCredentialID(t.Context(), []byte("nope")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("PasskeyByCredentialID of none: %v, want ErrNotFound", err)
		}
	})

	t.Run("SignCountMovesForward", func(t *testing.T) {
		b := open(t)
		if err := b.SavePasskey(t.Context(), key("alice", "k1", 0)); err != nil {
			t.Fatal(err)
		}
		if err := b.UpdatePasskeyUse(t.Context(), []byte("k1"), 4, at(time.Hour)); err != nil {
			t.Fatalf("UpdatePasskeyUse forward: %v", err)
		}
		// WebAuthn §6.1.1: a count that did not grow is a clone or a replay.
		for _, n := range []uint32{4, 2, 0} {
			if err := b.UpdatePasskeyUse(t.Context(), []byte("k1"), n, at(2*time.Hour)); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("UpdatePasskeyUse(%d) after 4: %v, want ErrConflict", n, err)
			}
		}
		p, _ := b.PasskeyByCredentialID(t.Context(), []byte("k1"))
		if p.SignCount != 4 || !p.LastUsedAt.Equal(at(time.Hour)) {
			t.Fatalf("after refused uses: count %d, last used %v", p.SignCount, p.LastUsedAt)
		}
		if err := b.UpdatePasskeyUse(t.Context(), []byte("nope"), 9, at(0)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UpdatePasskeyUse of none: %v, want ErrNotFound", err)
		}
		// An authenticator without a counter always says 0.
		zero := key("alice", "k0", 0)
		zero.SignCount = 0
		if err := b.SavePasskey(t.Context(), zero); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := b.UpdatePasskeyUse(t.Context(), []byte("k0"), 0, at(time.Hour)); err != nil {
				t.Fatalf("UpdatePasskeyUse(0) of a counterless key: %v", err)
			}
		}
	})

	t.Run("RenameDeleteOnlyOwn", func(t *testing.T) {
		b := open(t)
		if err := b.SavePasskey(t.Context(), key("alice", "k1", 0)); err != nil {
			t.Fatal(err)
		}
		if err := b.RenamePasskey(t.Context(), "bob", []byte("k1"), "mine"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("RenamePasskey of another's: %v, want ErrNotFound", err)
		}
		if err := b.RenamePasskey(t.Context(), "alice", []byte("k1"), "Phone"); err != nil {
			t.Fatalf("RenamePasskey: %v", err)
		}
		if p, _ := b.PasskeyByCredentialID(t.Context(), []byte("k1")); p.Name != "Phone" {
			t.Fatalf("renamed passkey named %q", p.Name)
		}
		if err := b.DeletePasskey(t.Context(), "bob", []byte("k1")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("DeletePasskey of another's: %v, want ErrNotFound", err)
		}
		if err := b.DeletePasskey(t.Context(), "alice", []byte("k1")); err != nil {
			t.Fatalf("DeletePasskey: %v", err)
		}
		if err := b.DeletePasskey(t.Context(), "alice", []byte("k1")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("DeletePasskey again: %v, want ErrNotFound", err)
		}
	})

	t.Run("DeleteFactorsTakesPasskeys", func(t *testing.T) {
		b := open(t)
		for _, p := range []store.Passkey{key("alice", "k1", 0), key("alice", "k2", 0), key("bob", "k3", 0)} {
			if err := b.SavePasskey(t.Context(), p); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.DeleteFactors(t.Context(), "alice"); err != nil {
			t.Fatalf("DeleteFactors: %v", err)
		}
		if got := ids(t, b, "alice"); len(got) != 0 {
			t.Fatalf("alice's passkeys after DeleteFactors: %v", got)
		}
		if got := ids(t, b, "bob"); !reflect.DeepEqual(got, []string{"k3"}) {
			t.Fatalf("bob's passkeys after alice's reset: %v", got)
		}
	})
}
