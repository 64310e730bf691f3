package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

// cet is a zone other than UTC, to catch a backend that drops a time's
// instant when it converts.
var cet = time.FixedZone("CET", 3600)

func testCode(hash string) store.AuthCode {
	return store.AuthCode{
		Hash:          hash,
		ClientID:      "urn:app:web",
		Subject:       "alice",
		RedirectURI:   "https://app.example/cb?x=1",
		Scopes:        []string{"openid", "read", "offline_access"},
		Nonce:         "n-0S6_WzA2Mj",
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		SessionID:     "sid-1",
		AuthTime:      at(-time.Minute).In(cet),
		Auth:          store.Authentication{Provider: "entra", Tenant: "9188040d-6c67-4c5b-b112-36a304b66dad", Methods: []string{"pwd", "mfa"}, ACR: "mfa"},
		CreatedAt:     at(0).In(cet),
		ExpiresAt:     at(time.Minute).In(cet),
	}
}

func checkCode(t *testing.T, what string, got, want store.AuthCode) {
	t.Helper()
	if got.Hash != want.Hash || got.ClientID != want.ClientID || got.Subject != want.Subject ||
		got.RedirectURI != want.RedirectURI || !slices.Equal(got.Scopes, want.Scopes) ||
		got.Nonce != want.Nonce || got.CodeChallenge != want.CodeChallenge || got.SessionID != want.SessionID ||
		!got.AuthTime.Equal(want.AuthTime) || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || !got.UsedAt.Equal(want.UsedAt) ||
		got.AccessTokenID != want.AccessTokenID || !got.AccessExpiresAt.Equal(want.AccessExpiresAt) ||
		!sameAuth(got.Auth, want.Auth) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func mustSaveCode(t *testing.T, b store.Backend, c store.AuthCode) {
	t.Helper()
	if err := b.SaveAuthCode(t.Context(), c); err != nil {
		t.Fatalf("SaveAuthCode(%s): %v", c.Hash, err)
	}
}

// used returns c as RedeemAuthCode leaves it.
func used(c store.AuthCode, now time.Time, jti string, exp time.Time) store.AuthCode {
	c.UsedAt, c.AccessTokenID, c.AccessExpiresAt = now, jti, exp
	return c
}

func testAuthCodes(t *testing.T, open opener) {
	// "RedeemAuthCode atomically marks the code used at now, recording
	// the access token about to be issued from it, and returns the code
	// as it was before ... A code used before is returned as stored,
	// with the UsedAt and access token of the first redemption, and
	// ErrCodeReused; it is not changed."
	t.Run("RedeemOnce", func(t *testing.T) {
		b := open(t)
		code := testCode("h1")
		mustSaveCode(t, b, code)

		got, err := b.RedeemAuthCode(t.Context(), "h1", at(time.Second), "jti-1", at(time.Hour))
		if err != nil {
			t.Fatalf("RedeemAuthCode: %v", err)
		}
		checkCode(t, "first RedeemAuthCode", got, code)

		// RFC 6749 §4.1.2: "If an authorization code is used more than
		// once, the authorization server MUST deny the request and SHOULD
		// revoke (when possible) all tokens previously issued based on
		// that authorization code."
		want := used(code, at(time.Second), "jti-1", at(time.Hour))
		for i, jti := range []string{"jti-2", "jti-3"} {
			got, err := b.RedeemAuthCode(t.Context(), "h1", at(time.Duration(i+2)*time.Second), jti, at(2*time.Hour))
			if !errors.Is(err, store.ErrCodeReused) {
				t.Fatalf("RedeemAuthCode of a used code: err = %v, want ErrCodeReused", err)
			}
			checkCode(t, "replayed RedeemAuthCode", got, want)
		}
	})

	t.Run("RoundTripEmpty", func(t *testing.T) {
		b := open(t)
		// No scopes, no PKCE, no nonce, no auth time: all come back empty.
		code := store.AuthCode{Hash: "h1", ClientID: "urn:app:web", Subject: "alice", RedirectURI: "http://127.0.0.1/cb",
			Scopes: []string{}, CreatedAt: at(0), ExpiresAt: at(time.Minute)}
		mustSaveCode(t, b, code)
		got, err := b.RedeemAuthCode(t.Context(), "h1", at(time.Second), "", time.Time{})
		if err != nil {
			t.Fatalf("RedeemAuthCode: %v", err)
		}
		checkCode(t, "RedeemAuthCode", got, code)
		got, err = b.RedeemAuthCode(t.Context(), "h1", at(2*time.Second), "jti", at(time.Hour))
		if !errors.Is(err, store.ErrCodeReused) {
			t.Fatalf("second RedeemAuthCode: err = %v, want ErrCodeReused", err)
		}
		checkCode(t, "replayed RedeemAuthCode", got, used(code, at(time.Second), "", time.Time{}))
	})

	// "SaveAuthCode stores c; ErrConflict if its hash exists."
	t.Run("SaveConflict", func(t *testing.T) {
		b := open(t)
		first := testCode("h1")
		mustSaveCode(t, b, first)
		second := testCode("h1")
		second.Subject = "mallory"
		if err := b.SaveAuthCode(t.Context(), second); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("SaveAuthCode with an existing hash: err = %v, want ErrConflict", err)
		}
		got, err := b.RedeemAuthCode(t.Context(), "h1", at(time.Second), "jti-1", at(time.Hour))
		if err != nil {
			t.Fatalf("RedeemAuthCode: %v", err)
		}
		checkCode(t, "code after conflict", got, first)
	})

	// "An unknown one gives ErrNotFound."
	t.Run("RedeemUnknown", func(t *testing.T) {
		b := open(t)
		if _, err := b.RedeemAuthCode(t.Context(), "nope", at(0), "jti-1", at(time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("RedeemAuthCode(unknown): err = %v, want ErrNotFound", err)
		}
	})

	// "Expiry is the caller's check."
	t.Run("RedeemExpired", func(t *testing.T) {
		b := open(t)
		code := testCode("h1")
		mustSaveCode(t, b, code)
		got, err := b.RedeemAuthCode(t.Context(), "h1", code.ExpiresAt.Add(time.Hour), "jti-1", at(2*time.Hour))
		if err != nil {
			t.Fatalf("RedeemAuthCode of an expired code: %v", err)
		}
		checkCode(t, "RedeemAuthCode of an expired code", got, code)
	})

	// "DeleteExpiredAuthCodes forgets codes whose ExpiresAt is before
	// now, used or not."
	t.Run("DeleteExpired", func(t *testing.T) {
		b := open(t)
		now := at(time.Hour)
		for hash, exp := range map[string]time.Time{
			"expired":      now.Add(-time.Millisecond),
			"expired-used": now.Add(-time.Minute),
			"at-now":       now,
			"live":         now.Add(time.Minute),
		} {
			c := testCode(hash)
			c.ExpiresAt = exp
			mustSaveCode(t, b, c)
		}
		if _, err := b.RedeemAuthCode(t.Context(), "expired-used", at(0), "jti", now); err != nil {
			t.Fatalf("RedeemAuthCode: %v", err)
		}
		if err := b.DeleteExpiredAuthCodes(t.Context(), now); err != nil {
			t.Fatalf("DeleteExpiredAuthCodes: %v", err)
		}
		for hash, want := range map[string]error{
			"expired":      store.ErrNotFound,
			"expired-used": store.ErrNotFound,
			"at-now":       nil,
			"live":         nil,
		} {
			if _, err := b.RedeemAuthCode(t.Context(), hash, now, "jti", now); !errors.Is(err, want) {
				t.Errorf("RedeemAuthCode(%s) after DeleteExpiredAuthCodes: err = %v, want %v", hash, err, want)
			}
		}
	})
}

func testRefresh(hash, family string, created time.Time) store.RefreshToken {
	return store.RefreshToken{
		Hash:            hash,
		FamilyID:        family,
		ClientID:        "urn:app:web",
		Subject:         "alice",
		SessionID:       "sid-1",
		Scopes:          []string{"openid", "read", "offline_access"},
		AuthTime:        at(-time.Minute),
		CreatedAt:       created,
		ExpiresAt:       created.Add(24 * time.Hour),
		AccessTokenID:   "jti-" + hash,
		AccessExpiresAt: created.Add(time.Hour),
		DPoPJKT:         "jkt-" + hash,
		Auth:            store.Authentication{Provider: "google", Methods: []string{"pwd"}, ACR: "pwd"},
	}
}

func checkRefresh(t *testing.T, what string, got, want store.RefreshToken) {
	t.Helper()
	if got.Hash != want.Hash || got.FamilyID != want.FamilyID || got.ClientID != want.ClientID ||
		got.Subject != want.Subject || got.SessionID != want.SessionID || !slices.Equal(got.Scopes, want.Scopes) ||
		!got.AuthTime.Equal(want.AuthTime) || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || got.AccessTokenID != want.AccessTokenID ||
		!got.AccessExpiresAt.Equal(want.AccessExpiresAt) || !got.RotatedAt.Equal(want.RotatedAt) ||
		!bytes.Equal(got.Successor, want.Successor) || !got.RevokedAt.Equal(want.RevokedAt) || got.DPoPJKT != want.DPoPJKT ||
		!sameAuth(got.Auth, want.Auth) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func mustSaveRefresh(t *testing.T, b store.Backend, rt store.RefreshToken) {
	t.Helper()
	if err := b.SaveRefreshToken(t.Context(), rt); err != nil {
		t.Fatalf("SaveRefreshToken(%s): %v", rt.Hash, err)
	}
}

func mustRefresh(t *testing.T, b store.Backend, hash string) store.RefreshToken {
	t.Helper()
	got, err := b.RefreshToken(t.Context(), hash)
	if err != nil {
		t.Fatalf("RefreshToken(%s): %v", hash, err)
	}
	return got
}

func checkRefreshGone(t *testing.T, b store.Backend, hash string) {
	t.Helper()
	if _, err := b.RefreshToken(t.Context(), hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RefreshToken(%s): err = %v, want ErrNotFound", hash, err)
	}
}

// mustRotate rotates hash at now into next, with a successor naming next.
func mustRotate(t *testing.T, b store.Backend, hash string, now time.Time, next store.RefreshToken) store.RefreshToken {
	t.Helper()
	got, err := b.RotateRefreshToken(t.Context(), hash, now, []byte("sealed:"+next.Hash), next)
	if err != nil {
		t.Fatalf("RotateRefreshToken(%s): %v", hash, err)
	}
	return got
}

func mustRevokeResult(t *testing.T, what string, got []store.IssuedToken, err error, want []store.IssuedToken) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !slices.EqualFunc(got, want, func(a, b store.IssuedToken) bool {
		return a.ID == b.ID && a.ExpiresAt.Equal(b.ExpiresAt)
	}) {
		t.Errorf("%s returned\n %+v\nwant\n %+v", what, got, want)
	}
}

func issued(ts ...store.RefreshToken) []store.IssuedToken {
	var out []store.IssuedToken
	for _, rt := range ts {
		out = append(out, store.IssuedToken{ID: rt.AccessTokenID, ExpiresAt: rt.AccessExpiresAt})
	}
	return out
}

func revoked(rt store.RefreshToken, now time.Time) store.RefreshToken {
	rt.RevokedAt = now
	return rt
}

func testRefreshTokens(t *testing.T, open opener) {
	// "SaveRefreshToken stores the first token of a family, as given."
	t.Run("SaveAndGet", func(t *testing.T) {
		b := open(t)
		want := testRefresh("h1", "fam-1", at(0).In(cet))
		want.AuthTime = want.AuthTime.In(cet)
		mustSaveRefresh(t, b, want)
		checkRefresh(t, "RefreshToken", mustRefresh(t, b, "h1"), want)

		// Every byte value of Successor survives, and empty things stay
		// empty.
		odd := store.RefreshToken{Hash: "h2", FamilyID: "fam-2", CreatedAt: at(0), ExpiresAt: at(time.Hour),
			RotatedAt: at(time.Minute), Successor: []byte{0, 0xff, '\n', 0x80, 0}, RevokedAt: at(2 * time.Minute)}
		mustSaveRefresh(t, b, odd)
		checkRefresh(t, "RefreshToken with odd bytes", mustRefresh(t, b, "h2"), odd)
	})

	// "RefreshToken returns the token with hash ...; ErrNotFound."
	t.Run("NotFound", func(t *testing.T) {
		checkRefreshGone(t, open(t), "nope")
	})

	// "SaveRefreshToken ...; ErrConflict if its hash exists."
	t.Run("SaveConflict", func(t *testing.T) {
		b := open(t)
		first := testRefresh("h1", "fam-1", at(0))
		mustSaveRefresh(t, b, first)
		if err := b.SaveRefreshToken(t.Context(), testRefresh("h1", "fam-2", at(time.Minute))); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("SaveRefreshToken with an existing hash: err = %v, want ErrConflict", err)
		}
		checkRefresh(t, "token after conflict", mustRefresh(t, b, "h1"), first)
	})

	// "RotateRefreshToken atomically marks the current token hash
	// rotated at now with successor, stores next in the same family (its
	// FamilyID is set to hash's) and returns the token as now stored."
	t.Run("Rotate", func(t *testing.T) {
		b := open(t)
		cur := testRefresh("h1", "fam-1", at(0))
		mustSaveRefresh(t, b, cur)
		next := testRefresh("h2", "", at(time.Minute)) // FamilyID left for the store to set
		successor := []byte{0x01, 0x00, 0xfe, 's'}
		got, err := b.RotateRefreshToken(t.Context(), "h1", at(time.Minute), successor, next)
		if err != nil {
			t.Fatalf("RotateRefreshToken: %v", err)
		}
		successor[0] = 0x99 // the store must have kept its own copy
		rotated := cur
		rotated.RotatedAt, rotated.Successor = at(time.Minute), []byte{0x01, 0x00, 0xfe, 's'}
		checkRefresh(t, "RotateRefreshToken", got, rotated)
		checkRefresh(t, "rotated token", mustRefresh(t, b, "h1"), rotated)
		next.FamilyID = "fam-1"
		checkRefresh(t, "successor token", mustRefresh(t, b, "h2"), next)

		// The successor is current and rotates in turn.
		third := testRefresh("h3", "fam-1", at(2*time.Minute))
		mustRotate(t, b, "h2", at(2*time.Minute), third)
		checkRefresh(t, "third token", mustRefresh(t, b, "h3"), third)
	})

	// "If the token was rotated before, it changes nothing and returns
	// the stored token (with the first rotation's RotatedAt and
	// Successor) with ErrRotated."
	t.Run("RotateTwice", func(t *testing.T) {
		b := open(t)
		cur := testRefresh("h1", "fam-1", at(0))
		mustSaveRefresh(t, b, cur)
		first := mustRotate(t, b, "h1", at(time.Minute), testRefresh("h2", "fam-1", at(time.Minute)))

		got, err := b.RotateRefreshToken(t.Context(), "h1", at(2*time.Minute), []byte("other"),
			testRefresh("h3", "fam-1", at(2*time.Minute)))
		if !errors.Is(err, store.ErrRotated) {
			t.Fatalf("second RotateRefreshToken: err = %v, want ErrRotated", err)
		}
		checkRefresh(t, "second RotateRefreshToken", got, first)
		checkRefresh(t, "stored token", mustRefresh(t, b, "h1"), first)
		checkRefreshGone(t, b, "h3")
	})

	// "If the family is revoked it changes nothing and returns the
	// stored token with ErrRevoked; this is checked first, so a revoked
	// token never gets ErrRotated."
	t.Run("RotateRevoked", func(t *testing.T) {
		b := open(t)
		mustSaveRefresh(t, b, testRefresh("h1", "fam-1", at(0)))
		mustRotate(t, b, "h1", at(time.Minute), testRefresh("h2", "fam-1", at(time.Minute)))
		if _, err := b.RevokeRefreshFamily(t.Context(), "fam-1", at(2*time.Minute)); err != nil {
			t.Fatalf("RevokeRefreshFamily: %v", err)
		}
		for _, hash := range []string{"h1", "h2"} { // rotated and current
			want := mustRefresh(t, b, hash)
			got, err := b.RotateRefreshToken(t.Context(), hash, at(3*time.Minute), []byte("x"),
				testRefresh("h3", "fam-1", at(3*time.Minute)))
			if !errors.Is(err, store.ErrRevoked) {
				t.Fatalf("RotateRefreshToken(%s) of a revoked family: err = %v, want ErrRevoked", hash, err)
			}
			checkRefresh(t, "RotateRefreshToken of a revoked family", got, want)
			if got.RevokedAt.IsZero() {
				t.Errorf("RotateRefreshToken(%s) of a revoked family returned RevokedAt zero", hash)
			}
			checkRefresh(t, "stored token", mustRefresh(t, b, hash), want)
			checkRefreshGone(t, b, "h3")
		}
	})

	// "Unknown, ErrNotFound; next.Hash taken, ErrConflict with nothing
	// changed."
	t.Run("RotateUnknownOrConflict", func(t *testing.T) {
		b := open(t)
		if _, err := b.RotateRefreshToken(t.Context(), "nope", at(0), []byte("x"),
			testRefresh("h2", "fam-1", at(0))); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("RotateRefreshToken(unknown): err = %v, want ErrNotFound", err)
		}
		checkRefreshGone(t, b, "h2")

		cur, other := testRefresh("h1", "fam-1", at(0)), testRefresh("taken", "fam-2", at(0))
		mustSaveRefresh(t, b, cur)
		mustSaveRefresh(t, b, other)
		if _, err := b.RotateRefreshToken(t.Context(), "h1", at(time.Minute), []byte("x"),
			testRefresh("taken", "fam-1", at(time.Minute))); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("RotateRefreshToken to a taken hash: err = %v, want ErrConflict", err)
		}
		checkRefresh(t, "token after refused rotation", mustRefresh(t, b, "h1"), cur)
		checkRefresh(t, "token holding the hash", mustRefresh(t, b, "taken"), other)
	})

	// "Expiry is the caller's check."
	t.Run("RotateExpired", func(t *testing.T) {
		b := open(t)
		cur := testRefresh("h1", "fam-1", at(0))
		mustSaveRefresh(t, b, cur)
		mustRotate(t, b, "h1", cur.ExpiresAt.Add(time.Hour), testRefresh("h2", "fam-1", at(time.Minute)))
	})

	// "RevokeRefreshFamily revokes every token of the family (RevokedAt
	// now; a token revoked before keeps its RevokedAt) and returns the
	// access tokens issued with every token of the family, oldest token
	// first, skipping tokens with no AccessTokenID. Revoking twice is not
	// an error and returns the same list; an unknown family gives none."
	t.Run("RevokeFamily", func(t *testing.T) {
		b := open(t)
		t1, t2, t3 := testRefresh("h1", "fam-1", at(0)), testRefresh("h2", "fam-1", at(time.Minute)),
			testRefresh("h3", "fam-1", at(2*time.Minute))
		t3.AccessTokenID, t3.AccessExpiresAt = "", time.Time{}
		other := testRefresh("o1", "fam-2", at(0))
		mustSaveRefresh(t, b, t1)
		mustSaveRefresh(t, b, other)
		t1 = mustRotate(t, b, "h1", at(time.Minute), t2)
		t2 = mustRotate(t, b, "h2", at(2*time.Minute), t3)

		now := at(time.Hour)
		got, err := b.RevokeRefreshFamily(t.Context(), "fam-1", now)
		mustRevokeResult(t, "RevokeRefreshFamily", got, err, issued(t1, t2))
		for _, rt := range []store.RefreshToken{t1, t2, t3} {
			checkRefresh(t, "revoked "+rt.Hash, mustRefresh(t, b, rt.Hash), revoked(rt, now))
		}
		checkRefresh(t, "other family", mustRefresh(t, b, "o1"), other)

		got, err = b.RevokeRefreshFamily(t.Context(), "fam-1", now.Add(time.Hour))
		mustRevokeResult(t, "second RevokeRefreshFamily", got, err, issued(t1, t2))
		checkRefresh(t, "twice revoked h1", mustRefresh(t, b, "h1"), revoked(t1, now))

		got, err = b.RevokeRefreshFamily(t.Context(), "nope", now)
		mustRevokeResult(t, "RevokeRefreshFamily(unknown)", got, err, nil)
	})

	// "RevokeSessionRefreshTokens revokes every family with a token of
	// the session (logout) and returns the access tokens issued with
	// them."
	t.Run("RevokeSession", func(t *testing.T) {
		b := open(t)
		a1, a2 := testRefresh("a1", "fam-a", at(0)), testRefresh("a2", "fam-a", at(time.Minute))
		c1 := testRefresh("c1", "fam-c", at(30*time.Second))
		other := testRefresh("o1", "fam-o", at(0))
		other.SessionID = "sid-2" // same subject, another session
		for _, rt := range []store.RefreshToken{a1, c1, other} {
			mustSaveRefresh(t, b, rt)
		}
		a1 = mustRotate(t, b, "a1", at(time.Minute), a2)

		now := at(time.Hour)
		got, err := b.RevokeSessionRefreshTokens(t.Context(), "sid-1", now)
		mustRevokeResult(t, "RevokeSessionRefreshTokens", got, err, issued(a1, c1, a2))
		for _, rt := range []store.RefreshToken{a1, a2, c1} {
			checkRefresh(t, "revoked "+rt.Hash, mustRefresh(t, b, rt.Hash), revoked(rt, now))
		}
		checkRefresh(t, "token of another session", mustRefresh(t, b, "o1"), other)

		got, err = b.RevokeSessionRefreshTokens(t.Context(), "sid-unknown", now)
		mustRevokeResult(t, "RevokeSessionRefreshTokens(unknown)", got, err, nil)
	})

	// "RevokeSubjectRefreshTokens revokes every family with a token of
	// the subject (password change) and returns the access tokens issued
	// with them, as RevokeRefreshFamily does."
	t.Run("RevokeSubject", func(t *testing.T) {
		b := open(t)
		a1 := testRefresh("a1", "fam-a", at(0))
		a2 := testRefresh("a2", "fam-b", at(time.Minute))
		a2.SessionID = "sid-2" // same subject, another session
		a3 := testRefresh("a3", "fam-a", at(2*time.Minute))
		bob := testRefresh("b1", "fam-bob", at(0))
		bob.Subject, bob.SessionID = "bob", "sid-3"
		for _, rt := range []store.RefreshToken{a1, a2, bob} {
			mustSaveRefresh(t, b, rt)
		}
		a1 = mustRotate(t, b, "a1", at(2*time.Minute), a3) // a successor is revoked too
		now := at(time.Hour)
		got, err := b.RevokeSubjectRefreshTokens(t.Context(), "alice", now)
		mustRevokeResult(t, "RevokeSubjectRefreshTokens", got, err, issued(a1, a2, a3))
		checkRefresh(t, "revoked a1", mustRefresh(t, b, "a1"), revoked(a1, now))
		checkRefresh(t, "revoked a2", mustRefresh(t, b, "a2"), revoked(a2, now))
		checkRefresh(t, "revoked a3", mustRefresh(t, b, "a3"), revoked(a3, now))
		checkRefresh(t, "bob's token", mustRefresh(t, b, "b1"), bob)

		// Twice: not an error, the same list, the first RevokedAt kept.
		got, err = b.RevokeSubjectRefreshTokens(t.Context(), "alice", now.Add(time.Hour))
		mustRevokeResult(t, "second RevokeSubjectRefreshTokens", got, err, issued(a1, a2, a3))
		checkRefresh(t, "twice revoked a1", mustRefresh(t, b, "a1"), revoked(a1, now))

		got, err = b.RevokeSubjectRefreshTokens(t.Context(), "nobody", now)
		mustRevokeResult(t, "RevokeSubjectRefreshTokens(unknown)", got, err, nil)
	})

	// "DeleteExpiredRefreshTokens forgets tokens whose ExpiresAt is
	// before now, whatever their state."
	t.Run("DeleteExpired", func(t *testing.T) {
		b := open(t)
		now := at(48 * time.Hour)
		for hash, exp := range map[string]time.Time{
			"expired":         now.Add(-time.Millisecond),
			"expired-revoked": now.Add(-time.Hour),
			"at-now":          now,
			"live":            now.Add(time.Hour),
		} {
			rt := testRefresh(hash, "fam-"+hash, at(0))
			rt.ExpiresAt = exp
			mustSaveRefresh(t, b, rt)
		}
		if _, err := b.RevokeRefreshFamily(t.Context(), "fam-expired-revoked", at(0)); err != nil {
			t.Fatalf("RevokeRefreshFamily: %v", err)
		}
		if err := b.DeleteExpiredRefreshTokens(t.Context(), now); err != nil {
			t.Fatalf("DeleteExpiredRefreshTokens: %v", err)
		}
		checkRefreshGone(t, b, "expired")
		checkRefreshGone(t, b, "expired-revoked")
		mustRefresh(t, b, "at-now")
		mustRefresh(t, b, "live")
	})
}

func testIdentity(id, subject, secret string, auth time.Time) store.IdentitySession {
	return store.IdentitySession{
		ID:         id,
		Subject:    subject,
		SecretHash: secret,
		AuthTime:   auth,
		CreatedAt:  auth,
		ExpiresAt:  auth.Add(8 * time.Hour),
		RemoteAddr: "203.0.113.7",
		UserAgent:  "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		Auth:       store.Authentication{Provider: "entra", Tenant: "9188040d-6c67-4c5b-b112-36a304b66dad", Methods: []string{"pwd"}, ACR: "pwd"},
	}
}

// sameAuth compares two Authentications; an empty Methods list and nil
// are alike, as for scopes.
func sameAuth(a, b store.Authentication) bool {
	return a.Provider == b.Provider && a.Tenant == b.Tenant && slices.Equal(a.Methods, b.Methods) && a.ACR == b.ACR
}

func checkIdentity(t *testing.T, what string, got, want store.IdentitySession) {
	t.Helper()
	if got.ID != want.ID || got.Subject != want.Subject || got.SecretHash != want.SecretHash ||
		!got.AuthTime.Equal(want.AuthTime) || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || !got.EndedAt.Equal(want.EndedAt) ||
		got.RemoteAddr != want.RemoteAddr || got.UserAgent != want.UserAgent || !sameAuth(got.Auth, want.Auth) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// checkIdentities fails t unless got and want hold the same sessions in
// the same order.
func checkIdentities(t *testing.T, what string, got, want []store.IdentitySession) {
	t.Helper()
	ids := func(ss []store.IdentitySession) []string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = s.ID
		}
		return out
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Errorf("%s = %v, want %v", what, ids(got), ids(want))
		return
	}
	for i := range want {
		checkIdentity(t, what+"["+want[i].ID+"]", got[i], want[i])
	}
}

func mustIdentitySessionsOf(t *testing.T, b store.Backend, subject string, now time.Time) []store.IdentitySession {
	t.Helper()
	got, err := b.IdentitySessionsOf(t.Context(), subject, now)
	if err != nil {
		t.Fatalf("IdentitySessionsOf(%s): %v", subject, err)
	}
	return got
}

func mustSaveIdentity(t *testing.T, b store.Backend, s store.IdentitySession) {
	t.Helper()
	if err := b.SaveIdentitySession(t.Context(), s); err != nil {
		t.Fatalf("SaveIdentitySession(%s): %v", s.ID, err)
	}
}

func mustIdentity(t *testing.T, b store.Backend, id string) store.IdentitySession {
	t.Helper()
	got, err := b.IdentitySession(t.Context(), id)
	if err != nil {
		t.Fatalf("IdentitySession(%s): %v", id, err)
	}
	return got
}

func mustEndIdentity(t *testing.T, b store.Backend, id string, now time.Time) {
	t.Helper()
	if err := b.EndIdentitySession(t.Context(), id, now); err != nil {
		t.Fatalf("EndIdentitySession(%s): %v", id, err)
	}
}

func testIdentitySessions(t *testing.T, open opener) {
	t.Run("SaveAndGet", func(t *testing.T) {
		b := open(t)
		want := testIdentity("sid-1", "alice", "secret-1", at(0).In(cet))
		mustSaveIdentity(t, b, want)
		checkIdentity(t, "IdentitySession", mustIdentity(t, b, "sid-1"), want)
		if _, err := b.IdentitySession(t.Context(), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("IdentitySession(unknown): err = %v, want ErrNotFound", err)
		}
	})

	// "... or replaces the session with the same ID whole (a new sign-in
	// of the same user keeps the sid, with a new secret and auth time)."
	t.Run("Replace", func(t *testing.T) {
		b := open(t)
		mustSaveIdentity(t, b, testIdentity("sid-1", "alice", "secret-1", at(0)))
		again := testIdentity("sid-1", "alice", "secret-2", at(time.Hour))
		again.CreatedAt = at(0)
		mustSaveIdentity(t, b, again)
		checkIdentity(t, "replaced session", mustIdentity(t, b, "sid-1"), again)
	})

	// "Replacing an ended session is ErrSessionEnded; replacing one of
	// another Subject is ErrConflict."
	t.Run("ReplaceRefused", func(t *testing.T) {
		b := open(t)
		alice := testIdentity("sid-1", "alice", "secret-1", at(0))
		mustSaveIdentity(t, b, alice)
		if err := b.SaveIdentitySession(t.Context(), testIdentity("sid-1", "mallory", "secret-2", at(time.Minute))); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("SaveIdentitySession of another subject: err = %v, want ErrConflict", err)
		}
		checkIdentity(t, "session after refused replace", mustIdentity(t, b, "sid-1"), alice)

		mustEndIdentity(t, b, "sid-1", at(time.Hour))
		alice.EndedAt = at(time.Hour)
		if err := b.SaveIdentitySession(t.Context(), testIdentity("sid-1", "alice", "secret-3", at(2*time.Hour))); !errors.Is(err, store.ErrSessionEnded) {
			t.Fatalf("SaveIdentitySession over an ended session: err = %v, want ErrSessionEnded", err)
		}
		checkIdentity(t, "ended session after refused replace", mustIdentity(t, b, "sid-1"), alice)
	})

	// "EndIdentitySession ends the session at now (logout). Ending an
	// ended session is not an error and keeps the first EndedAt; ending
	// an unknown one is not an error and stores nothing."
	t.Run("End", func(t *testing.T) {
		b := open(t)
		want := testIdentity("sid-1", "alice", "secret-1", at(0))
		mustSaveIdentity(t, b, want)
		mustEndIdentity(t, b, "sid-1", at(time.Hour))
		want.EndedAt = at(time.Hour)
		checkIdentity(t, "ended session", mustIdentity(t, b, "sid-1"), want)
		mustEndIdentity(t, b, "sid-1", at(2*time.Hour))
		checkIdentity(t, "twice ended session", mustIdentity(t, b, "sid-1"), want)

		mustEndIdentity(t, b, "nope", at(time.Hour))
		if _, err := b.IdentitySession(t.Context(), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("IdentitySession after ending an unknown id: err = %v, want ErrNotFound", err)
		}
	})

	// "EndSubjectIdentitySessions ends, at now, every identity session of
	// subject not ended yet (a password change, SPEC §5) and returns
	// their IDs, sorted. Sessions ended before keep their EndedAt and are
	// not listed; expired ones not ended yet are ended and listed too. A
	// subject with none gives no IDs and no error."
	t.Run("EndSubject", func(t *testing.T) {
		b := open(t)
		live2 := testIdentity("sid-2", "alice", "secret-2", at(time.Minute))
		live1 := testIdentity("sid-1", "alice", "secret-1", at(0))
		gone := testIdentity("sid-3", "alice", "secret-3", at(0))
		expired := testIdentity("sid-4", "alice", "secret-4", at(0))
		expired.ExpiresAt = at(time.Hour)
		bob := testIdentity("sid-5", "bob", "secret-5", at(0))
		for _, is := range []store.IdentitySession{live2, live1, gone, expired, bob} {
			mustSaveIdentity(t, b, is)
		}
		mustEndIdentity(t, b, "sid-3", at(time.Hour))
		gone.EndedAt = at(time.Hour)

		now := at(2 * time.Hour)
		got, err := b.EndSubjectIdentitySessions(t.Context(), "alice", now)
		if want := []string{"sid-1", "sid-2", "sid-4"}; err != nil || !slices.Equal(got, want) {
			t.Fatalf("EndSubjectIdentitySessions = %v, %v; want %v", got, err, want)
		}
		live1.EndedAt, live2.EndedAt, expired.EndedAt = now, now, now
		for _, is := range []store.IdentitySession{live1, live2, expired} {
			checkIdentity(t, "ended "+is.ID, mustIdentity(t, b, is.ID), is)
		}
		checkIdentity(t, "session ended before", mustIdentity(t, b, "sid-3"), gone)
		checkIdentity(t, "bob's session", mustIdentity(t, b, "sid-5"), bob)

		// An ended session cannot be signed into again.
		if err := b.SaveIdentitySession(t.Context(), testIdentity("sid-1", "alice", "secret-6", at(3*time.Hour))); !errors.Is(err, store.ErrSessionEnded) {
			t.Fatalf("SaveIdentitySession over a session ended by EndSubjectIdentitySessions: err = %v, want ErrSessionEnded", err)
		}

		for _, subject := range []string{"alice", "nobody"} {
			if got, err := b.EndSubjectIdentitySessions(t.Context(), subject, at(3*time.Hour)); err != nil || len(got) != 0 {
				t.Fatalf("EndSubjectIdentitySessions(%s) with nothing live = %v, %v; want none", subject, got, err)
			}
		}
		checkIdentity(t, "sid-1 after a second call", mustIdentity(t, b, "sid-1"), live1)
	})

	// RemoteAddr and UserAgent are "stored and round-tripped" as given,
	// replaced with the rest of the session, and may be empty.
	t.Run("WhereFrom", func(t *testing.T) {
		b := open(t)
		is := testIdentity("sid-1", "alice", "secret-1", at(0))
		is.RemoteAddr = "2001:db8::1"
		is.UserAgent = "Mozilla/5.0 (Macintosh) „Safari“ 17.0 ☃ 'quoted' \"double\""
		mustSaveIdentity(t, b, is)
		checkIdentity(t, "IdentitySession", mustIdentity(t, b, "sid-1"), is)

		again := testIdentity("sid-1", "alice", "secret-2", at(time.Hour))
		again.RemoteAddr, again.UserAgent = "", ""
		mustSaveIdentity(t, b, again)
		checkIdentity(t, "IdentitySession replaced with nothing said", mustIdentity(t, b, "sid-1"), again)
	})

	// "IdentitySessionsOf lists the sessions of subject that are live at
	// now (not ended, and ExpiresAt after now), newest AuthTime first
	// (ties by ID)."
	t.Run("Of", func(t *testing.T) {
		b := open(t)
		now := at(4 * time.Hour)
		old := testIdentity("sid-1", "alice", "secret-1", at(0).In(cet))
		newer := testIdentity("sid-3", "alice", "secret-3", at(2*time.Hour))
		tie := testIdentity("sid-2", "alice", "secret-2", at(2*time.Hour)) // same AuthTime: by ID
		tie.RemoteAddr, tie.UserAgent = "198.51.100.2", "curl/8.5.0"
		ended := testIdentity("sid-4", "alice", "secret-4", at(3*time.Hour))
		expiresNow := testIdentity("sid-5", "alice", "secret-5", at(-4*time.Hour)) // ExpiresAt == now: expired
		lastMilli := testIdentity("sid-6", "alice", "secret-6", at(-4*time.Hour+time.Millisecond))
		noAuth := testIdentity("sid-7", "alice", "secret-7", at(0)) // no AuthTime: the oldest
		noAuth.AuthTime = time.Time{}
		bob := testIdentity("sid-8", "bob", "secret-8", at(time.Hour))
		for _, is := range []store.IdentitySession{noAuth, lastMilli, tie, bob, ended, old, expiresNow, newer} {
			mustSaveIdentity(t, b, is)
		}
		mustEndIdentity(t, b, "sid-4", at(3*time.Hour+30*time.Minute))

		checkIdentities(t, "IdentitySessionsOf(alice)", mustIdentitySessionsOf(t, b, "alice", now),
			[]store.IdentitySession{tie, newer, old, lastMilli, noAuth})
		checkIdentities(t, "IdentitySessionsOf(bob)", mustIdentitySessionsOf(t, b, "bob", now), []store.IdentitySession{bob})
		if got := mustIdentitySessionsOf(t, b, "nobody", now); len(got) != 0 {
			t.Errorf("IdentitySessionsOf(nobody) = %d sessions, want none", len(got))
		}
		// An hour earlier the session that expires at now was live; the
		// ended one is not, whenever it ended ("not ended").
		checkIdentities(t, "IdentitySessionsOf(alice) an hour earlier", mustIdentitySessionsOf(t, b, "alice", at(3*time.Hour)),
			[]store.IdentitySession{tie, newer, old, lastMilli, expiresNow, noAuth})

		if _, err := b.EndSubjectIdentitySessions(t.Context(), "alice", now); err != nil {
			t.Fatalf("EndSubjectIdentitySessions: %v", err)
		}
		if got := mustIdentitySessionsOf(t, b, "alice", now); len(got) != 0 {
			t.Errorf("IdentitySessionsOf(alice) after ending them all = %d sessions, want none", len(got))
		}
		checkIdentities(t, "IdentitySessionsOf(bob) after alice's end", mustIdentitySessionsOf(t, b, "bob", now), []store.IdentitySession{bob})
	})
}

func testConsent(subject, clientID string, granted time.Time, scopes ...string) store.Consent {
	return store.Consent{Subject: subject, ClientID: clientID, Scopes: scopes, GrantedAt: granted}
}

// checkConsent compares scopes by content (nil and empty alike, see
// store.Grants) and times by time.Equal.
func checkConsent(t *testing.T, what string, got, want store.Consent) {
	t.Helper()
	if got.Subject != want.Subject || got.ClientID != want.ClientID || !slices.Equal(got.Scopes, want.Scopes) ||
		!got.GrantedAt.Equal(want.GrantedAt) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func checkConsents(t *testing.T, what string, got, want []store.Consent) {
	t.Helper()
	apps := func(cs []store.Consent) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.Subject + " " + c.ClientID
		}
		return out
	}
	if !slices.Equal(apps(got), apps(want)) {
		t.Errorf("%s = %q, want %q", what, apps(got), apps(want))
		return
	}
	for i := range want {
		checkConsent(t, what+"["+want[i].ClientID+"]", got[i], want[i])
	}
}

func mustSaveConsent(t *testing.T, b store.Backend, c store.Consent) {
	t.Helper()
	if err := b.SaveConsent(t.Context(), c); err != nil {
		t.Fatalf("SaveConsent(%s, %s): %v", c.Subject, c.ClientID, err)
	}
}

func mustConsent(t *testing.T, b store.Backend, subject, clientID string) store.Consent {
	t.Helper()
	got, err := b.Consent(t.Context(), subject, clientID)
	if err != nil {
		t.Fatalf("Consent(%s, %s): %v", subject, clientID, err)
	}
	return got
}

func mustConsentsOf(t *testing.T, b store.Backend, subject string) []store.Consent {
	t.Helper()
	got, err := b.ConsentsOf(t.Context(), subject)
	if err != nil {
		t.Fatalf("ConsentsOf(%s): %v", subject, err)
	}
	return got
}

func checkNoConsent(t *testing.T, b store.Backend, subject, clientID string) {
	t.Helper()
	if got, err := b.Consent(t.Context(), subject, clientID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Consent(%s, %s) = %+v, %v; want ErrNotFound", subject, clientID, got, err)
	}
}

func testConsents(t *testing.T, open opener) {
	// "Consent returns the consent of subject for clientID; ErrNotFound."
	t.Run("SaveAndGet", func(t *testing.T) {
		b := open(t)
		want := testConsent("alice", "urn:app:billing", at(0).In(cet), "openid", "read", "offline_access")
		mustSaveConsent(t, b, want)
		checkConsent(t, "Consent", mustConsent(t, b, "alice", "urn:app:billing"), want)
		checkNoConsent(t, b, "alice", "urn:app:other")
		checkNoConsent(t, b, "bob", "urn:app:billing")
		checkNoConsent(t, b, "", "")
	})

	// "SaveConsent stores c, replacing the consent of c.Subject for
	// c.ClientID whole": fewer scopes, no scopes, an earlier time.
	t.Run("Replace", func(t *testing.T) {
		b := open(t)
		mustSaveConsent(t, b, testConsent("alice", "urn:app:billing", at(0), "openid", "read", "update"))
		bob := testConsent("bob", "urn:app:billing", at(0), "openid")
		mustSaveConsent(t, b, bob)

		fewer := testConsent("alice", "urn:app:billing", at(time.Hour), "read")
		mustSaveConsent(t, b, fewer)
		checkConsent(t, "Consent replaced", mustConsent(t, b, "alice", "urn:app:billing"), fewer)

		none := testConsent("alice", "urn:app:billing", at(-time.Hour))
		none.Scopes = []string{}
		mustSaveConsent(t, b, none)
		got := mustConsent(t, b, "alice", "urn:app:billing")
		checkConsent(t, "Consent replaced with no scopes", got, none)
		checkConsents(t, "ConsentsOf(alice) after replacing", mustConsentsOf(t, b, "alice"), []store.Consent{none})
		checkConsent(t, "bob's consent for the same app", mustConsent(t, b, "bob", "urn:app:billing"), bob)
	})

	// "ConsentsOf lists the consents of subject, sorted by ClientID (byte
	// order)": upper case before lower, whatever the order of saving or
	// granting.
	t.Run("ListSorted", func(t *testing.T) {
		b := open(t)
		if got := mustConsentsOf(t, b, "alice"); len(got) != 0 {
			t.Fatalf("ConsentsOf on an empty store = %d consents, want none", len(got))
		}
		want := []store.Consent{
			testConsent("alice", "https://z.example/app", at(3*time.Hour), "openid"),
			testConsent("alice", "urn:app:B", at(2*time.Hour), "read"),
			testConsent("alice", "urn:app:a", at(time.Hour), "update"),
			testConsent("alice", "urn:app:b", at(0), "read", "update"),
		}
		for _, i := range []int{3, 1, 0, 2} {
			mustSaveConsent(t, b, want[i])
		}
		mustSaveConsent(t, b, testConsent("bob", "urn:app:a", at(0), "read"))
		mustSaveConsent(t, b, testConsent("alice2", "urn:app:a", at(0), "read"))
		checkConsents(t, "ConsentsOf(alice)", mustConsentsOf(t, b, "alice"), want)
		if got := mustConsentsOf(t, b, "nobody"); len(got) != 0 {
			t.Errorf("ConsentsOf(nobody) = %d consents, want none", len(got))
		}
	})

	// "RevokeConsent forgets the consent of subject for clientID;
	// revoking an absent one is not an error."
	t.Run("Revoke", func(t *testing.T) {
		b := open(t)
		a := testConsent("alice", "urn:app:a", at(0), "read")
		keep := testConsent("alice", "urn:app:b", at(0), "read")
		bob := testConsent("bob", "urn:app:a", at(0), "read")
		for _, c := range []store.Consent{a, keep, bob} {
			mustSaveConsent(t, b, c)
		}
		for i := range 2 {
			if err := b.RevokeConsent(t.Context(), "alice", "urn:app:a"); err != nil {
				t.Fatalf("RevokeConsent #%d: %v", i+1, err)
			}
		}
		if err := b.RevokeConsent(t.Context(), "nobody", "urn:app:none"); err != nil {
			t.Fatalf("RevokeConsent of one never given: %v", err)
		}
		checkNoConsent(t, b, "alice", "urn:app:a")
		checkConsents(t, "ConsentsOf(alice) after revoking", mustConsentsOf(t, b, "alice"), []store.Consent{keep})
		checkConsent(t, "bob's consent for the revoked app", mustConsent(t, b, "bob", "urn:app:a"), bob)

		// Consenting again after a revocation stores anew.
		again := testConsent("alice", "urn:app:a", at(time.Hour), "openid")
		mustSaveConsent(t, b, again)
		checkConsent(t, "Consent given again", mustConsent(t, b, "alice", "urn:app:a"), again)
	})

	// A stored consent is a value: writing into the slices the caller
	// passed or got back changes nothing stored.
	t.Run("NoSharedSlices", func(t *testing.T) {
		b := open(t)
		c := testConsent("alice", "urn:app:a", at(0), "read", "update")
		want := testConsent("alice", "urn:app:a", at(0), "read", "update")
		mustSaveConsent(t, b, c)
		c.Scopes[0] = "X"
		got := mustConsent(t, b, "alice", "urn:app:a")
		checkConsent(t, "Consent after the caller wrote into its slice", got, want)
		got.Scopes[0] = "Y"
		mustConsentsOf(t, b, "alice")[0].Scopes[1] = "Z"
		checkConsent(t, "Consent after the caller wrote into returned ones", mustConsent(t, b, "alice", "urn:app:a"), want)
	})
}
