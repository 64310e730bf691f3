package session_test

import (
	"errors"
	"testing"
	"time"

	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/store"
)

// reference is the identity a reference token (PAT) of login acts with:
// its sid is "enrt-" + the token's id (reftoken claimsOf).
func reference(login, tokenID string) *claims.Access {
	c := user(login, "enrt-"+tokenID)
	c.Expiry = t0.Add(30 * 24 * time.Hour).Unix()
	return c
}

func community(login, sid, userType string) *claims.Access {
	c := user(login, sid)
	c.UserType = userType
	return c
}

// SPEC §5: "each login in license.reserved is guaranteed one slot for
// itself; its further sessions share the unreserved slots with everyone;
// a reserved seat is never given to another login."
func TestReservedSeatPerLogin(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b.open(t), func(c *session.Config) { c.Slots, c.Reserved = 3, []string{"a", "b"} })
			if i := f.acquire(t, user("a", "sid-a1")); !i.Reserved {
				t.Fatalf("a's first session = %+v, want it in a's seat", i)
			}
			if i := f.acquire(t, user("a", "sid-a2")); i.Reserved {
				t.Fatalf("a's second session = %+v, want it on the shared slot", i)
			}
			if s := f.stored(t, "sid-a2"); s.Reserved {
				t.Fatalf("stored a-2 = %+v, want it on the shared slot", s)
			}
			for _, c := range []*claims.Access{user("a", "sid-a3"), user("c", "sid-c1")} {
				if _, err := f.m.Acquire(t.Context(), c); !errors.Is(err, session.ErrLicenseExhausted) {
					t.Fatalf("Acquire(%s) with only b's seat free: %v, want ErrLicenseExhausted", c.SessionID, err)
				}
			}
			if i := f.acquire(t, user("b", "sid-b1")); !i.Reserved {
				t.Fatalf("b's session = %+v, want it in b's seat", i)
			}

			// Ending a's seat frees it for a's next session, not for c's.
			if _, err := f.m.End(t.Context(), "sid-a1", store.EndAdmin); err != nil {
				t.Fatal(err)
			}
			if _, err := f.m.Acquire(t.Context(), user("c", "sid-c2")); !errors.Is(err, session.ErrLicenseExhausted) {
				t.Fatalf("another login in a's freed seat: %v, want ErrLicenseExhausted", err)
			}
			if i := f.acquire(t, user("a", "sid-a4")); !i.Reserved {
				t.Fatalf("a's next session = %+v, want it in a's seat", i)
			}
			if lic, err := f.m.License(t.Context()); err != nil || lic != (session.License{Used: 3, Total: 3, Reserved: 2}) {
				t.Fatalf("License = %+v, %v", lic, err)
			}
		})
	}
}

// SPEC §5: "ending a reference token's session (idle, lifetime, an
// administrator freeing a slot) frees the slot, and the token's next call
// opens a new one; only revocation, expiry or the app's kill switch end
// the token itself" — the latter are the reference-token service's to
// refuse, so however its session ended the manager opens a new one.
func TestReferenceSessionIndependentOfToken(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			backend := b.open(t)
			f := newFixture(t, backend, func(c *session.Config) { c.Slots = 1 })
			pat := reference("alice", "rt_1")
			if i := f.acquire(t, pat); i.Kind != store.SessionReference || i.Subject != "alice" || !i.ExpiresAt.IsZero() {
				t.Fatalf("reference session = %+v", i)
			}

			step := time.Duration(0)
			reopen := func(what string) {
				t.Helper()
				step += time.Minute
				f.clock.Set(t0.Add(step))
				if err := f.m.Check(t.Context(), pat.SessionID); err != nil {
					t.Fatalf("%s: Check: %v, want nil", what, err)
				}
				i, err := f.m.Acquire(t.Context(), pat)
				if err != nil || !i.OpenedAt.Equal(t0.Add(step)) || i.Kind != store.SessionReference {
					t.Fatalf("%s: Acquire = %+v, %v; want a new reference session opened now", what, i, err)
				}
				if s := f.stored(t, pat.SessionID); !s.Open() {
					t.Fatalf("%s: stored %+v, want open", what, s)
				}
			}

			// Ended here, by an administrator freeing the slot or the
			// app's kill switch: the slot is free at once, and the token
			// takes it again on its next call.
			for _, reason := range []string{store.EndAdmin, store.EndAppDisabled, store.EndLogout} {
				if _, err := f.m.End(t.Context(), pat.SessionID, reason); err != nil {
					t.Fatalf("End(%s): %v", reason, err)
				}
				if lic, err := f.m.License(t.Context()); err != nil || lic.Used != 0 {
					t.Fatalf("License after End(%s) = %+v, %v; want the slot free", reason, lic, err)
				}
				reopen("after End " + reason)
			}

			// Ended by another process (the CLI), learnt by SyncEnded.
			if _, err := backend.EndSession(t.Context(), pat.SessionID, store.EndAdmin, t0.Add(step)); err != nil {
				t.Fatal(err)
			}
			if err := f.m.SyncEnded(t.Context()); err != nil {
				t.Fatal(err)
			}
			reopen("after an end elsewhere")

			// Ended before its first call (a tombstone with no kind).
			if _, err := f.m.End(t.Context(), "enrt-rt_2", store.EndLogout); err != nil {
				t.Fatal(err)
			}
			if _, err := f.m.End(t.Context(), pat.SessionID, store.EndIdle); err != nil {
				t.Fatal(err)
			}
			if _, err := f.m.Acquire(t.Context(), reference("alice", "rt_2")); err != nil {
				t.Fatalf("Acquire of a reference token whose sid was ended before its first call: %v", err)
			}

			// A user session ended for the app's kill switch stays ended.
			if _, err := f.m.End(t.Context(), "enrt-rt_2", store.EndAdmin); err != nil {
				t.Fatal(err)
			}
			f.acquire(t, user("bob", "sid-bob"))
			if _, err := f.m.End(t.Context(), "sid-bob", store.EndAppDisabled); err != nil {
				t.Fatal(err)
			}
			if _, err := f.m.Acquire(t.Context(), user("bob", "sid-bob")); !errors.Is(err, session.ErrEnded) {
				t.Fatalf("Acquire after app_disabled of a user session: %v, want ErrEnded", err)
			}
		})
	}
}

// A service access token's session is a reference session with a
// service session's lifetime.
func TestServiceReferenceSession(t *testing.T) {
	f := newFixture(t, memoryStore(t), nil)
	sat := service("svc-sync", "enrt-rt_s")
	if i := f.acquire(t, sat); i.Kind != store.SessionReference || i.Subject != "svc-sync" || !i.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("service reference session = %+v", i)
	}
}

// SPEC §3, §5: "community users never take a license slot". Their calls
// open no session; only a sid ended for good refuses them.
func TestCommunityUsersTakeNoSlot(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			backend := b.open(t)
			f := newFixture(t, backend, func(c *session.Config) { c.Slots = 1 })
			f.acquire(t, user("alice", "sid-alice")) // the only slot
			for _, userType := range []string{"ExternalCommunityUser", "community"} {
				sid := "sid-" + userType
				c := community("carol", sid, userType)
				i := f.acquire(t, c)
				if !i.NoSlot || i.ID != sid || i.Subject != "carol" || i.Kind != store.SessionUser || i.Reserved {
					t.Fatalf("%s: Acquire = %+v, want no slot held", userType, i)
				}
				if _, err := backend.Session(t.Context(), sid); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("%s: a session was stored: %v", userType, err)
				}
				before := f.store.calls()
				for range 5 {
					f.acquire(t, c)
				}
				if n := f.store.calls() - before; n != 0 {
					t.Errorf("%s: repeated calls made %d store calls, want 0", userType, n)
				}
			}
			if lic, err := f.m.License(t.Context()); err != nil || lic.Used != 1 {
				t.Fatalf("License = %+v, %v; want only alice's slot used", lic, err)
			}
			if n := len(f.audit.events("session.opened")); n != 1 {
				t.Errorf("%d session.opened lines, want 1 (alice)", n)
			}

			// Logout here.
			carol := community("carol", "sid-ExternalCommunityUser", "ExternalCommunityUser")
			if _, err := f.m.End(t.Context(), carol.SessionID, store.EndLogout); err != nil {
				t.Fatal(err)
			}
			if _, err := f.m.Acquire(t.Context(), carol); !errors.Is(err, session.ErrEnded) {
				t.Fatalf("community Acquire after logout: %v, want ErrEnded", err)
			}
			// Logout by another process, learnt by SyncEnded.
			dave := community("dave", "sid-community", "community")
			f.acquire(t, dave) // the store's "not found" is kept now
			if _, err := backend.EndSession(t.Context(), dave.SessionID, store.EndLogout, t0); err != nil {
				t.Fatal(err)
			}
			if err := f.m.SyncEnded(t.Context()); err != nil {
				t.Fatal(err)
			}
			if _, err := f.m.Acquire(t.Context(), dave); !errors.Is(err, session.ErrEnded) {
				t.Fatalf("community Acquire after a logout elsewhere: %v, want ErrEnded", err)
			}
			// A timeout is not an end for good.
			erin := community("erin", "sid-erin", "community")
			if _, err := backend.EndSession(t.Context(), erin.SessionID, store.EndIdle, t0); err != nil {
				t.Fatal(err)
			}
			if i, err := f.m.Acquire(t.Context(), erin); err != nil || !i.NoSlot {
				t.Fatalf("community Acquire after an idle end = %+v, %v", i, err)
			}
			if _, err := f.m.Acquire(t.Context(), &claims.Access{Subject: "frank", UserType: "community"}); !errors.Is(err, session.ErrNoSession) {
				t.Fatalf("community Acquire without sid: %v, want ErrNoSession", err)
			}
		})
	}
}
