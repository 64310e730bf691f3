package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/store"
)

// Errors of Acquire, End and Check; test with errors.Is.
var (
	// ErrEnded means the token's session was ended for good (logout, an
	// administrator, its app disabled; see store.Session.Reopenable): its
	// tokens are refused (401 invalid_token).
	ErrEnded = errors.New("session: ended by logout or an administrator")
	// ErrLicenseExhausted means no license slot is free for a new session
	// (ERP.net MaximumLicenseCountExceeded; 403).
	ErrLicenseExhausted = errors.New("session: no free license slot (MaximumLicenseCountExceeded)")
	// ErrNoSession means the token carries no sid, so no session can be
	// bound to it.
	ErrNoSession = errors.New("session: token has no sid")
	// ErrNotFound means End was given an unknown session id.
	ErrNotFound = errors.New("session: not found")
)

// Defaults of the Config fields that may be left zero.
const (
	DefaultFlushEvery = 5 * time.Second
	DefaultSyncEvery  = time.Second
	DefaultReapEvery  = 10 * time.Second
	DefaultCacheSize  = 100_000
)

// Timeouts of store work not bound to one request.
const (
	openTimeout       = 10 * time.Second // one OpenSession flight (with its reap)
	closeFlushTimeout = 5 * time.Second  // the last flush in Close
)

// Config configures a Manager; the gateway builds it from the config
// file (gateway/gateway.go).
type Config struct {
	// Store keeps the sessions and enforces the license cap.
	Store store.Sessions
	// IdleTimeout ends a session after this long without a call. Required.
	IdleTimeout time.Duration
	// ServiceMaxLifetime ends a client-credentials session this long after
	// it opened, however busy. Required.
	ServiceMaxLifetime time.Duration
	// Slots caps open sessions; 0 means unlimited.
	Slots int
	// Reserved are the principals (logins or system users) with a
	// reserved seat: each is guaranteed one of Slots for itself, and its
	// further sessions share the other Slots-len(Reserved) with everyone
	// (SPEC §5).
	Reserved []string
	// FlushEvery is how often Run writes last-seen times (default 5s).
	FlushEvery time.Duration
	// SyncEvery is how often Run reads the sessions other processes ended
	// (the CLI, other replicas, the identity server on logout), so their
	// tokens are refused within about that long (default 1s).
	SyncEvery time.Duration
	// ReapEvery is how often Run ends timed-out sessions (default 10s).
	ReapEvery time.Duration
	// CacheSize bounds the sessions kept in memory (default 100,000).
	CacheSize int

	Clock   func() time.Time
	Logger  *slog.Logger
	Audit   *audit.Logger // nil discards audit events
	Metrics *metrics.Metrics
}

// Info describes one session.
type Info struct {
	ID       string
	Subject  string // login or system user
	ClientID string // Trusted App that obtained the token
	Kind     string // store.SessionUser, store.SessionService or store.SessionReference
	Reserved bool   // holds its principal's reserved seat
	// NoSlot means no session was opened and no license slot is held:
	// the principal is a community user (SPEC §3, §5). ID, Subject,
	// ClientID and Kind are those of the token; the times are zero.
	NoSlot   bool
	OpenedAt time.Time
	// LastSeenAt is the latest call this process knows of (the store's
	// value may trail it by up to FlushEvery).
	LastSeenAt time.Time
	ExpiresAt  time.Time // hard end of a service session; zero for none
	EndedAt    time.Time // zero while open
	EndReason  string    // store.End* once ended
}

// License is the license use at one instant.
type License struct {
	Used      int  // slots held by open sessions
	Total     int  // configured slots; 0 with Unlimited
	Reserved  int  // slots kept for reserved principals
	Free      int  // Total - Used (reserved seats included); 0 with Unlimited
	Unlimited bool // license.slots is 0
}

// Manager opens, reuses and ends sessions; see the package doc. It is
// safe for concurrent use.
type Manager struct {
	cfg Config
	// license is the cap and the reserved logins, swapped whole by
	// SetLicense (license.go); each open loads it once.
	license atomic.Pointer[licenseState]

	mu    sync.RWMutex
	cache map[string]*entry

	fmu     sync.Mutex
	flights map[string]*flight

	evMu    sync.Mutex
	evicted map[string]int64 // unwritten last-seen times of evicted entries

	flushMu sync.Mutex // one flush at a time
	reapMu  sync.Mutex // one reap at a time

	syncMu   sync.Mutex
	syncedAt time.Time // clock time of the last SyncEnded

	// gaugeMu makes each change of the store's open sessions and the
	// matching gauge update one step as SyncGauges sees it: open, End
	// and Reap hold it shared around their store call and Inc or Dec;
	// SyncGauges holds it exclusively around Usage and Set. Without it a
	// Set landing between a commit and its Inc counts that session twice
	// until the next sync. It is never held across a call that takes it
	// again (a read lock is not reentrant once a writer waits).
	gaugeMu sync.RWMutex

	peeks peeks // store answers for sessions asked about, not opened

	ends endListeners // OnEnd (ended.go)

	runMu  sync.Mutex
	closed bool
	stop   chan struct{}
	runs   sync.WaitGroup
}

// flight is one OpenSession in progress for a sid.
type flight struct {
	done chan struct{}
	info Info
	err  error
}

// New returns a Manager. Start its loop with Run and Close it on shutdown.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil || cfg.Clock == nil || cfg.Logger == nil || cfg.Metrics == nil {
		return nil, errors.New("session: Store, Clock, Logger and Metrics are required")
	}
	if cfg.IdleTimeout <= 0 || cfg.ServiceMaxLifetime <= 0 {
		return nil, errors.New("session: IdleTimeout and ServiceMaxLifetime must be positive")
	}
	lic, err := newLicenseState(cfg.Slots, cfg.Reserved) // license.go
	if err != nil {
		return nil, err
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = DefaultFlushEvery
	}
	if cfg.SyncEvery <= 0 {
		cfg.SyncEvery = DefaultSyncEvery
	}
	if cfg.ReapEvery <= 0 {
		cfg.ReapEvery = DefaultReapEvery
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	m := &Manager{
		cfg:     cfg,
		cache:   make(map[string]*entry),
		flights: make(map[string]*flight),
		evicted: make(map[string]int64),
		stop:    make(chan struct{}),
	}
	m.license.Store(lic)
	cfg.Metrics.LicenseLimit.Set(float64(cfg.Slots))
	return m, nil
}

// Acquire returns the open session of c's sid, opening it (and taking a
// license slot) on the token's first call, and slides its idle timer.
// For a community user it opens nothing (see acquireCommunity).
// Errors: ErrEnded, ErrLicenseExhausted, ErrNoSession, or a store error.
func (m *Manager) Acquire(ctx context.Context, c *claims.Access) (Info, error) {
	if c.SessionID == "" {
		return Info{}, ErrNoSession
	}
	if communityUser(c.PrincipalType()) {
		return m.acquireCommunity(ctx, c)
	}
	now := m.cfg.Clock()
	if e := m.lookup(c.SessionID); e != nil {
		if e.ended {
			return Info{}, ErrEnded
		}
		if e.fresh(now, m.cfg.IdleTimeout) {
			e.touch(now)
			return e.info(), nil
		}
	}
	return m.acquireSlow(ctx, c)
}

// communityUser reports whether userType, a token's PrincipalType, is
// that of a community user (a customer or partner), who never takes a
// license slot (SPEC §3, §5). ERP.net calls the type
// "ExternalCommunityUser"; "community" is the value tokens carried
// before the claim took ERP.net's name, accepted while both may be met.
func communityUser(userType string) bool {
	return userType == "ExternalCommunityUser" || userType == "community"
}

// acquireCommunity is Acquire for a community user: no session is opened
// and no slot taken, so nothing is cached or touched either. The token
// is only refused (ErrEnded) when its sid was ended for good — by logout,
// say — judged as Session answers: the cache, then the kept store answer
// (kept current by every end this process makes or syncs), then the
// store. The steady state costs no store round trip.
func (m *Manager) acquireCommunity(ctx context.Context, c *claims.Access) (Info, error) {
	s, err := m.Session(ctx, c.SessionID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return Info{}, fmt.Errorf("session: acquire: %w", err)
	case !s.Open() && !s.Reopenable():
		return Info{}, ErrEnded
	}
	return Info{ID: c.SessionID, Subject: c.Principal(), ClientID: c.ClientID, Kind: kindOf(c), NoSlot: true}, nil
}

// acquireSlow runs open once per sid however many callers arrive
// together; the others wait for its result.
func (m *Manager) acquireSlow(ctx context.Context, c *claims.Access) (Info, error) {
	sid := c.SessionID
	m.fmu.Lock()
	if f, ok := m.flights[sid]; ok {
		m.fmu.Unlock()
		select {
		case <-f.done:
			return f.info, f.err
		case <-ctx.Done():
			return Info{}, ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	m.flights[sid] = f
	m.fmu.Unlock()

	// The flight serves every waiting caller, so one client going away
	// must not fail the others: detach it from the leader's cancellation.
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), openTimeout)
	f.info, f.err = m.open(octx, c)
	cancel()

	m.fmu.Lock()
	delete(m.flights, sid)
	m.fmu.Unlock()
	close(f.done)
	return f.info, f.err
}

// open finds or opens the session of c in the store.
func (m *Manager) open(ctx context.Context, c *claims.Access) (Info, error) {
	sid := c.SessionID
	now := m.cfg.Clock()
	if e := m.lookup(sid); e != nil {
		if e.ended {
			return Info{}, ErrEnded
		}
		if e.fresh(now, m.cfg.IdleTimeout) {
			// Opened by the flight just before this one.
			e.touch(now)
			return e.info(), nil
		}
		// Timed out in this process's view. Let the store end it, with
		// every call of this process written first: another replica may
		// have seen later calls, and then it stays open.
		if err := m.Reap(ctx); err != nil {
			return Info{}, err
		}
	}

	// One license for the seat asked and the cap, even across a
	// SetLicense.
	lic := m.license.Load()
	want := m.newSession(c, lic, now)
	m.gaugeMu.RLock()
	got, err := m.cfg.Store.OpenSession(ctx, want, lic.cap)
	// OpenSession returns an open session unchanged, so the session is
	// the one just opened when it carries this call's opening time.
	opened := err == nil && got.OpenedAt.UnixMilli() == want.OpenedAt.UnixMilli()
	if opened {
		m.cfg.Metrics.SessionsOpen.Inc()
		m.cfg.Metrics.LicenseUsed.Inc()
	}
	m.gaugeMu.RUnlock()
	switch {
	case errors.Is(err, store.ErrSessionEnded):
		// A reference token's session is never final (the store does not
		// answer so for one); should it, no tombstone would outlive it.
		if !store.IsReferenceSessionID(sid) {
			m.putTombstone(sid, "", c.Expiry)
		}
		return Info{}, ErrEnded
	case errors.Is(err, store.ErrLicenseExhausted):
		return Info{}, ErrLicenseExhausted
	case err != nil:
		return Info{}, fmt.Errorf("session: open: %w", err)
	}
	e := newEntry(got, now)
	m.put(e)
	if opened {
		m.audit(ctx, audit.SessionOpened, got, "")
	}
	return e.info(), nil
}

// newSession is the session c's first call opens at now. It asks for
// the principal's reserved seat when lic reserves one for the principal;
// the store grants it unless another open session of the principal
// holds it (store.Session.Reserved).
func (m *Manager) newSession(c *claims.Access, lic *licenseState, now time.Time) store.Session {
	s := store.Session{
		ID: c.SessionID, Subject: c.Principal(), ClientID: c.ClientID, Kind: kindOf(c),
		Reserved: lic.reserved[c.Principal()], OpenedAt: now, LastSeenAt: now,
	}
	if systemUser(c) {
		s.ExpiresAt = now.Add(m.cfg.ServiceMaxLifetime)
	}
	return s
}

// kindOf is the kind of the session c's calls open: a reference token's
// (its sid says so, see store.IsReferenceSessionID), else a system
// user's or a user's.
func kindOf(c *claims.Access) string {
	switch {
	case store.IsReferenceSessionID(c.SessionID):
		return store.SessionReference
	case systemUser(c):
		return store.SessionService
	}
	return store.SessionUser
}

// systemUser reports whether c acts for a system user (client
// credentials, or a service access token), whose sessions end
// ServiceMaxLifetime after they open.
func systemUser(c *claims.Access) bool { return c.Subject == "" && c.ClientSystemUser != "" }

// End ends the session id for reason: store.EndLogout, store.EndAdmin
// or store.EndAppDisabled (the timeouts are the reaper's, but are
// accepted too). Its tokens are refused at once in this process and
// within SyncEvery in others, unless the session is Reopenable (a
// reference token's: its next call opens a new session). Ending an
// ended session is not an error and keeps its first reason.
//
// For EndAdmin an unknown id is ErrNotFound (an administrator picks from
// List). For EndLogout the store records an ended tombstone, so a token
// whose session no call had opened yet is still refused afterwards.
func (m *Manager) End(ctx context.Context, id, reason string) (Info, error) {
	switch reason {
	case store.EndLogout, store.EndAdmin, store.EndAppDisabled, store.EndAccessWithdrawn, store.EndIdle, store.EndLifetime:
	default:
		return Info{}, fmt.Errorf("session: unknown end reason %q", reason)
	}
	if reason == store.EndAdmin {
		if _, err := m.cfg.Store.Session(ctx, id); errors.Is(err, store.ErrNotFound) {
			return Info{}, ErrNotFound
		} else if err != nil {
			return Info{}, fmt.Errorf("session: end: %w", err)
		}
	}
	now := m.cfg.Clock()
	m.gaugeMu.RLock()
	s, err := m.cfg.Store.EndSession(ctx, id, reason, now)
	// EndSession returns an ended session unchanged, so this call ended
	// it when it carries this call's reason and time; a tombstone (empty
	// Subject) held no slot.
	wrote := err == nil && s.EndReason == reason && s.EndedAt.UnixMilli() == now.UnixMilli()
	ended := wrote && s.Subject != ""
	if ended {
		m.cfg.Metrics.SessionsOpen.Dec()
		m.cfg.Metrics.LicenseUsed.Dec()
	}
	m.gaugeMu.RUnlock()
	if errors.Is(err, store.ErrNotFound) {
		return Info{}, ErrNotFound
	}
	if err != nil {
		return Info{}, fmt.Errorf("session: end: %w", err)
	}
	m.peeks.forget(id)
	if s.Reopenable() {
		m.dropID(id, s.OpenedAt)
	} else {
		m.putTombstone(id, s.EndReason, 0)
	}
	if ended {
		m.audit(ctx, audit.SessionEnded, s, s.EndReason)
	}
	if wrote {
		// A tombstone this call wrote is an end too: a logout before any
		// call opened the session held no slot, but its sign-in ended
		// (back-channel logout tells its apps).
		m.notifyEnd(ctx, Ended{Info: infoOf(s), Here: true})
	}
	return infoOf(s), nil
}

// Check returns ErrEnded if the session sid was ended for good (logout,
// an administrator, its app disabled; not a Reopenable end), without
// opening anything: for callers that accept a token but take no slot
// (the admin API).
func (m *Manager) Check(ctx context.Context, sid string) error {
	if sid == "" {
		return ErrNoSession
	}
	if e := m.lookup(sid); e != nil && e.ended {
		return ErrEnded
	}
	s, err := m.cfg.Store.Session(ctx, sid)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("session: check: %w", err)
	case !s.Open() && !s.Reopenable():
		return ErrEnded
	}
	return nil
}

// List returns the open sessions, oldest first, with the latest last-seen
// time this process knows.
func (m *Manager) List(ctx context.Context) ([]Info, error) {
	ss, err := m.cfg.Store.OpenSessions(ctx)
	if err != nil {
		return nil, fmt.Errorf("session: list: %w", err)
	}
	out := make([]Info, 0, len(ss))
	for _, s := range ss {
		info := infoOf(s)
		if e := m.lookup(s.ID); e != nil && !e.ended && e.s.OpenedAt.Equal(s.OpenedAt) {
			if seen := e.lastSeenAt(); seen.After(info.LastSeenAt) {
				info.LastSeenAt = seen
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// License reports how many slots are used and free.
func (m *Manager) License(ctx context.Context) (License, error) {
	u, err := m.cfg.Store.Usage(ctx)
	if err != nil {
		return License{}, fmt.Errorf("session: license: %w", err)
	}
	lic := m.license.Load().cap
	l := License{Used: u.Open, Total: lic.Slots, Reserved: lic.Reserved, Unlimited: lic.Slots == 0}
	if !l.Unlimited {
		l.Free = max(0, l.Total-l.Used)
	}
	return l, nil
}

// audit writes a session event for s.
func (m *Manager) audit(ctx context.Context, name string, s store.Session, reason string) {
	m.cfg.Audit.Log(ctx, audit.Event{
		Name: name, ClientID: s.ClientID, Subject: s.Subject, Session: s.ID,
		RequestID: requestid.From(ctx), Reason: reason,
		Attrs: []slog.Attr{slog.String("kind", s.Kind), slog.Bool("reserved", s.Reserved)},
	})
}

func infoOf(s store.Session) Info {
	return Info{
		ID: s.ID, Subject: s.Subject, ClientID: s.ClientID, Kind: s.Kind, Reserved: s.Reserved,
		OpenedAt: s.OpenedAt, LastSeenAt: s.LastSeenAt, ExpiresAt: s.ExpiresAt,
		EndedAt: s.EndedAt, EndReason: s.EndReason,
	}
}

// Session returns the session as this process knows it, for callers that
// only need to tell an ended session (introspection, userinfo): from the
// cache when it holds the session — kept current by the end sync, like
// the proxy's decisions — else from the store, whose answer is kept a
// while (see peeks) under the same end sync. A cached ended session
// comes back with EndReason EndAdmin when the exact reason is not cached
// (only final ends are kept as tombstones).
func (m *Manager) Session(ctx context.Context, id string) (store.Session, error) {
	if e := m.lookup(id); e != nil {
		if e.ended {
			s := e.s
			if s.EndReason == "" {
				s.EndReason = store.EndAdmin
			}
			if s.EndedAt.IsZero() {
				s.EndedAt = m.cfg.Clock()
			}
			return s, nil
		}
		return e.s, nil
	}
	now := m.cfg.Clock()
	if s, found, ok := m.peeks.get(id, now); ok {
		if !found {
			return store.Session{}, store.ErrNotFound
		}
		return s, nil
	}
	gen := m.peeks.generation()
	s, err := m.cfg.Store.Session(ctx, id)
	switch {
	case err == nil:
		m.peeks.put(id, s, true, gen, now)
	case errors.Is(err, store.ErrNotFound):
		m.peeks.put(id, store.Session{}, false, gen, now)
	}
	return s, err
}
