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
		got.AccessTokenID != want.AccessTokenID || !got.AccessExpiresAt.Equal(want.AccessExpiresAt) {
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
	}
}

func checkRefresh(t *testing.T, what string, got, want store.RefreshToken) {
	t.Helper()
	if got.Hash != want.Hash || got.FamilyID != want.FamilyID || got.ClientID != want.ClientID ||
		got.Subject != want.Subject || got.SessionID != want.SessionID || !slices.Equal(got.Scopes, want.Scopes) ||
		!got.AuthTime.Equal(want.AuthTime) || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || got.AccessTokenID != want.AccessTokenID ||
		!got.AccessExpiresAt.Equal(want.AccessExpiresAt) || !got.RotatedAt.Equal(want.RotatedAt) ||
		!bytes.Equal(got.Successor, want.Successor) || !got.RevokedAt.Equal(want.RevokedAt) {
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
	}
}

func checkIdentity(t *testing.T, what string, got, want store.IdentitySession) {
	t.Helper()
	if got.ID != want.ID || got.Subject != want.Subject || got.SecretHash != want.SecretHash ||
		!got.AuthTime.Equal(want.AuthTime) || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || !got.EndedAt.Equal(want.EndedAt) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
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
}
