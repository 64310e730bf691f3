package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

var (
	unlimited = store.License{}
	oneSlot   = store.License{Slots: 1}
)

func testSessions(t *testing.T, open opener) {
	t.Run("OpenAndGet", func(t *testing.T) {
		b := open(t)
		// Every field set, in a zone other than UTC, to catch a backend
		// that drops a field or a time's instant.
		cet := time.FixedZone("CET", 3600)
		want := store.Session{
			ID:         "sid-1",
			Subject:    "svc-billing",
			ClientID:   "urn:app:billing",
			Kind:       store.SessionService,
			Reserved:   true,
			OpenedAt:   at(0).In(cet),
			LastSeenAt: at(time.Second).In(cet),
			ExpiresAt:  at(time.Hour).In(cet),
		}
		got := mustOpen(t, b, want, unlimited)
		checkSession(t, "OpenSession", got, want)
		if !got.Open() {
			t.Errorf("OpenSession returned an ended session: %+v", got)
		}
		checkSession(t, "Session", mustSession(t, b, "sid-1"), want)

		// ExpiresAt zero means none and must come back zero.
		plain := newSession("sid-2", at(0))
		checkSession(t, "OpenSession without ExpiresAt", mustOpen(t, b, plain, unlimited), plain)
		checkSession(t, "Session without ExpiresAt", mustSession(t, b, "sid-2"), plain)
	})

	// "Session returns the session with id, open or ended; ErrNotFound."
	t.Run("NotFound", func(t *testing.T) {
		b := open(t)
		if _, err := b.Session(t.Context(), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Session(unknown): err = %v, want ErrNotFound", err)
		}
	})

	// "If a session with s.ID is open it is returned unchanged."
	t.Run("OpenExistingReturnsItUnchanged", func(t *testing.T) {
		b := open(t)
		first := mustOpen(t, b, newSession("sid-1", at(0)), oneSlot)

		again := newSession("sid-1", at(time.Minute))
		again.Subject = "someone-else"
		again.ExpiresAt = at(time.Hour)
		// The license is full (one slot, taken by sid-1 itself): reusing
		// an open session must not need a second slot.
		got, err := b.OpenSession(t.Context(), again, oneSlot)
		if err != nil {
			t.Fatalf("OpenSession of an open id: %v", err)
		}
		checkSession(t, "OpenSession of an open id", got, first)
		checkSession(t, "stored session", mustSession(t, b, "sid-1"), first)
		if n := len(mustOpenSessions(t, b)); n != 1 {
			t.Fatalf("OpenSessions has %d sessions, want 1", n)
		}
	})

	// "If it ended and is Reopenable, it is reopened as a new session
	// with s's fields and times ... Otherwise (a final end)
	// ErrSessionEnded." For a user session only a timeout is not final.
	for _, tc := range []struct {
		reason  string
		wantErr error
	}{
		{store.EndIdle, nil},
		{store.EndLifetime, nil},
		{store.EndLogout, store.ErrSessionEnded},
		{store.EndAdmin, store.ErrSessionEnded},
		{store.EndAppDisabled, store.ErrSessionEnded},
		{"not-a-reason", store.ErrSessionEnded},
	} {
		t.Run("OpenAfterEnd/"+tc.reason, func(t *testing.T) {
			b := open(t)
			mustOpen(t, b, newSession("sid-1", at(0)), unlimited)
			ended, err := b.EndSession(t.Context(), "sid-1", tc.reason, at(time.Hour))
			if err != nil {
				t.Fatalf("EndSession: %v", err)
			}

			fresh := newSession("sid-1", at(2*time.Hour))
			fresh.ExpiresAt = at(3 * time.Hour)
			got, err := b.OpenSession(t.Context(), fresh, unlimited)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("OpenSession after %s: err = %v, want %v", tc.reason, err, tc.wantErr)
			}
			if tc.wantErr != nil {
				checkSession(t, "session still ended", mustSession(t, b, "sid-1"), ended)
				if n := len(mustOpenSessions(t, b)); n != 0 {
					t.Fatalf("OpenSessions has %d sessions, want 0", n)
				}
				return
			}
			checkSession(t, "reopened session", got, fresh)
			checkSession(t, "stored reopened session", mustSession(t, b, "sid-1"), fresh)
		})
	}

	// "Reference tokens and sessions are independent: ending a reference
	// token's session (idle, lifetime, an administrator freeing a slot)
	// frees the slot, and the token's next call opens a new one" (SPEC
	// §5): whatever the reason, a reference session reopens.
	for _, reason := range []string{store.EndIdle, store.EndLifetime, store.EndLogout, store.EndAdmin,
		store.EndAppDisabled, "not-a-reason"} {
		t.Run("ReferenceReopensAfterEnd/"+reason, func(t *testing.T) {
			b := open(t)
			mustOpen(t, b, referenceSession("enrt-rt_1", at(0)), oneSlot)
			ended, err := b.EndSession(t.Context(), "enrt-rt_1", reason, at(time.Hour))
			if err != nil {
				t.Fatalf("EndSession: %v", err)
			}
			if !ended.Reopenable() {
				t.Fatalf("ended reference session %+v is not Reopenable", ended)
			}
			// The end freed the slot at once.
			mustOpen(t, b, newSession("sid-2", at(time.Hour)), oneSlot)
			if _, err := b.OpenSession(t.Context(), referenceSession("enrt-rt_1", at(2*time.Hour)), oneSlot); !errors.Is(err, store.ErrLicenseExhausted) {
				t.Fatalf("reopen with no free slot: err = %v, want ErrLicenseExhausted", err)
			}
			checkSession(t, "refused reopen", mustSession(t, b, "enrt-rt_1"), ended)
			if _, err := b.EndSession(t.Context(), "sid-2", store.EndLogout, at(2*time.Hour)); err != nil {
				t.Fatalf("EndSession: %v", err)
			}

			fresh := referenceSession("enrt-rt_1", at(3*time.Hour))
			fresh.ExpiresAt = at(4 * time.Hour)
			checkSession(t, "reopened reference session", mustOpen(t, b, fresh, oneSlot), fresh)
			checkSession(t, "stored reopened reference session", mustSession(t, b, "enrt-rt_1"), fresh)
			if u, err := b.Usage(t.Context()); err != nil || u != (store.Usage{Open: 1}) {
				t.Fatalf("Usage = %+v, %v; want 1 open", u, err)
			}
		})
	}

	// Reopening after a timeout is a new session, so it needs a free slot.
	t.Run("ReopenNeedsSlot", func(t *testing.T) {
		b := open(t)
		mustOpen(t, b, newSession("sid-1", at(0)), oneSlot)
		if _, err := b.EndSession(t.Context(), "sid-1", store.EndIdle, at(time.Minute)); err != nil {
			t.Fatalf("EndSession: %v", err)
		}
		mustOpen(t, b, newSession("sid-2", at(2*time.Minute)), oneSlot)
		_, err := b.OpenSession(t.Context(), newSession("sid-1", at(3*time.Minute)), oneSlot)
		if !errors.Is(err, store.ErrLicenseExhausted) {
			t.Fatalf("reopen with no free slot: err = %v, want ErrLicenseExhausted", err)
		}
		if s := mustSession(t, b, "sid-1"); s.Open() || s.EndReason != store.EndIdle {
			t.Fatalf("refused reopen changed the session: %+v", s)
		}
	})

	// "If no slot is free, ErrLicenseExhausted."
	t.Run("LicenseExhausted", func(t *testing.T) {
		b := open(t)
		lic := store.License{Slots: 2}
		mustOpen(t, b, newSession("sid-1", at(0)), lic)
		mustOpen(t, b, newSession("sid-2", at(time.Second)), lic)
		_, err := b.OpenSession(t.Context(), newSession("sid-3", at(2*time.Second)), lic)
		if !errors.Is(err, store.ErrLicenseExhausted) {
			t.Fatalf("third session with Slots=2: err = %v, want ErrLicenseExhausted", err)
		}
		if _, err := b.Session(t.Context(), "sid-3"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("refused session was stored: Session err = %v, want ErrNotFound", err)
		}
		if n := len(mustOpenSessions(t, b)); n != 2 {
			t.Fatalf("OpenSessions has %d sessions, want 2", n)
		}
	})

	// SPEC §5: "each login in license.reserved is guaranteed one slot for
	// itself; its further sessions share the unreserved slots with
	// everyone; a reserved seat is never given to another login."
	// Slots 3, logins a and b reserved: two seats, one shared slot.
	t.Run("ReservedSeatPerLogin", func(t *testing.T) {
		b := open(t)
		lic := store.License{Slots: 3, Reserved: 2}
		a1 := mustOpen(t, b, reservedSession("a-1", "a", at(0)), lic)
		if !a1.Reserved {
			t.Fatalf("a's first session does not hold a's seat: %+v", a1)
		}
		// a's second session may not take b's seat: it gets the shared slot,
		// stored and returned with Reserved false.
		a2 := reservedSession("a-2", "a", at(time.Second))
		got := mustOpen(t, b, a2, lic)
		a2.Reserved = false
		checkSession(t, "a's second session (shared slot)", got, a2)
		checkSession(t, "stored a-2", mustSession(t, b, "a-2"), a2)
		if _, err := b.OpenSession(t.Context(), reservedSession("a-3", "a", at(2*time.Second)), lic); !errors.Is(err, store.ErrLicenseExhausted) {
			t.Fatalf("a's third session: err = %v, want ErrLicenseExhausted", err)
		}
		if _, err := b.OpenSession(t.Context(), newSession("c-1", at(3*time.Second)), lic); !errors.Is(err, store.ErrLicenseExhausted) {
			t.Fatalf("another login with only b's seat free: err = %v, want ErrLicenseExhausted", err)
		}
		for _, id := range []string{"a-3", "c-1"} {
			if _, err := b.Session(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("refused session %s was stored: Session err = %v, want ErrNotFound", id, err)
			}
		}
		if b1 := mustOpen(t, b, reservedSession("b-1", "b", at(4*time.Second)), lic); !b1.Reserved {
			t.Fatalf("b's session does not hold b's seat: %+v", b1)
		}
		checkUsage(t, b, "a's seat, a's shared session, b's seat", store.Usage{Open: 3, Reserved: 2})

		// "When a seat-holding session ends, the seat is free again for
		// that login's next session" — not for anyone else's.
		if _, err := b.EndSession(t.Context(), "a-1", store.EndLogout, at(time.Minute)); err != nil {
			t.Fatalf("EndSession: %v", err)
		}
		if _, err := b.OpenSession(t.Context(), newSession("c-2", at(2*time.Minute)), lic); !errors.Is(err, store.ErrLicenseExhausted) {
			t.Fatalf("another login in a's freed seat: err = %v, want ErrLicenseExhausted", err)
		}
		// Nor to the other reserved login, whose own seat is held.
		if _, err := b.OpenSession(t.Context(), reservedSession("b-2", "b", at(2*time.Minute)), lic); !errors.Is(err, store.ErrLicenseExhausted) {
			t.Fatalf("b's second session in a's freed seat: err = %v, want ErrLicenseExhausted", err)
		}
		if a4 := mustOpen(t, b, reservedSession("a-4", "a", at(3*time.Minute)), lic); !a4.Reserved {
			t.Fatalf("a's next session does not hold a's freed seat: %+v", a4)
		}
		checkUsage(t, b, "a's seat taken again", store.Usage{Open: 3, Reserved: 2})
	})

	// A reserved login holds at most one seat; its further sessions are
	// shared, and leave the others what is left of the shared slots.
	t.Run("ReservedLoginSharesTheRest", func(t *testing.T) {
		b := open(t)
		lic := store.License{Slots: 3, Reserved: 1}
		for i := range 2 {
			s := mustOpen(t, b, reservedSession(fmt.Sprintf("vip-%d", i), "vip", at(time.Duration(i)*time.Second)), lic)
			if s.Reserved != (i == 0) {
				t.Fatalf("vip's session %d: Reserved = %v, want %v", i, s.Reserved, i == 0)
			}
		}
		mustOpen(t, b, newSession("plain-1", at(5*time.Second)), lic)
		_, err := b.OpenSession(t.Context(), newSession("plain-2", at(6*time.Second)), lic)
		if !errors.Is(err, store.ErrLicenseExhausted) {
			t.Fatalf("fourth session with Slots=3: err = %v, want ErrLicenseExhausted", err)
		}
		checkUsage(t, b, "vip's seat and two shared", store.Usage{Open: 3, Reserved: 1})
	})

	// "a reserved seat is never given to another login": non-reserved
	// sessions fill the shared slots only.
	t.Run("ReservedSeatKeptFromOthers", func(t *testing.T) {
		b := open(t)
		lic := store.License{Slots: 3, Reserved: 1}
		mustOpen(t, b, newSession("plain-1", at(0)), lic)
		mustOpen(t, b, newSession("plain-2", at(time.Second)), lic)
		_, err := b.OpenSession(t.Context(), newSession("plain-3", at(2*time.Second)), lic)
		if !errors.Is(err, store.ErrLicenseExhausted) {
			t.Fatalf("non-reserved session in the reserved seat: err = %v, want ErrLicenseExhausted", err)
		}
		mustOpen(t, b, reservedSession("vip-1", "vip", at(3*time.Second)), lic)

		// All three slots are taken now; the reserved login is refused too.
		if _, err := b.OpenSession(t.Context(), reservedSession("vip-2", "vip", at(4*time.Second)), lic); !errors.Is(err, store.ErrLicenseExhausted) {
			t.Fatalf("reserved session with every slot taken: err = %v, want ErrLicenseExhausted", err)
		}
	})

	// A session reopened after a timeout asks for the seat again, and
	// gets it only if no other session of its login took it meanwhile.
	t.Run("ReopenAsksForSeatAgain", func(t *testing.T) {
		b := open(t)
		lic := store.License{Slots: 3, Reserved: 1}
		mustOpen(t, b, reservedSession("vip-1", "vip", at(0)), lic)
		if _, err := b.EndSession(t.Context(), "vip-1", store.EndIdle, at(time.Hour)); err != nil {
			t.Fatalf("EndSession: %v", err)
		}
		if s := mustOpen(t, b, reservedSession("vip-2", "vip", at(time.Hour)), lic); !s.Reserved {
			t.Fatalf("vip-2 did not get the freed seat: %+v", s)
		}
		if s := mustOpen(t, b, reservedSession("vip-1", "vip", at(2*time.Hour)), lic); s.Reserved || !s.Open() {
			t.Fatalf("vip-1 reopened = %+v, want open on a shared slot", s)
		}
		if _, err := b.EndSession(t.Context(), "vip-2", store.EndAdmin, at(3*time.Hour)); err != nil {
			t.Fatalf("EndSession: %v", err)
		}
		if _, err := b.EndSession(t.Context(), "vip-1", store.EndIdle, at(3*time.Hour)); err != nil {
			t.Fatalf("EndSession: %v", err)
		}
		if s := mustOpen(t, b, reservedSession("vip-1", "vip", at(4*time.Hour)), lic); !s.Reserved {
			t.Fatalf("vip-1 reopened with the seat free = %+v, want it to hold the seat", s)
		}
		checkUsage(t, b, "vip-1 holding the seat", store.Usage{Open: 1, Reserved: 1})
	})

	// "Slots caps open sessions; 0 means unlimited."
	t.Run("Unlimited", func(t *testing.T) {
		b := open(t)
		for i := range 25 {
			mustOpen(t, b, newSession(fmt.Sprintf("sid-%02d", i), at(time.Duration(i)*time.Second)), unlimited)
		}
		if n := len(mustOpenSessions(t, b)); n != 25 {
			t.Fatalf("OpenSessions has %d sessions, want 25", n)
		}
	})

	// "Ending frees the slot at once" (SPEC §5), whichever way it ends.
	t.Run("EndFreesSlot", func(t *testing.T) {
		b := open(t)
		mustOpen(t, b, newSession("sid-1", at(0)), oneSlot)
		if _, err := b.OpenSession(t.Context(), newSession("sid-2", at(time.Second)), oneSlot); !errors.Is(err, store.ErrLicenseExhausted) {
			t.Fatalf("second session with one slot: err = %v, want ErrLicenseExhausted", err)
		}
		if _, err := b.EndSession(t.Context(), "sid-1", store.EndLogout, at(time.Minute)); err != nil {
			t.Fatalf("EndSession: %v", err)
		}
		mustOpen(t, b, newSession("sid-2", at(2*time.Minute)), oneSlot)

		// And by EndStaleSessions.
		if _, err := b.EndStaleSessions(t.Context(), at(time.Hour), at(time.Hour)); err != nil {
			t.Fatalf("EndStaleSessions: %v", err)
		}
		mustOpen(t, b, newSession("sid-3", at(2*time.Hour)), oneSlot)
	})

	// "TouchSessions sets LastSeenAt for each open session in seen ...
	// Unknown or ended ids are ignored; LastSeenAt never moves backwards."
	t.Run("TouchSessions", func(t *testing.T) {
		b := open(t)
		forward := mustOpen(t, b, newSession("forward", at(0)), unlimited)
		back := newSession("back", at(0))
		back.LastSeenAt = at(10 * time.Minute)
		back = mustOpen(t, b, back, unlimited)
		untouched := mustOpen(t, b, newSession("untouched", at(0)), unlimited)
		mustOpen(t, b, newSession("ended", at(0)), unlimited)
		ended, err := b.EndSession(t.Context(), "ended", store.EndLogout, at(time.Minute))
		if err != nil {
			t.Fatalf("EndSession: %v", err)
		}

		if err := b.TouchSessions(t.Context(), map[string]time.Time{
			"forward": at(5 * time.Minute),
			"back":    at(5 * time.Minute),
			"ended":   at(5 * time.Minute),
			"unknown": at(5 * time.Minute),
		}); err != nil {
			t.Fatalf("TouchSessions: %v", err)
		}
		forward.LastSeenAt = at(5 * time.Minute)
		checkSession(t, "touched session", mustSession(t, b, "forward"), forward)
		checkSession(t, "session touched with an older time", mustSession(t, b, "back"), back)
		checkSession(t, "session not in the batch", mustSession(t, b, "untouched"), untouched)
		checkSession(t, "ended session", mustSession(t, b, "ended"), ended)
		if _, err := b.Session(t.Context(), "unknown"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("TouchSessions created an unknown id: Session err = %v", err)
		}

		if err := b.TouchSessions(t.Context(), nil); err != nil {
			t.Fatalf("TouchSessions(nil): %v", err)
		}
	})

	// "EndSession ends the session id at at for reason and returns it as
	// stored. Ending an ended session is not an error, changes nothing
	// and keeps the first reason and time."
	t.Run("EndSession", func(t *testing.T) {
		b := open(t)
		want := mustOpen(t, b, newSession("sid-1", at(0)), unlimited)
		want.EndedAt, want.EndReason = at(time.Minute), store.EndLogout

		got, err := b.EndSession(t.Context(), "sid-1", store.EndLogout, at(time.Minute))
		if err != nil {
			t.Fatalf("EndSession: %v", err)
		}
		checkSession(t, "EndSession", got, want)
		if got.Open() {
			t.Errorf("EndSession returned an open session")
		}
		checkSession(t, "ended session", mustSession(t, b, "sid-1"), want)
		if n := len(mustOpenSessions(t, b)); n != 0 {
			t.Fatalf("OpenSessions has %d sessions after EndSession, want 0", n)
		}

		got, err = b.EndSession(t.Context(), "sid-1", store.EndAdmin, at(time.Hour))
		if err != nil {
			t.Fatalf("EndSession of an ended session: %v", err)
		}
		checkSession(t, "second EndSession", got, want)
		checkSession(t, "session after second EndSession", mustSession(t, b, "sid-1"), want)
	})

	// "Ending an unknown id is not an error either: it records an ended
	// tombstone ... so a later OpenSession with that id gets
	// ErrSessionEnded unless the tombstone is Reopenable (a timeout, or a
	// reference token's sid)."
	for _, tc := range []struct {
		id, reason string
		wantErr    error
	}{
		{"sid-1", store.EndLogout, store.ErrSessionEnded},
		{"sid-1", store.EndAdmin, store.ErrSessionEnded},
		{"sid-1", store.EndAppDisabled, store.ErrSessionEnded},
		{"sid-1", store.EndIdle, nil},
		{"enrt-rt_1", store.EndAdmin, nil},
		{"enrt-rt_1", store.EndAppDisabled, nil},
	} {
		t.Run("EndUnknown/"+tc.id+"/"+tc.reason, func(t *testing.T) {
			b := open(t)
			tomb := store.Session{ID: tc.id, OpenedAt: at(time.Minute), LastSeenAt: at(time.Minute),
				EndedAt: at(time.Minute), EndReason: tc.reason}
			got, err := b.EndSession(t.Context(), tc.id, tc.reason, at(time.Minute))
			if err != nil {
				t.Fatalf("EndSession(unknown): %v", err)
			}
			checkSession(t, "EndSession(unknown)", got, tomb)
			checkSession(t, "stored tombstone", mustSession(t, b, tc.id), tomb)
			if n := len(mustOpenSessions(t, b)); n != 0 {
				t.Fatalf("OpenSessions has %d sessions after a tombstone, want 0", n)
			}

			// Ending it again keeps the tombstone as it is.
			got, err = b.EndSession(t.Context(), tc.id, store.EndAdmin, at(time.Hour))
			if err != nil {
				t.Fatalf("second EndSession: %v", err)
			}
			checkSession(t, "second EndSession", got, tomb)

			fresh := newSession(tc.id, at(2*time.Minute))
			got, err = b.OpenSession(t.Context(), fresh, oneSlot)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("OpenSession after a %s tombstone: err = %v, want %v", tc.reason, err, tc.wantErr)
			}
			if tc.wantErr != nil {
				checkSession(t, "tombstone after refused open", mustSession(t, b, tc.id), tomb)
				return
			}
			checkSession(t, "session opened over a tombstone", got, fresh)
		})
	}

	// "A tombstone holds no license slot."
	t.Run("TombstoneHoldsNoSlot", func(t *testing.T) {
		b := open(t)
		if _, err := b.EndSession(t.Context(), "gone", store.EndLogout, at(0)); err != nil {
			t.Fatalf("EndSession(unknown): %v", err)
		}
		mustOpen(t, b, newSession("sid-1", at(time.Second)), oneSlot)
	})

	// "EndStaleSessions ends every open session idle since before
	// idleBefore (reason EndIdle) or past its ExpiresAt at now (reason
	// EndLifetime), and returns the sessions it ended."
	t.Run("EndStaleSessions", func(t *testing.T) {
		b := open(t)
		now := at(time.Hour)
		idleBefore := now.Add(-20 * time.Minute)

		mk := func(id string, lastSeen, expires time.Time) store.Session {
			s := newSession(id, at(0))
			s.LastSeenAt, s.ExpiresAt = lastSeen, expires
			return mustOpen(t, b, s, unlimited)
		}
		var never time.Time
		active := mk("active", now.Add(-time.Minute), never)
		idle := mk("idle", idleBefore.Add(-time.Millisecond), never)
		// Seen exactly at idleBefore: not idle *since before* it.
		edge := mk("edge", idleBefore, never)
		expired := mk("expired", now.Add(-time.Minute), now.Add(-time.Millisecond))
		// ExpiresAt == now: the hard end is reached (like a JWT's exp).
		expiring := mk("expiring", now.Add(-time.Minute), now)
		live := mk("live", now.Add(-time.Minute), now.Add(time.Millisecond))
		// Both idle and expired: the hard limit is the reason given.
		both := mk("both", idleBefore.Add(-time.Minute), now.Add(-time.Minute))
		mk("gone", idleBefore.Add(-time.Hour), never)
		gone, err := b.EndSession(t.Context(), "gone", store.EndLogout, idleBefore)
		if err != nil {
			t.Fatalf("EndSession: %v", err)
		}

		got, err := b.EndStaleSessions(t.Context(), idleBefore, now)
		if err != nil {
			t.Fatalf("EndStaleSessions: %v", err)
		}
		end := func(s store.Session, reason string) store.Session {
			s.EndedAt, s.EndReason = now, reason
			return s
		}
		want := map[string]store.Session{
			"idle":     end(idle, store.EndIdle),
			"expired":  end(expired, store.EndLifetime),
			"expiring": end(expiring, store.EndLifetime),
			"both":     end(both, store.EndLifetime),
		}
		ids := sessionIDs(got)
		slices.Sort(ids)
		wantIDs := []string{"both", "expired", "expiring", "idle"}
		if !slices.Equal(ids, wantIDs) {
			t.Fatalf("EndStaleSessions ended %v, want %v", ids, wantIDs)
		}
		for _, s := range got {
			checkSession(t, "returned "+s.ID, s, want[s.ID])
			checkSession(t, "stored "+s.ID, mustSession(t, b, s.ID), want[s.ID])
		}
		for _, s := range []store.Session{active, edge, live, gone} {
			checkSession(t, "untouched "+s.ID, mustSession(t, b, s.ID), s)
		}

		got, err = b.EndStaleSessions(t.Context(), idleBefore, now)
		if err != nil {
			t.Fatalf("second EndStaleSessions: %v", err)
		}
		if len(got) != 0 {
			t.Fatalf("second EndStaleSessions ended %v again", sessionIDs(got))
		}
	})

	// "EndedSessionsSince returns the sessions whose EndedAt >= since,
	// whatever the reason (tombstones included), oldest EndedAt first
	// (ties by ID) ... A session reopened since it ended is open again
	// and not listed."
	t.Run("EndedSessionsSince", func(t *testing.T) {
		b := open(t)
		if got := mustEndedSince(t, b, time.Time{}); len(got) != 0 {
			t.Fatalf("EndedSessionsSince on an empty store = %v, want none", sessionIDs(got))
		}
		end := func(id, reason string, when time.Time) store.Session {
			t.Helper()
			s, err := b.EndSession(t.Context(), id, reason, when)
			if err != nil {
				t.Fatalf("EndSession(%s): %v", id, err)
			}
			return s
		}
		for _, id := range []string{"open", "b-admin", "a-logout", "c-idle", "reopened"} {
			mustOpen(t, b, newSession(id, at(0)), unlimited)
		}
		bAdmin := end("b-admin", store.EndAdmin, at(time.Minute))
		aLogout := end("a-logout", store.EndLogout, at(time.Minute))
		tomb := end("tomb", store.EndLogout, at(2*time.Minute))
		end("reopened", store.EndIdle, at(2*time.Minute))
		mustOpen(t, b, newSession("reopened", at(3*time.Minute)), unlimited)
		stale, err := b.EndStaleSessions(t.Context(), at(time.Hour), at(time.Hour))
		if err != nil {
			t.Fatalf("EndStaleSessions: %v", err)
		}
		if ids := sessionIDs(stale); !slices.Equal(ids, []string{"c-idle", "open", "reopened"}) {
			t.Fatalf("EndStaleSessions ended %v", ids)
		}
		// "open" and "reopened" ended by the sweep too; reopen "reopened"
		// once more so it is open when listed.
		mustOpen(t, b, newSession("reopened", at(2*time.Hour)), unlimited)
		cIdle, open := stale[0], stale[1]

		for _, tc := range []struct {
			name  string
			since time.Time
			want  []store.Session
		}{
			{"zero", time.Time{}, []store.Session{aLogout, bAdmin, tomb, cIdle, open}},
			{"at first end", at(time.Minute), []store.Session{aLogout, bAdmin, tomb, cIdle, open}},
			{"just after", at(time.Minute + time.Millisecond), []store.Session{tomb, cIdle, open}},
			{"at sweep", at(time.Hour), []store.Session{cIdle, open}},
			{"after all", at(time.Hour + time.Millisecond), nil},
		} {
			got := mustEndedSince(t, b, tc.since)
			if !slices.Equal(sessionIDs(got), sessionIDs(tc.want)) {
				t.Errorf("EndedSessionsSince(%s) = %v, want %v", tc.name, sessionIDs(got), sessionIDs(tc.want))
				continue
			}
			for i := range got {
				checkSession(t, "EndedSessionsSince "+got[i].ID, got[i], tc.want[i])
			}
		}
	})

	// "OpenSessions lists sessions still open, oldest first."
	// "Usage counts the open sessions, as OpenSession does": the kept
	// counter must agree with a count of OpenSessions after every kind of
	// change, reserved seats included.
	t.Run("UsageFollowsEveryChange", func(t *testing.T) {
		b := open(t)
		check := func(step string, want store.Usage) {
			t.Helper()
			checkUsage(t, b, step, want)
		}
		reserved := func(id string, opened time.Time, expires time.Time) store.Session {
			s := newSession(id, opened)
			s.Reserved, s.ExpiresAt = true, expires
			return s
		}
		check("empty", store.Usage{})

		mustOpen(t, b, newSession("a", at(0)), unlimited)
		mustOpen(t, b, newSession("b", at(0)), unlimited)
		mustOpen(t, b, reserved("r", at(0), at(10*time.Minute)), unlimited)
		check("three opened", store.Usage{Open: 3, Reserved: 1})

		mustOpen(t, b, newSession("a", at(time.Minute)), unlimited)
		check("an open one opened again", store.Usage{Open: 3, Reserved: 1})

		if _, err := b.EndSession(t.Context(), "a", store.EndLogout, at(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.EndSession(t.Context(), "a", store.EndAdmin, at(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		check("one ended, then ended again", store.Usage{Open: 2, Reserved: 1})

		if _, err := b.EndSession(t.Context(), "ghost", store.EndLogout, at(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		check("a tombstone", store.Usage{Open: 2, Reserved: 1})
		if _, err := b.OpenSession(t.Context(), newSession("ghost", at(3*time.Minute)), unlimited); !errors.Is(err, store.ErrSessionEnded) {
			t.Fatalf("OpenSession(tombstone): err = %v, want ErrSessionEnded", err)
		}
		check("a refused open", store.Usage{Open: 2, Reserved: 1})

		// b is idle at 30m, r past its hard end.
		if _, err := b.EndStaleSessions(t.Context(), at(20*time.Minute), at(30*time.Minute)); err != nil {
			t.Fatal(err)
		}
		check("both swept", store.Usage{})

		mustOpen(t, b, reserved("r", at(31*time.Minute), at(time.Hour)), unlimited)
		mustOpen(t, b, newSession("b", at(31*time.Minute)), unlimited)
		check("both reopened", store.Usage{Open: 2, Reserved: 1})

		full := store.License{Slots: 2}
		if _, err := b.OpenSession(t.Context(), newSession("c", at(32*time.Minute)), full); !errors.Is(err, store.ErrLicenseExhausted) {
			t.Fatalf("OpenSession at the cap: err = %v, want ErrLicenseExhausted", err)
		}
		check("an open refused at the cap", store.Usage{Open: 2, Reserved: 1})
	})

	t.Run("OpenSessionsOldestFirst", func(t *testing.T) {
		b := open(t)
		if n := len(mustOpenSessions(t, b)); n != 0 {
			t.Fatalf("OpenSessions on an empty store has %d sessions", n)
		}
		for _, tc := range []struct {
			id     string
			opened time.Duration
		}{
			{"c", 3 * time.Minute},
			{"a", 1 * time.Minute},
			{"ended", 2 * time.Minute},
			{"d", 4 * time.Minute},
			{"b", 90 * time.Second},
		} {
			mustOpen(t, b, newSession(tc.id, at(tc.opened)), unlimited)
		}
		if _, err := b.EndSession(t.Context(), "ended", store.EndAdmin, at(time.Hour)); err != nil {
			t.Fatalf("EndSession: %v", err)
		}
		got := mustOpenSessions(t, b)
		if want := []string{"a", "b", "c", "d"}; !slices.Equal(sessionIDs(got), want) {
			t.Fatalf("OpenSessions = %v, want %v", sessionIDs(got), want)
		}
		for _, s := range got {
			checkSession(t, "listed "+s.ID, s, mustSession(t, b, s.ID))
		}
	})
}

// referenceSession returns an open session of a reference token, opened
// and last seen at opened.
func referenceSession(id string, opened time.Time) store.Session {
	s := newSession(id, opened)
	s.Kind = store.SessionReference
	return s
}

// reservedSession returns an open session of subject asking for its
// reserved seat.
func reservedSession(id, subject string, opened time.Time) store.Session {
	s := newSession(id, opened)
	s.Subject, s.Reserved = subject, true
	return s
}

// checkUsage fails t unless Usage and a count of OpenSessions both say
// want.
func checkUsage(t *testing.T, b store.Backend, step string, want store.Usage) {
	t.Helper()
	got, err := b.Usage(t.Context())
	if err != nil {
		t.Fatalf("%s: Usage: %v", step, err)
	}
	var counted store.Usage
	for _, s := range mustOpenSessions(t, b) {
		counted.Open++
		if s.Reserved {
			counted.Reserved++
		}
	}
	if got != want || counted != want {
		t.Fatalf("%s: Usage = %+v, OpenSessions counts %+v, want %+v", step, got, counted, want)
	}
}

func mustEndedSince(t *testing.T, b store.Backend, since time.Time) []store.Session {
	t.Helper()
	got, err := b.EndedSessionsSince(t.Context(), since)
	if err != nil {
		t.Fatalf("EndedSessionsSince: %v", err)
	}
	return got
}
