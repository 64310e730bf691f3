package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

// race runs f(i) for i in [0,n) on n goroutines released together, so
// the calls overlap as much as the scheduler allows, and returns their
// results in order.
func race[T any](n int, f func(i int) T) []T {
	out := make([]T, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			out[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return out
}

type openResult struct {
	s   store.Session
	err error
}

func testConcurrency(t *testing.T, open opener) {
	// "concurrent first calls with one token open exactly one session."
	// With one slot, a backend that lets two callers both insert would
	// also have to refuse one of them.
	t.Run("OpenSameID", func(t *testing.T) {
		b := open(t)
		const n = 50
		res := race(n, func(i int) openResult {
			s, err := b.OpenSession(t.Context(), newSession("sid-1", at(time.Duration(i)*time.Millisecond)), oneSlot)
			return openResult{s, err}
		})
		stored := mustSession(t, b, "sid-1")
		for i, r := range res {
			if r.err != nil {
				t.Errorf("caller %d: OpenSession: %v", i, r.err)
				continue
			}
			checkSession(t, fmt.Sprintf("caller %d", i), r.s, stored)
		}
		if got := len(mustOpenSessions(t, b)); got != 1 {
			t.Fatalf("OpenSessions has %d sessions, want 1", got)
		}
	})

	// The license check and the insert are one step: 40 callers racing
	// for 5 slots get exactly 5 sessions.
	t.Run("OpenDistinctIDsAtCap", func(t *testing.T) {
		b := open(t)
		const n, slots = 40, 5
		lic := store.License{Slots: slots}
		res := race(n, func(i int) openResult {
			s, err := b.OpenSession(t.Context(), newSession(fmt.Sprintf("sid-%02d", i), at(time.Duration(i)*time.Millisecond)), lic)
			return openResult{s, err}
		})
		opened, exhausted := 0, 0
		for i, r := range res {
			switch {
			case r.err == nil:
				opened++
			case errors.Is(r.err, store.ErrLicenseExhausted):
				exhausted++
			default:
				t.Errorf("caller %d: OpenSession: %v", i, r.err)
			}
		}
		if opened != slots || exhausted != n-slots {
			t.Fatalf("%d opened and %d ErrLicenseExhausted, want %d and %d", opened, exhausted, slots, n-slots)
		}
		if got := len(mustOpenSessions(t, b)); got != slots {
			t.Fatalf("OpenSessions has %d sessions, want %d", got, slots)
		}
		if u, err := b.Usage(t.Context()); err != nil || u != (store.Usage{Open: slots}) {
			t.Fatalf("Usage = %+v, %v; want %d open", u, err, slots)
		}
	})

	// SPEC §5 under racing opens: with Slots 5 and logins a and b
	// reserved, 40 callers (15 of a, 5 of b, 20 other logins) get exactly
	// 5 sessions — a's seat, b's seat and the 3 shared slots — and no
	// login ever holds two seats.
	t.Run("ReservedSeatsAtCap", func(t *testing.T) {
		b := open(t)
		const n, slots = 40, 5
		lic := store.License{Slots: slots, Reserved: 2}
		res := race(n, func(i int) openResult {
			id, opened := fmt.Sprintf("sid-%02d", i), at(time.Duration(i)*time.Millisecond)
			var s store.Session
			switch i % 8 {
			case 0:
				s = reservedSession(id, "b", opened)
			case 1, 2, 3:
				s = reservedSession(id, "a", opened)
			default:
				s = newSession(id, opened)
			}
			got, err := b.OpenSession(t.Context(), s, lic)
			return openResult{got, err}
		})
		opened, exhausted := 0, 0
		for i, r := range res {
			switch {
			case r.err == nil:
				opened++
				checkSession(t, fmt.Sprintf("caller %d: returned as stored", i), r.s, mustSession(t, b, r.s.ID))
			case errors.Is(r.err, store.ErrLicenseExhausted):
				exhausted++
			default:
				t.Errorf("caller %d: OpenSession: %v", i, r.err)
			}
		}
		if opened != slots || exhausted != n-slots {
			t.Fatalf("%d opened and %d ErrLicenseExhausted, want %d and %d", opened, exhausted, slots, n-slots)
		}
		seats := map[string]int{}
		shared := 0
		for _, s := range mustOpenSessions(t, b) {
			if s.Reserved {
				seats[s.Subject]++
			} else {
				shared++
			}
		}
		if seats["a"] != 1 || seats["b"] != 1 || len(seats) != 2 || shared != slots-2 {
			t.Fatalf("seats held %v and %d shared, want one each for a and b and %d shared", seats, shared, slots-2)
		}
		checkUsage(t, b, "after the race", store.Usage{Open: slots, Reserved: 2})
	})

	// "a reserved seat is never given to another login": with the shared
	// slots full, of many racing callers only the reserved login gets
	// in, once, in its seat; and again after that session ends.
	t.Run("ReservedSeatKeptUnderRace", func(t *testing.T) {
		b := open(t)
		const n, rounds = 30, 3
		lic := store.License{Slots: 3, Reserved: 1}
		mustOpen(t, b, newSession("plain-1", at(0)), lic)
		mustOpen(t, b, newSession("plain-2", at(0)), lic)
		for round := range rounds {
			now := at(time.Duration(round) * time.Hour)
			res := race(n, func(i int) openResult {
				id := fmt.Sprintf("r%d-%02d", round, i)
				s := newSession(id, now)
				if i%3 == 0 {
					s = reservedSession(id, "vip", now)
				}
				got, err := b.OpenSession(t.Context(), s, lic)
				return openResult{got, err}
			})
			var in []store.Session
			for i, r := range res {
				switch {
				case r.err == nil:
					in = append(in, r.s)
				case !errors.Is(r.err, store.ErrLicenseExhausted):
					t.Fatalf("round %d: caller %d: OpenSession: %v", round, i, r.err)
				}
			}
			if len(in) != 1 || in[0].Subject != "vip" || !in[0].Reserved {
				t.Fatalf("round %d: opened %+v, want one session of vip in its seat", round, in)
			}
			checkUsage(t, b, fmt.Sprintf("round %d", round), store.Usage{Open: 3, Reserved: 1})
			if _, err := b.EndSession(t.Context(), in[0].ID, store.EndLogout, now.Add(time.Minute)); err != nil {
				t.Fatalf("EndSession: %v", err)
			}
		}
	})

	// Opens, ends and sweeps racing each other leave the counter equal to
	// a count of the open sessions: no change is counted twice or lost.
	t.Run("UsageUnderRacingChanges", func(t *testing.T) {
		b := open(t)
		const n = 30
		for i := range n {
			s := newSession(fmt.Sprintf("old-%02d", i), at(0))
			s.Reserved = i%3 == 0
			mustOpen(t, b, s, unlimited)
		}
		race(3*n, func(i int) error {
			id := fmt.Sprintf("old-%02d", i%n)
			var err error
			switch i / n {
			case 0: // a new session each
				s := newSession(fmt.Sprintf("new-%02d", i), at(time.Hour))
				s.Reserved = i%2 == 0
				_, err = b.OpenSession(t.Context(), s, unlimited)
			case 1: // the same old session ended by logout and by a sweep
				_, err = b.EndSession(t.Context(), id, store.EndLogout, at(time.Hour))
			default:
				_, err = b.EndStaleSessions(t.Context(), at(30*time.Minute), at(time.Hour))
			}
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
			}
			return err
		})
		var want store.Usage
		for _, s := range mustOpenSessions(t, b) {
			want.Open++
			if s.Reserved {
				want.Reserved++
			}
		}
		if want != (store.Usage{Open: n, Reserved: n / 2}) {
			t.Fatalf("OpenSessions counts %+v, want the %d new sessions", want, n)
		}
		if u, err := b.Usage(t.Context()); err != nil || u != want {
			t.Fatalf("Usage = %+v, %v; OpenSessions counts %+v", u, err, want)
		}
	})

	// "Of any number of concurrent calls for one code exactly one
	// succeeds"; every loser sees the winner's access token, so a replay
	// revokes the right one.
	t.Run("RedeemAuthCodeOnce", func(t *testing.T) {
		b := open(t)
		const n = 30
		mustSaveCode(t, b, testCode("h1"))
		type result struct {
			c   store.AuthCode
			err error
		}
		res := race(n, func(i int) result {
			c, err := b.RedeemAuthCode(t.Context(), "h1", at(time.Duration(i)*time.Millisecond),
				fmt.Sprintf("jti-%02d", i), at(time.Hour))
			return result{c, err}
		})
		winner := -1
		for i, r := range res {
			switch {
			case r.err == nil:
				if winner >= 0 {
					t.Fatalf("callers %d and %d both redeemed the code", winner, i)
				}
				winner = i
			case !errors.Is(r.err, store.ErrCodeReused):
				t.Fatalf("caller %d: RedeemAuthCode: %v", i, r.err)
			}
		}
		if winner < 0 {
			t.Fatal("no caller redeemed the code")
		}
		want := used(testCode("h1"), at(time.Duration(winner)*time.Millisecond), fmt.Sprintf("jti-%02d", winner), at(time.Hour))
		for i, r := range res {
			if i != winner {
				checkCode(t, fmt.Sprintf("caller %d", i), r.c, want)
			}
		}
	})

	// "Of any number of concurrent calls for one token exactly one
	// succeeds"; every loser gets the winner's Successor, and only the
	// winner's next token is stored.
	t.Run("RotateRefreshTokenOnce", func(t *testing.T) {
		b := open(t)
		const n = 30
		mustSaveRefresh(t, b, testRefresh("h1", "fam-1", at(0)))
		type result struct {
			rt  store.RefreshToken
			err error
		}
		next := func(i int) store.RefreshToken {
			return testRefresh(fmt.Sprintf("next-%02d", i), "fam-1", at(time.Minute))
		}
		res := race(n, func(i int) result {
			rt, err := b.RotateRefreshToken(t.Context(), "h1", at(time.Minute),
				[]byte(fmt.Sprintf("sealed-%02d", i)), next(i))
			return result{rt, err}
		})
		winner := -1
		for i, r := range res {
			switch {
			case r.err == nil:
				if winner >= 0 {
					t.Fatalf("callers %d and %d both rotated the token", winner, i)
				}
				winner = i
			case !errors.Is(r.err, store.ErrRotated):
				t.Fatalf("caller %d: RotateRefreshToken: %v", i, r.err)
			}
		}
		if winner < 0 {
			t.Fatal("no caller rotated the token")
		}
		stored := mustRefresh(t, b, "h1")
		if want := fmt.Sprintf("sealed-%02d", winner); string(stored.Successor) != want {
			t.Fatalf("stored Successor = %q, want the winner's %q", stored.Successor, want)
		}
		for i, r := range res {
			checkRefresh(t, fmt.Sprintf("caller %d", i), r.rt, stored)
			if i == winner {
				checkRefresh(t, "winner's next token", mustRefresh(t, b, next(i).Hash), next(i))
			} else {
				checkRefreshGone(t, b, next(i).Hash)
			}
		}
	})
}
