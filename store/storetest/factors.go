package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

func testFactors(t *testing.T, open opener) {
	pending := func(login, secret string) store.TOTPFactor {
		return store.TOTPFactor{Login: login, Secret: secret, CreatedAt: at(0)}
	}
	get := func(t *testing.T, b store.Backend, login string) store.TOTPFactor {
		t.Helper()
		f, err := b.TOTP(t.Context(), login)
		if err != nil {
			t.Fatalf("TOTP(%s): %v", login, err)
		}
		return f
	}
	confirmed := func(t *testing.T, b store.Backend, login, secret string, step int64) {
		t.Helper()
		if err := b.SaveTOTP(t.Context(), pending(login, secret)); err != nil {
			t.Fatalf("SaveTOTP: %v", err)
		}
		if err := b.ConfirmTOTP(t.Context(), login, secret, step, at(time.Minute)); err != nil {
			t.Fatalf("ConfirmTOTP: %v", err)
		}
	}

	t.Run("PendingThenConfirmed", func(t *testing.T) {
		b := open(t)
		if _, err := b.TOTP(t.Context(), "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("TOTP of none: %v, want ErrNotFound", err)
		}
		// "its ConfirmedAt and LastStep are ignored: pending, step 0"
		f := pending("alice", "SECRET1")
		f.ConfirmedAt, f.LastStep = at(time.Hour), 99
		if err := b.SaveTOTP(t.Context(), f); err != nil {
			t.Fatalf("SaveTOTP: %v", err)
		}
		got := get(t, b, "alice")
		if got.Secret != "SECRET1" || !got.CreatedAt.Equal(at(0)) || !got.ConfirmedAt.IsZero() || got.LastStep != 0 {
			t.Fatalf("pending factor: %+v", got)
		}
		// A pending enrolment is replaced whole (started again).
		if err := b.SaveTOTP(t.Context(), pending("alice", "SECRET2")); err != nil {
			t.Fatalf("SaveTOTP again: %v", err)
		}
		// The first secret's confirmation (another tab) finds nothing.
		if err := b.ConfirmTOTP(t.Context(), "alice", "SECRET1", 5, at(time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("ConfirmTOTP of a replaced secret: %v, want ErrNotFound", err)
		}
		if err := b.ConfirmTOTP(t.Context(), "alice", "SECRET2", 7, at(time.Minute)); err != nil {
			t.Fatalf("ConfirmTOTP: %v", err)
		}
		got = get(t, b, "alice")
		if got.Secret != "SECRET2" || !got.ConfirmedAt.Equal(at(time.Minute)) || got.LastStep != 7 {
			t.Fatalf("confirmed factor: %+v", got)
		}
		// Confirmed: not confirmed again, not replaced.
		if err := b.ConfirmTOTP(t.Context(), "alice", "SECRET2", 8, at(time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ConfirmTOTP twice: %v, want ErrNotFound", err)
		}
		if err := b.SaveTOTP(t.Context(), pending("alice", "SECRET3")); !errors.Is(err, store.ErrConflict) {
			t.Errorf("SaveTOTP over a confirmed factor: %v, want ErrConflict", err)
		}
		if got := get(t, b, "alice"); got.Secret != "SECRET2" || got.LastStep != 7 {
			t.Errorf("after refused writes: %+v", got)
		}
		if _, err := b.TOTP(t.Context(), "bob"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TOTP(bob): %v, want ErrNotFound", err)
		}
	})

	t.Run("StepsOnlyForward", func(t *testing.T) {
		b := open(t)
		if err := b.SaveTOTP(t.Context(), pending("alice", "S")); err != nil {
			t.Fatal(err)
		}
		// A pending factor accepts no code at sign-in.
		if err := b.UseTOTPStep(t.Context(), "alice", 10); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("UseTOTPStep on a pending factor: %v, want ErrConflict", err)
		}
		if err := b.ConfirmTOTP(t.Context(), "alice", "S", 10, at(0)); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			step int64
			want error
		}{{10, store.ErrConflict}, {9, store.ErrConflict}, {11, nil}, {11, store.ErrConflict}, {13, nil}, {12, store.ErrConflict}} {
			if err := b.UseTOTPStep(t.Context(), "alice", tt.step); !errors.Is(err, tt.want) {
				t.Errorf("UseTOTPStep(%d): %v, want %v", tt.step, err, tt.want)
			}
		}
		if got := get(t, b, "alice"); got.LastStep != 13 {
			t.Errorf("LastStep = %d, want 13", got.LastStep)
		}
		if err := b.UseTOTPStep(t.Context(), "nobody", 100); !errors.Is(err, store.ErrConflict) {
			t.Errorf("UseTOTPStep without a factor: %v, want ErrConflict", err)
		}
	})

	t.Run("RecoveryCodesSingleUse", func(t *testing.T) {
		b := open(t)
		if got, err := b.RecoveryCodes(t.Context(), "alice"); err != nil || len(got) != 0 {
			t.Fatalf("RecoveryCodes of none: %v, %v", got, err)
		}
		first := []string{"c3", "a1", "b2"}
		if err := b.SaveRecoveryCodes(t.Context(), "alice", first, at(0)); err != nil {
			t.Fatalf("SaveRecoveryCodes: %v", err)
		}
		if err := b.SaveRecoveryCodes(t.Context(), "bob", []string{"a1"}, at(0)); err != nil {
			t.Fatalf("SaveRecoveryCodes(bob): %v", err)
		}
		if got, _ := b.RecoveryCodes(t.Context(), "alice"); !slices.Equal(got, []string{"a1", "b2", "c3"}) {
			t.Fatalf("RecoveryCodes = %v, sorted want [a1 b2 c3]", got)
		}
		if err := b.UseRecoveryCode(t.Context(), "alice", "b2"); err != nil {
			t.Fatalf("UseRecoveryCode: %v", err)
		}
		if err := b.UseRecoveryCode(t.Context(), "alice", "b2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UseRecoveryCode twice: %v, want ErrNotFound", err)
		}
		if err := b.UseRecoveryCode(t.Context(), "alice", "zz"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UseRecoveryCode of an unknown code: %v, want ErrNotFound", err)
		}
		if got, _ := b.RecoveryCodes(t.Context(), "alice"); !slices.Equal(got, []string{"a1", "c3"}) {
			t.Errorf("after one use: %v", got)
		}
		// A new set replaces the old one whole.
		if err := b.SaveRecoveryCodes(t.Context(), "alice", []string{"d4", "a1"}, at(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := b.UseRecoveryCode(t.Context(), "alice", "c3"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a replaced code: %v, want ErrNotFound", err)
		}
		if got, _ := b.RecoveryCodes(t.Context(), "alice"); !slices.Equal(got, []string{"a1", "d4"}) {
			t.Errorf("after replacing: %v", got)
		}
		// Codes are per login: bob's a1 is bob's.
		if err := b.UseRecoveryCode(t.Context(), "alice", "a1"); err != nil {
			t.Fatal(err)
		}
		if err := b.UseRecoveryCode(t.Context(), "bob", "a1"); err != nil {
			t.Errorf("bob's code after alice used hers: %v", err)
		}
	})

	t.Run("DeleteFactors", func(t *testing.T) {
		b := open(t)
		confirmed(t, b, "alice", "S", 1)
		confirmed(t, b, "bob", "T", 1)
		for _, l := range []string{"alice", "bob"} {
			if err := b.SaveRecoveryCodes(t.Context(), l, []string{"h1", "h2"}, at(0)); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.DeleteFactors(t.Context(), "alice"); err != nil {
			t.Fatalf("DeleteFactors: %v", err)
		}
		if err := b.DeleteFactors(t.Context(), "nobody"); err != nil {
			t.Errorf("DeleteFactors of none: %v", err)
		}
		if _, err := b.TOTP(t.Context(), "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TOTP after DeleteFactors: %v", err)
		}
		if got, _ := b.RecoveryCodes(t.Context(), "alice"); len(got) != 0 {
			t.Errorf("recovery codes after DeleteFactors: %v", got)
		}
		if err := b.UseRecoveryCode(t.Context(), "alice", "h1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UseRecoveryCode after DeleteFactors: %v", err)
		}
		if get(t, b, "bob").Secret != "T" {
			t.Error("bob's factor went too")
		}
		if got, _ := b.RecoveryCodes(t.Context(), "bob"); len(got) != 2 {
			t.Errorf("bob's codes: %v", got)
		}
		// Enrolling again after a reset starts from step 0.
		confirmed(t, b, "alice", "U", 3)
		if got := get(t, b, "alice"); got.Secret != "U" || got.LastStep != 3 {
			t.Errorf("enrolled again: %+v", got)
		}
	})

	// Two replicas accepting one code at once, or one recovery code:
	// exactly one wins (RFC 6238 §5.2).
	t.Run("ConcurrentUsesOneWins", func(t *testing.T) {
		b := open(t)
		confirmed(t, b, "alice", "S", 1)
		if err := b.SaveRecoveryCodes(t.Context(), "alice", []string{"h1"}, at(0)); err != nil {
			t.Fatal(err)
		}
		const n = 8
		for name, f := range map[string]func(int) error{
			"UseTOTPStep":     func(int) error { return b.UseTOTPStep(t.Context(), "alice", 5) },
			"UseRecoveryCode": func(int) error { return b.UseRecoveryCode(t.Context(), "alice", "h1") },
		} {
			won := 0
			for _, err := range race(n, f) {
				switch {
				case err == nil:
					won++
				case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
				default:
					t.Errorf("%s: %v", name, err)
				}
			}
			if won != 1 {
				t.Errorf("%s: %d of %d concurrent uses won, want 1", name, won, n)
			}
		}
	})
}
