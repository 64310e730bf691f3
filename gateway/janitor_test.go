package gateway

import (
	"errors"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
)

// sweepExpired deletes exactly what can no longer matter: expired
// revocations and refresh tokens, and codes expired longer ago than the
// retention, and leaves everything else, ended sessions included.
func TestSweepExpired(t *testing.T) {
	ctx := t.Context()
	st := memory.New()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	retention := 30 * 24 * time.Hour

	codes := map[string]time.Time{
		"code-live":           now.Add(time.Minute),
		"code-expired-recent": now.Add(-time.Hour),             // a replay must still revoke
		"code-expired-old":    now.Add(-retention - time.Hour), // no refresh token of it can live
	}
	for hash, exp := range codes {
		if err := st.SaveAuthCode(ctx, store.AuthCode{Hash: hash, ClientID: "app", Subject: "alice",
			SessionID: "sid", CreatedAt: exp.Add(-time.Minute), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	refresh := map[string]time.Time{"rt-live": now.Add(time.Hour), "rt-expired": now.Add(-time.Second)}
	for hash, exp := range refresh {
		if err := st.SaveRefreshToken(ctx, store.RefreshToken{Hash: hash, FamilyID: "fam-" + hash, ClientID: "app",
			Subject: "alice", SessionID: "sid", CreatedAt: exp.Add(-time.Hour), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Revoke(ctx, "jti-live", now.Add(time.Hour), now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := st.Revoke(ctx, "jti-expired", now.Add(-time.Second), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EndSession(ctx, "sid-logged-out", store.EndLogout, now.Add(-90*24*time.Hour)); err != nil {
		t.Fatal(err)
	}

	if err := sweepExpired(ctx, st, now, retention); err != nil {
		t.Fatalf("sweepExpired: %v", err)
	}

	for hash, want := range map[string]bool{"code-live": true, "code-expired-recent": true, "code-expired-old": false} {
		_, err := st.RedeemAuthCode(ctx, hash, now, "jti", now.Add(time.Hour))
		if got := !errors.Is(err, store.ErrNotFound); got != want {
			t.Errorf("code %s kept = %v, want %v (err %v)", hash, got, want, err)
		}
	}
	for hash, want := range map[string]bool{"rt-live": true, "rt-expired": false} {
		_, err := st.RefreshToken(ctx, hash)
		if got := err == nil; got != want {
			t.Errorf("refresh token %s kept = %v, want %v (err %v)", hash, got, want, err)
		}
	}
	for jti, want := range map[string]bool{"jti-live": true, "jti-expired": false} {
		if got, err := st.Revoked(ctx, jti); err != nil || got != want {
			t.Errorf("revocation %s kept = %v, %v; want %v", jti, got, err, want)
		}
	}
	if s, err := st.Session(ctx, "sid-logged-out"); err != nil || s.EndReason != store.EndLogout {
		t.Errorf("a logout's tombstone was swept: %+v, %v", s, err)
	}
}
