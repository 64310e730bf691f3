package issuer

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/erpgate/erpgate/revocation"
	"github.com/erpgate/erpgate/store"
)

// failingBackend is the whole store with its revocation writes failing
// while the matching switch is set: a database that takes reads and
// refuses writes (disk full, read-only replica, lost primary).
type failingBackend struct {
	store.Backend
	failJTI    atomic.Bool // Revoke: the access-token revocation list
	failFamily atomic.Bool // RevokeRefreshFamily and its kin
}

func (f *failingBackend) Revoke(ctx context.Context, jti string, expiresAt, now time.Time) error {
	if f.failJTI.Load() {
		return errStoreDown
	}
	return f.Backend.Revoke(ctx, jti, expiresAt, now)
}

func (f *failingBackend) RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) ([]store.IssuedToken, error) {
	if f.failFamily.Load() {
		return nil, errStoreDown
	}
	return f.Backend.RevokeRefreshFamily(ctx, familyID, now)
}

func (f *failingBackend) RevokeSessionRefreshTokens(ctx context.Context, sid string, now time.Time) ([]store.IssuedToken, error) {
	if f.failFamily.Load() {
		return nil, errStoreDown
	}
	return f.Backend.RevokeSessionRefreshTokens(ctx, sid, now)
}

func (f *failingBackend) RevokeSubjectRefreshTokens(ctx context.Context, subject string, now time.Time) ([]store.IssuedToken, error) {
	if f.failFamily.Load() {
		return nil, errStoreDown
	}
	return f.Backend.RevokeSubjectRefreshTokens(ctx, subject, now)
}

// newFailingStoreServer wires the issuer's grants and revocation list
// over a failingBackend around the test server's memory store.
func newFailingStoreServer(t *testing.T) (*testServer, *failingBackend) {
	t.Helper()
	var fb *failingBackend
	ts := newTestServer(t, func(c *testConfig) {
		fb = &failingBackend{Backend: c.store}
		c.RefreshTokens = fb
		list, err := revocation.Open(context.Background(), fb, c.Clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		c.Revocations = list
	})
	return ts, fb
}

func (ts *testServer) revoke(t *testing.T, id, secret, tok string) tokenResult {
	t.Helper()
	rec := ts.clientCall("/connect/revocation", "192.0.2.1:1", id, secret, url.Values{"token": {tok}})
	res := tokenResult{status: rec.Code, header: rec.Header()}
	if rec.Body.Len() > 0 {
		res.body = map[string]any{}
		_ = json.Unmarshal(rec.Body.Bytes(), &res.body)
	}
	return res
}

// RFC 7009 §2.2: "The authorization server responds with HTTP status
// code 200 if the token has been revoked successfully". Not stored is
// not revoked: 503 temporarily_unavailable (fosite's CVE-2020-15223 was
// a 200 for a revocation that silently failed), and the retry, once the
// store is back, finishes the work.
func TestRevocationAnswers200OnlyWhenStored(t *testing.T) {
	ctx := context.Background()
	ts, fb := newFailingStoreServer(t)
	login := func(t *testing.T) (at, rt string) {
		b := newBrowser(t, ts) // a fresh sign-in each time
		p := newPKCE()
		q := b.login(authzQuery(webID, webRedirect, "openid offline_access read", p), "alice", "alice-pw")
		tok := ts.exchange(t, webID, webSecret, codeForm(q.Get("code"), webRedirect, p.verifier))
		return tok.body["access_token"].(string), tok.body["refresh_token"].(string)
	}
	check503 := func(t *testing.T, res tokenResult, what string) {
		t.Helper()
		if res.status != http.StatusServiceUnavailable || res.body["error"] != "temporarily_unavailable" || res.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s with the store refusing writes: %d %v; want 503 temporarily_unavailable", what, res.status, res.body)
		}
	}
	revokedInStore := func(jti string) bool {
		ok, err := ts.store.Revoked(ctx, jti)
		return ok && err == nil
	}

	t.Run("access token", func(t *testing.T) {
		at, _ := login(t)
		jti := ts.accessClaims(t, at).ID
		fb.failJTI.Store(true)
		check503(t, ts.revoke(t, webID, webSecret, at), "revoking an access token")
		if revokedInStore(jti) {
			t.Fatal("revoked although the write failed")
		}
		fb.failJTI.Store(false)
		if res := ts.revoke(t, webID, webSecret, at); res.status != http.StatusOK || !revokedInStore(jti) {
			t.Fatalf("retry: %d, stored %v", res.status, revokedInStore(jti))
		}
	})

	t.Run("refresh token family", func(t *testing.T) {
		at, rt := login(t)
		fb.failFamily.Store(true)
		check503(t, ts.revoke(t, webID, webSecret, rt), "revoking a refresh token")
		if rtok, _ := ts.store.RefreshToken(ctx, hashToken(rt)); !rtok.RevokedAt.IsZero() {
			t.Fatal("family revoked although the write failed")
		}
		fb.failFamily.Store(false)
		if res := ts.revoke(t, webID, webSecret, rt); res.status != http.StatusOK {
			t.Fatalf("retry: %d %v", res.status, res.body)
		}
		if rtok, _ := ts.store.RefreshToken(ctx, hashToken(rt)); rtok.RevokedAt.IsZero() || !revokedInStore(ts.accessClaims(t, at).ID) {
			t.Fatal("retry did not revoke the family and its access token")
		}
	})

	// The family is stored as revoked but its access tokens cannot be:
	// still 503 (the access token would stay usable), and the retry
	// completes the list.
	t.Run("family stored, its access tokens not", func(t *testing.T) {
		at, rt := login(t)
		jti := ts.accessClaims(t, at).ID
		fb.failJTI.Store(true)
		check503(t, ts.revoke(t, webID, webSecret, rt), "revoking a refresh token whose access tokens cannot be revoked")
		if revokedInStore(jti) {
			t.Fatal("access token revoked although the write failed")
		}
		fb.failJTI.Store(false)
		if res := ts.revoke(t, webID, webSecret, rt); res.status != http.StatusOK || !revokedInStore(jti) {
			t.Fatalf("retry: %d, access token stored %v", res.status, revokedInStore(jti))
		}
	})

	t.Run("nothing to write is still 200", func(t *testing.T) {
		fb.failJTI.Store(true)
		fb.failFamily.Store(true)
		defer fb.failJTI.Store(false)
		defer fb.failFamily.Store(false)
		if res := ts.revoke(t, webID, webSecret, "unknown-token"); res.status != http.StatusOK {
			t.Fatalf("unknown token: %d; RFC 7009 §2.2 wants 200", res.status)
		}
	})
}
