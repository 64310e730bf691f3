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
		reserved           bool
		want               bool
	}{
		{"unlimited", store.License{}, 1000, 0, false, true},
		{"negative slots are unlimited", store.License{Slots: -1}, 5, 0, false, true},
		{"free slot", store.License{Slots: 2}, 1, 0, false, true},
		{"full", store.License{Slots: 2}, 2, 0, false, false},
		{"full for reserved too", store.License{Slots: 2, Reserved: 1}, 2, 1, true, false},
		{"reserved seat kept from others", store.License{Slots: 3, Reserved: 1}, 2, 0, false, false},
		{"reserved takes its seat", store.License{Slots: 3, Reserved: 1}, 2, 0, true, true},
		{"reserved takes a shared slot", store.License{Slots: 3, Reserved: 1}, 0, 0, true, true},
		{"reserved holders leave shared slots to others", store.License{Slots: 3, Reserved: 1}, 2, 2, false, true},
		{"all reserved leaves nothing to others", store.License{Slots: 2, Reserved: 2}, 0, 0, false, false},
		{"more reserved than slots", store.License{Slots: 2, Reserved: 5}, 0, 0, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.lic.Admits(tc.open, tc.openReserved, tc.reserved); got != tc.want {
				t.Errorf("%+v.Admits(%d, %d, %v) = %v, want %v",
					tc.lic, tc.open, tc.openReserved, tc.reserved, got, tc.want)
			}
		})
	}
}

func TestReopenable(t *testing.T) {
	for reason, want := range map[string]bool{
		store.EndIdle:     true,
		store.EndLifetime: true,
		store.EndLogout:   false,
		store.EndAdmin:    false,
		"":                false, // fails closed
		"IDLE":            false,
	} {
		if got := store.Reopenable(reason); got != want {
			t.Errorf("Reopenable(%q) = %v, want %v", reason, got, want)
		}
	}
}
