package session_test

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/store"
)

// SetLicense (a reload of license.slots): more slots let a second
// session open at once; fewer than are open end nothing but refuse new
// sessions until enough ended. The gauge follows.
func TestSetLicenseSlots(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b.open(t), func(c *session.Config) { c.Slots = 1 })
			f.acquire(t, user("a", "sid-a"))
			if _, err := f.m.Acquire(t.Context(), user("b", "sid-b")); !errors.Is(err, session.ErrLicenseExhausted) {
				t.Fatalf("second session under 1 slot: %v, want ErrLicenseExhausted", err)
			}
			if err := f.m.SetLicense(2, nil); err != nil {
				t.Fatal(err)
			}
			if v := testutil.ToFloat64(f.metrics.LicenseLimit); v != 2 {
				t.Errorf("license_slots_limit = %v after SetLicense(2)", v)
			}
			f.acquire(t, user("b", "sid-b"))

			// Lowered below the two open: both go on, a third is refused,
			// and stays refused while the open ones are at the new cap.
			if err := f.m.SetLicense(1, nil); err != nil {
				t.Fatal(err)
			}
			f.acquire(t, user("a", "sid-a"))
			f.acquire(t, user("b", "sid-b"))
			if lic, err := f.m.License(t.Context()); err != nil || lic != (session.License{Used: 2, Total: 1}) {
				t.Fatalf("License over the cap = %+v, %v", lic, err)
			}
			if _, err := f.m.Acquire(t.Context(), user("c", "sid-c1")); !errors.Is(err, session.ErrLicenseExhausted) {
				t.Fatalf("new session over the lowered cap: %v, want ErrLicenseExhausted", err)
			}
			if _, err := f.m.End(t.Context(), "sid-a", store.EndAdmin); err != nil {
				t.Fatal(err)
			}
			if _, err := f.m.Acquire(t.Context(), user("c", "sid-c2")); !errors.Is(err, session.ErrLicenseExhausted) {
				t.Fatalf("new session at the lowered cap: %v, want ErrLicenseExhausted", err)
			}
			if _, err := f.m.End(t.Context(), "sid-b", store.EndAdmin); err != nil {
				t.Fatal(err)
			}
			f.acquire(t, user("c", "sid-c3"))
			if v := testutil.ToFloat64(f.metrics.LicenseLimit); v != 1 {
				t.Errorf("license_slots_limit = %v after SetLicense(1)", v)
			}
		})
	}
}

// SetLicense moving the reserved seat from a to b: a's open seat stays
// (StaleSeats reports it), a's next session is on a shared slot, b's
// next one takes b's seat.
func TestSetLicenseReserved(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b.open(t), func(c *session.Config) { c.Slots, c.Reserved = 3, []string{"a"} })
			if i := f.acquire(t, user("a", "sid-a1")); !i.Reserved {
				t.Fatalf("a's session = %+v, want a's seat", i)
			}
			if stale, err := f.m.StaleSeats(t.Context()); err != nil || len(stale) != 0 {
				t.Fatalf("StaleSeats before the change = %+v, %v", stale, err)
			}
			if err := f.m.SetLicense(3, []string{"b"}); err != nil {
				t.Fatal(err)
			}
			stale, err := f.m.StaleSeats(t.Context())
			if err != nil || len(stale) != 1 || stale[0].ID != "sid-a1" || stale[0].Subject != "a" {
				t.Fatalf("StaleSeats = %+v, %v; want a's open seat", stale, err)
			}
			if i := f.acquire(t, user("a", "sid-a2")); i.Reserved {
				t.Errorf("a's session after a lost the seat = %+v, want a shared slot", i)
			}
			if i := f.acquire(t, user("b", "sid-b1")); !i.Reserved {
				t.Errorf("b's session after b got the seat = %+v, want b's seat", i)
			}
			if lic, err := f.m.License(t.Context()); err != nil || lic != (session.License{Used: 3, Total: 3, Reserved: 1}) {
				t.Errorf("License = %+v, %v", lic, err)
			}
		})
	}
}

// SetLicense refuses what New refuses, and keeps the license it had.
func TestSetLicenseRefusesBadLicense(t *testing.T) {
	f := newFixture(t, memoryStore(t), func(c *session.Config) { c.Slots = 1 })
	for _, bad := range []struct {
		slots    int
		reserved []string
	}{{-1, nil}, {1, []string{"a", "b"}}, {2, []string{"a", "a"}}} {
		if err := f.m.SetLicense(bad.slots, bad.reserved); err == nil {
			t.Errorf("SetLicense(%d, %v) accepted", bad.slots, bad.reserved)
		}
	}
	f.acquire(t, user("a", "sid-a"))
	if _, err := f.m.Acquire(t.Context(), user("b", "sid-b")); !errors.Is(err, session.ErrLicenseExhausted) {
		t.Fatalf("after refused SetLicense calls the cap is not 1: %v", err)
	}
}
