package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

// RunTests runs the conformance suite against the backends newBackend
// returns. Every leaf subtest calls newBackend once and expects an empty
// store; RunTests closes it when the subtest ends. Subtests run one after
// another, so a backend that shares one database between calls only has
// to empty it in newBackend.
func RunTests(t *testing.T, newBackend func(t *testing.T) store.Backend) {
	open := closing(newBackend)
	t.Run("Keys", func(t *testing.T) { testKeys(t, open) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, open) })
	t.Run("Revocations", func(t *testing.T) { testRevocations(t, open) })
	t.Run("AuthCodes", func(t *testing.T) { testAuthCodes(t, open) })
	t.Run("RefreshTokens", func(t *testing.T) { testRefreshTokens(t, open) })
	t.Run("IdentitySessions", func(t *testing.T) { testIdentitySessions(t, open) })
	t.Run("Consents", func(t *testing.T) { testConsents(t, open) })
	t.Run("Apps", func(t *testing.T) { testApps(t, open) })
	t.Run("ReferenceTokens", func(t *testing.T) { testReferenceTokens(t, open) })
	t.Run("PasswordChanges", func(t *testing.T) { testPasswordChanges(t, open) })
	t.Run("Users", func(t *testing.T) { testUsers(t, open) })
	t.Run("PasswordResets", func(t *testing.T) { testPasswordResets(t, open) })
	t.Run("SessionClients", func(t *testing.T) { testSessionClients(t, open) })
	t.Run("FederatedLinks", func(t *testing.T) { testFederatedLinks(t, open) })
	t.Run("Factors", func(t *testing.T) { testFactors(t, open) })
	t.Run("Passkeys", func(t *testing.T) { testPasskeys(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open) })
	t.Run("Ping", func(t *testing.T) {
		if err := open(t).Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

// closing wraps newBackend so every backend it returns is closed when
// the subtest that opened it ends.
func closing(newBackend func(t *testing.T) store.Backend) opener {
	return func(t *testing.T) store.Backend {
		t.Helper()
		b := newBackend(t)
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return b
	}
}

type opener = func(t *testing.T) store.Backend

// t0 is the suite's "now". Its milliseconds are not zero so a backend
// that drops them (seconds precision) fails; it has no finer part so a
// backend that keeps milliseconds passes.
var t0 = time.Date(2025, time.March, 14, 9, 26, 53, 589_000_000, time.UTC)

// at returns t0+d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// newSession returns an open user session opened and last seen at opened.
func newSession(id string, opened time.Time) store.Session {
	return store.Session{
		ID:         id,
		Subject:    "user-" + id,
		ClientID:   "urn:app:test",
		Kind:       store.SessionUser,
		OpenedAt:   opened,
		LastSeenAt: opened,
	}
}

func mustOpen(t *testing.T, b store.Backend, s store.Session, lic store.License) store.Session {
	t.Helper()
	got, err := b.OpenSession(t.Context(), s, lic)
	if err != nil {
		t.Fatalf("OpenSession(%q): %v", s.ID, err)
	}
	return got
}

func mustSession(t *testing.T, b store.Backend, id string) store.Session {
	t.Helper()
	got, err := b.Session(t.Context(), id)
	if err != nil {
		t.Fatalf("Session(%q): %v", id, err)
	}
	return got
}

func mustOpenSessions(t *testing.T, b store.Backend) []store.Session {
	t.Helper()
	got, err := b.OpenSessions(t.Context())
	if err != nil {
		t.Fatalf("OpenSessions: %v", err)
	}
	return got
}

// checkSession fails t unless got and want agree field by field, times by
// time.Equal (backends may return another location).
func checkSession(t *testing.T, what string, got, want store.Session) {
	t.Helper()
	if got.ID != want.ID || got.Subject != want.Subject || got.ClientID != want.ClientID ||
		got.Kind != want.Kind || got.Reserved != want.Reserved || got.EndReason != want.EndReason ||
		!got.OpenedAt.Equal(want.OpenedAt) || !got.LastSeenAt.Equal(want.LastSeenAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || !got.EndedAt.Equal(want.EndedAt) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func checkKey(t *testing.T, what string, got, want store.SigningKey) {
	t.Helper()
	if got.ID != want.ID || got.Algorithm != want.Algorithm || !bytes.Equal(got.PrivateJWK, want.PrivateJWK) ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.RetireAt.Equal(want.RetireAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// sessionIDs returns the IDs of ss in order.
func sessionIDs(ss []store.Session) []string {
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return ids
}
