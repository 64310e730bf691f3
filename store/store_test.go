package store_test

import (
	"testing"

	"github.com/erpgate/erpgate/store"
)

func TestLicenseAdmits(t *testing.T) {
	for _, tc := range []struct {
		name               string
		lic                store.License
		open, openReserved int
		seat               bool
		want               bool
	}{
		{"unlimited", store.License{}, 1000, 0, false, true},
		{"negative slots are unlimited", store.License{Slots: -1}, 5, 0, false, true},
		{"free slot", store.License{Slots: 2}, 1, 0, false, true},
		{"full", store.License{Slots: 2}, 2, 0, false, false},
		{"full for a seat too", store.License{Slots: 2, Reserved: 1}, 2, 1, true, false},
		{"reserved seat kept from others", store.License{Slots: 3, Reserved: 1}, 2, 0, false, false},
		{"reserved login takes its seat", store.License{Slots: 3, Reserved: 1}, 2, 0, true, true},
		{"seat with nothing open", store.License{Slots: 3, Reserved: 1}, 0, 0, true, true},
		{"seat holders leave the shared slots to others", store.License{Slots: 3, Reserved: 1}, 2, 2, false, true},
		// SPEC §5: N=3, reserved a and b. a's seat and a's second session
		// on the one shared slot: a third (shared) is refused, b's seat
		// is still free.
		{"shared slots full", store.License{Slots: 3, Reserved: 2}, 2, 1, false, false},
		{"the other login's seat", store.License{Slots: 3, Reserved: 2}, 2, 1, true, true},
		{"all reserved leaves nothing to others", store.License{Slots: 2, Reserved: 2}, 0, 0, false, false},
		{"more reserved than slots", store.License{Slots: 2, Reserved: 5}, 0, 0, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.lic.Admits(tc.open, tc.openReserved, tc.seat); got != tc.want {
				t.Errorf("%+v.Admits(%d, %d, %v) = %v, want %v",
					tc.lic, tc.open, tc.openReserved, tc.seat, got, tc.want)
			}
		})
	}
}

// "Reference tokens and sessions are independent: ending a reference
// token's session (idle, lifetime, an administrator freeing a slot) frees
// the slot, and the token's next call opens a new one" (SPEC §5).
func TestSessionReopenable(t *testing.T) {
	for _, tc := range []struct {
		id, kind, reason string
		want             bool
	}{
		{"sid-1", store.SessionUser, store.EndIdle, true},
		{"sid-1", store.SessionService, store.EndLifetime, true},
		{"sid-1", store.SessionUser, store.EndLogout, false},
		{"sid-1", store.SessionUser, store.EndAdmin, false},
		{"sid-1", store.SessionService, store.EndAppDisabled, false},
		{"sid-1", store.SessionUser, "", false},     // fails closed
		{"sid-1", store.SessionUser, "IDLE", false}, // exact values only
		{"sid-1", "", store.EndLogout, false},       // a tombstone
		{"sid-1", "", store.EndIdle, true},
		{"enrt-rt_1", store.SessionReference, store.EndIdle, true},
		{"enrt-rt_1", store.SessionReference, store.EndLifetime, true},
		{"enrt-rt_1", store.SessionReference, store.EndLogout, true},
		{"enrt-rt_1", store.SessionReference, store.EndAdmin, true},
		{"enrt-rt_1", store.SessionReference, store.EndAppDisabled, true},
		{"enrt-rt_1", store.SessionReference, "not-a-reason", true},
		{"enrt-rt_1", "", store.EndAdmin, true},                 // a reference token's tombstone
		{"enrt-rt_1", store.SessionUser, store.EndAdmin, false}, // the kind decides when known
		{"ENRT-rt_1", "", store.EndAdmin, false},
	} {
		s := store.Session{ID: tc.id, Kind: tc.kind, EndReason: tc.reason}
		if got := s.Reopenable(); got != tc.want {
			t.Errorf("Session{ID: %q, Kind: %q, EndReason: %q}.Reopenable() = %v, want %v",
				tc.id, tc.kind, tc.reason, got, tc.want)
		}
	}
}

func TestIsReferenceSessionID(t *testing.T) {
	for id, want := range map[string]bool{
		"enrt-rt_abc": true,
		"enrt-":       true,
		"enrt":        false,
		"sid-enrt-1":  false,
		"":            false,
	} {
		if got := store.IsReferenceSessionID(id); got != want {
			t.Errorf("IsReferenceSessionID(%q) = %v, want %v", id, got, want)
		}
	}
}
