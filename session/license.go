package session

import (
	"context"
	"fmt"
	"slices"

	"github.com/erpgate/erpgate/store"
)

// licenseState is the license a Manager applies (SPEC §5): the cap the
// store enforces and the logins that have a reserved seat. It is
// immutable; SetLicense replaces it whole, so an open never meets the
// new cap with the old reserved list or the other way round.
type licenseState struct {
	cap      store.License
	reserved map[string]bool
}

// newLicenseState checks and builds the license of slots and reserved.
func newLicenseState(slots int, reserved []string) (*licenseState, error) {
	if slots < 0 || slots > 0 && len(reserved) > slots {
		return nil, fmt.Errorf("session: %d reserved seats do not fit %d slots", len(reserved), slots)
	}
	l := &licenseState{cap: store.License{Slots: slots, Reserved: len(reserved)}, reserved: make(map[string]bool, len(reserved))}
	for _, p := range reserved {
		if l.reserved[p] {
			return nil, fmt.Errorf("session: %q is reserved twice", p)
		}
		l.reserved[p] = true
	}
	return l, nil
}

// SetLicense makes slots and reserved (Config.Slots and Config.Reserved)
// the license of every session opened from now on, at once and as one
// change; the license_slots_limit gauge follows. It is what a config
// reload calls.
//
// It ends no session. The cap is judged when a session opens (the
// store's OpenSession, store.License.Admits), so with fewer slots than
// open sessions every new open is refused (ErrLicenseExhausted) until
// enough of them ended; sessions already open carry on and refresh as
// before. A session holding a reserved seat keeps it until it ends, even
// if its login is no longer reserved (StaleSeats lists them); new
// sessions ask for seats by the new list. While such a session is open
// it still counts as a seat, so a newly reserved login's seat is
// guaranteed only once it ended.
//
// Every process applying a license must be given the same one: each
// passes its own cap to the store (with replicas, each replica's config
// file).
func (m *Manager) SetLicense(slots int, reserved []string) error {
	l, err := newLicenseState(slots, reserved)
	if err != nil {
		return err
	}
	m.license.Store(l)
	m.cfg.Metrics.LicenseLimit.Set(float64(slots))
	return nil
}

// StaleSeats returns the open sessions that hold a reserved seat for a
// login the license no longer reserves (after a SetLicense), oldest
// first: each keeps its seat until it ends.
func (m *Manager) StaleSeats(ctx context.Context) ([]Info, error) {
	open, err := m.List(ctx)
	if err != nil {
		return nil, err
	}
	reserved := m.license.Load().reserved
	return slices.DeleteFunc(open, func(i Info) bool { return !i.Reserved || reserved[i.Subject] }), nil
}
