package session_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
	"github.com/erpgate/erpgate/store/sqlite"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable clock, safe for the manager's goroutines.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// counting wraps a store and counts the calls the manager makes.
type counting struct {
	store.Sessions
	open, get, touch, list, ended atomic.Int64
	delay                         time.Duration // added to OpenSession
}

func (c *counting) OpenSession(ctx context.Context, s store.Session, l store.License) (store.Session, error) {
	c.open.Add(1)
	time.Sleep(c.delay)
	return c.Sessions.OpenSession(ctx, s, l)
}

func (c *counting) Session(ctx context.Context, id string) (store.Session, error) {
	c.get.Add(1)
	return c.Sessions.Session(ctx, id)
}

func (c *counting) TouchSessions(ctx context.Context, seen map[string]time.Time) error {
	c.touch.Add(1)
	return c.Sessions.TouchSessions(ctx, seen)
}

func (c *counting) OpenSessions(ctx context.Context) ([]store.Session, error) {
	c.list.Add(1)
	return c.Sessions.OpenSessions(ctx)
}

func (c *counting) EndedSessionsSince(ctx context.Context, since time.Time) ([]store.Session, error) {
	c.ended.Add(1)
	return c.Sessions.EndedSessionsSince(ctx, since)
}

// calls is every counted call so far.
func (c *counting) calls() int64 {
	return c.open.Load() + c.get.Load() + c.touch.Load() + c.list.Load() + c.ended.Load()
}

// syncBuffer collects audit lines from concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// events returns the audit lines whose event is name (and reason, if
// given).
func (s *syncBuffer) events(name string, reason ...string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["event"] != name {
			continue
		}
		if len(reason) > 0 && m["reason"] != reason[0] {
			continue
		}
		out = append(out, m)
	}
	return out
}

type fixture struct {
	m       *session.Manager
	store   *counting
	clock   *clock
	audit   *syncBuffer
	metrics *metrics.Metrics
}

func newFixture(t testing.TB, backend store.Sessions, mutate func(*session.Config)) *fixture {
	t.Helper()
	f := &fixture{store: &counting{Sessions: backend}, clock: &clock{now: t0}, audit: &syncBuffer{}}
	f.metrics = metrics.New(prometheus.NewRegistry(), metrics.Build{})
	cfg := session.Config{
		Store: f.store, IdleTimeout: 20 * time.Minute, ServiceMaxLifetime: time.Hour,
		Clock: f.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Audit: audit.New(slog.NewJSONHandler(f.audit, nil)), Metrics: f.metrics,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	m, err := session.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	f.m = m
	return f
}

func memoryStore(t *testing.T) store.Sessions { return memory.New() }

func sqliteStore(t *testing.T) store.Sessions {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "erpgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var backends = []struct {
	name string
	open func(t *testing.T) store.Sessions
}{{"memory", memoryStore}, {"sqlite", sqliteStore}}

func user(login, sid string) *claims.Access {
	return &claims.Access{
		Expiry: t0.Add(time.Hour).Unix(), ID: "jti-" + sid, ClientID: "com.example/app",
		SessionID: sid, Subject: login, UserType: "internal",
	}
}

func service(systemUser, sid string) *claims.Access {
	return &claims.Access{
		Expiry: t0.Add(2 * time.Hour).Unix(), ID: "jti-" + sid, ClientID: "com.example/sync",
		SessionID: sid, ClientSystemUser: systemUser, ClientSystemUserType: "system",
	}
}

func (f *fixture) acquire(t *testing.T, c *claims.Access) session.Info {
	t.Helper()
	info, err := f.m.Acquire(t.Context(), c)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", c.SessionID, err)
	}
	return info
}

func (f *fixture) stored(t *testing.T, sid string) store.Session {
	t.Helper()
	s, err := f.store.Sessions.Session(t.Context(), sid)
	if err != nil {
		t.Fatalf("Session(%s): %v", sid, err)
	}
	return s
}

func TestOpensOnFirstCallAndBindsPrincipal(t *testing.T) {
	f := newFixture(t, memory.New(), func(c *session.Config) { c.Slots, c.Reserved = 5, []string{"svc-sync"} })
	u := f.acquire(t, user("alice", "sid-u"))
	if u.Kind != store.SessionUser || u.Subject != "alice" || u.ClientID != "com.example/app" || u.Reserved || !u.ExpiresAt.IsZero() || !u.OpenedAt.Equal(t0) {
		t.Errorf("user session = %+v", u)
	}
	s := f.acquire(t, service("svc-sync", "sid-s"))
	if s.Kind != store.SessionService || s.Subject != "svc-sync" || !s.Reserved || !s.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("service session = %+v", s)
	}
	if n := len(f.audit.events(audit.SessionOpened)); n != 2 {
		t.Errorf("%d session.opened lines, want 2", n)
	}
	ev := f.audit.events(audit.SessionOpened)[0]
	if ev["subject"] != "alice" || ev["client_id"] != "com.example/app" || ev["session"] != "sid-u" {
		t.Errorf("session.opened = %v", ev)
	}
	if g := testutil.ToFloat64(f.metrics.SessionsOpen); g != 2 {
		t.Errorf("sessions_open = %v, want 2", g)
	}
	if g := testutil.ToFloat64(f.metrics.LicenseLimit); g != 5 {
		t.Errorf("license_slots_limit = %v, want 5", g)
	}
	if _, err := f.m.Acquire(t.Context(), &claims.Access{ClientID: "x"}); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("Acquire without sid: %v, want ErrNoSession", err)
	}
}

// The hot path: a known session costs no store call, and sliding its idle
// timer costs one TouchSessions per flush, however many calls there were.
func TestTouchesAreCoalesced(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b.open(t), nil)
			c := user("alice", "sid-1")
			f.acquire(t, c)
			before := f.store.calls()
			var last time.Time
			for i := range 200 {
				last = t0.Add(time.Duration(i) * 20 * time.Millisecond)
				f.clock.Set(last)
				f.acquire(t, c)
			}
			if n := f.store.calls() - before; n != 0 {
				t.Fatalf("200 calls on an open session made %d store calls, want 0", n)
			}
			if err := f.m.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			if n := f.store.touch.Load(); n != 1 {
				t.Fatalf("TouchSessions called %d times for one flush window, want 1", n)
			}
			if got := f.stored(t, "sid-1").LastSeenAt; !got.Equal(last) {
				t.Errorf("stored LastSeenAt = %v, want %v", got, last)
			}
			// Nothing moved since: no write.
			if err := f.m.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			if n := f.store.touch.Load(); n != 1 {
				t.Errorf("an idle flush wrote again (%d TouchSessions)", n)
			}
		})
	}
}

// Concurrent first calls with one sid open exactly one session.
func TestConcurrentFirstCallsOpenOneSession(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b.open(t), func(c *session.Config) { c.Slots = 1 })
			f.store.delay = 20 * time.Millisecond // make the callers overlap
			c := user("alice", "sid-1")
			var wg sync.WaitGroup
			var failed atomic.Int64
			for range 50 {
				wg.Go(func() {
					if _, err := f.m.Acquire(context.Background(), c); err != nil {
						failed.Add(1)
					}
				})
			}
			wg.Wait()
			if failed.Load() != 0 {
				t.Errorf("%d of 50 concurrent first calls failed", failed.Load())
			}
			if n := f.store.open.Load(); n != 1 {
				t.Errorf("OpenSession called %d times, want 1", n)
			}
			if n := len(f.audit.events(audit.SessionOpened)); n != 1 {
				t.Errorf("%d session.opened lines, want 1", n)
			}
		})
	}
}

// Idle expiry is judged from the in-memory last-seen time: the reaper
// flushes before it reaps, so a session busy in this process is never
// ended, even though the store has not seen its calls yet.
func TestReaperFlushesBeforeReaping(t *testing.T) {
	f := newFixture(t, memory.New(), nil)
	c := user("alice", "sid-1")
	f.acquire(t, c)
	f.clock.Set(t0.Add(15 * time.Minute))
	f.acquire(t, c) // in memory only
	f.clock.Set(t0.Add(25 * time.Minute))
	if err := f.m.Reap(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := f.stored(t, "sid-1"); !s.Open() {
		t.Fatalf("session busy 10 minutes ago was reaped: %+v", s)
	}
	f.clock.Set(t0.Add(36 * time.Minute))
	if err := f.m.Reap(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := f.stored(t, "sid-1"); s.Open() || s.EndReason != store.EndIdle {
		t.Fatalf("session idle 21 minutes: %+v, want ended idle", s)
	}
	if ev := f.audit.events(audit.SessionEnded, store.EndIdle); len(ev) != 1 || ev[0]["session"] != "sid-1" || ev[0]["subject"] != "alice" {
		t.Errorf("session.ended idle lines = %v", ev)
	}
	if g := testutil.ToFloat64(f.metrics.LicenseUsed); g != 0 {
		t.Errorf("license_slots_used = %v after the reap, want 0", g)
	}
	// The token is still valid: its next call opens a new session.
	f.clock.Set(t0.Add(37 * time.Minute))
	if info := f.acquire(t, c); !info.OpenedAt.Equal(t0.Add(37 * time.Minute)) {
		t.Errorf("reopened session opened at %v", info.OpenedAt)
	}
}

// A session that looks timed out is ended by its next call, without
// waiting for the reaper, and a new one opened.
func TestStaleSessionReopensOnAccess(t *testing.T) {
	f := newFixture(t, memory.New(), nil)
	c := user("alice", "sid-1")
	f.acquire(t, c)
	f.clock.Set(t0.Add(21 * time.Minute))
	info := f.acquire(t, c)
	if !info.OpenedAt.Equal(t0.Add(21 * time.Minute)) {
		t.Fatalf("call after 21 idle minutes reused the old session: %+v", info)
	}
	if n := len(f.audit.events(audit.SessionEnded, store.EndIdle)); n != 1 {
		t.Errorf("%d session.ended idle lines, want 1", n)
	}
}

// Close writes the last-seen times not yet flushed.
func TestCloseFlushes(t *testing.T) {
	f := newFixture(t, memory.New(), nil)
	c := user("alice", "sid-1")
	f.acquire(t, c)
	f.clock.Set(t0.Add(3 * time.Minute))
	f.acquire(t, c)
	if err := f.m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := f.stored(t, "sid-1").LastSeenAt; !got.Equal(t0.Add(3 * time.Minute)) {
		t.Errorf("LastSeenAt after Close = %v", got)
	}
}

// Run notices a session ended by another process (the CLI writes the
// store directly) within a sync interval, and reaps idle sessions.
func TestRunSyncsEndsAndReaps(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			f := newFixture(t, st, func(c *session.Config) {
				c.SyncEvery, c.FlushEvery, c.ReapEvery = 10*time.Millisecond, 10*time.Millisecond, 10*time.Millisecond
			})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			go f.m.Run(ctx)

			alice, bob := user("alice", "sid-a"), user("bob", "sid-b")
			f.acquire(t, alice)
			f.acquire(t, bob)
			// Another process ends alice's session, stamped by its own clock.
			if _, err := st.EndSession(t.Context(), "sid-a", store.EndAdmin, t0); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the ended session to be refused", func() bool {
				_, err := f.m.Acquire(t.Context(), alice)
				return errors.Is(err, session.ErrEnded)
			})
			// Bob goes idle; the loop reaps him.
			f.clock.Set(t0.Add(21 * time.Minute))
			waitFor(t, "the idle session to be reaped", func() bool {
				s := f.stored(t, "sid-b")
				return !s.Open() && s.EndReason == store.EndIdle
			})
			waitFor(t, "the gauges to show no open session", func() bool {
				return testutil.ToFloat64(f.metrics.SessionsOpen) == 0 && testutil.ToFloat64(f.metrics.LicenseUsed) == 0
			})
		})
	}
}

// held wraps a store and holds one write (the method named op) after it
// committed, until release is closed: the window in which the gauges
// trail the store.
type held struct {
	store.Sessions
	op        string        // set before the write runs
	committed chan struct{} // closed once op committed
	release   chan struct{}
	once      sync.Once
}

func (h *held) hold(op string) {
	if op == h.op {
		h.once.Do(func() { close(h.committed); <-h.release })
	}
}

func (h *held) OpenSession(ctx context.Context, s store.Session, l store.License) (store.Session, error) {
	s, err := h.Sessions.OpenSession(ctx, s, l)
	h.hold("OpenSession")
	return s, err
}

func (h *held) EndSession(ctx context.Context, id, reason string, at time.Time) (store.Session, error) {
	s, err := h.Sessions.EndSession(ctx, id, reason, at)
	h.hold("EndSession")
	return s, err
}

func (h *held) EndStaleSessions(ctx context.Context, idleBefore, now time.Time) ([]store.Session, error) {
	ss, err := h.Sessions.EndStaleSessions(ctx, idleBefore, now)
	h.hold("EndStaleSessions")
	return ss, err
}

// TestGaugesMatchStoreAfterRacingSync runs SyncGauges while an open, an
// end or a reap has committed to the store but not yet moved the gauges:
// once both finish, the gauges must equal the store's count, not count
// that session twice (or not at all) until the next sync.
func TestGaugesMatchStoreAfterRacingSync(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   string // the store write held after its commit
		run  func(ctx context.Context, f *fixture) error
	}{
		{"open", "OpenSession", func(ctx context.Context, f *fixture) error {
			_, err := f.m.Acquire(ctx, service("svc-sync", "sid-b"))
			return err
		}},
		{"end", "EndSession", func(ctx context.Context, f *fixture) error {
			_, err := f.m.End(ctx, "sid-a", store.EndAdmin)
			return err
		}},
		{"reap", "EndStaleSessions", func(ctx context.Context, f *fixture) error {
			f.clock.Set(t0.Add(21 * time.Minute))
			return f.m.Reap(ctx)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			st := &held{Sessions: memory.New(), committed: make(chan struct{}), release: make(chan struct{})}
			f := newFixture(t, st, nil)
			f.acquire(t, user("alice", "sid-a"))
			st.op = tc.op

			errc := make(chan error, 1)
			go func() { errc <- tc.run(ctx, f) }()
			<-st.committed
			synced := make(chan struct{})
			go func() { f.m.SyncGauges(ctx); close(synced) }()
			// A sync that does not wait for the write finishes now, so
			// the write's own gauge update lands after it.
			select {
			case <-synced:
			case <-time.After(100 * time.Millisecond):
			}
			close(st.release)
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			<-synced

			u, err := st.Usage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			open, used := testutil.ToFloat64(f.metrics.SessionsOpen), testutil.ToFloat64(f.metrics.LicenseUsed)
			if open != float64(u.Open) || used != float64(u.Open) {
				t.Errorf("sessions_open = %v, license_used = %v; the store has %d open", open, used, u.Open)
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEnd(t *testing.T) {
	f := newFixture(t, memory.New(), nil)
	c := user("alice", "sid-1")
	f.acquire(t, c)
	info, err := f.m.End(t.Context(), "sid-1", store.EndAdmin)
	if err != nil || info.EndReason != store.EndAdmin || info.EndedAt.IsZero() {
		t.Fatalf("End = %+v, %v", info, err)
	}
	before := f.store.calls()
	for range 3 {
		if _, err := f.m.Acquire(t.Context(), c); !errors.Is(err, session.ErrEnded) {
			t.Fatalf("Acquire after End: %v, want ErrEnded", err)
		}
	}
	if n := f.store.calls() - before; n != 0 {
		t.Errorf("refusing an ended session made %d store calls, want 0 (tombstone)", n)
	}
	// Ending again keeps the first reason and audits once.
	if info, err := f.m.End(t.Context(), "sid-1", store.EndLogout); err != nil || info.EndReason != store.EndAdmin {
		t.Errorf("second End = %+v, %v", info, err)
	}
	if n := len(f.audit.events(audit.SessionEnded)); n != 1 {
		t.Errorf("%d session.ended lines, want 1", n)
	}
	if _, err := f.m.End(t.Context(), "nope", store.EndAdmin); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("admin End of an unknown id: %v, want ErrNotFound", err)
	}
	if _, err := f.m.End(t.Context(), "sid-1", "bored"); err == nil {
		t.Error("End with an unknown reason succeeded")
	}
	// Logout before the token's first call: its tokens are still refused.
	if _, err := f.m.End(t.Context(), "sid-2", store.EndLogout); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Acquire(t.Context(), user("bob", "sid-2")); !errors.Is(err, session.ErrEnded) {
		t.Errorf("Acquire after logout before first call: %v, want ErrEnded", err)
	}
	if err := f.m.Check(t.Context(), "sid-2"); !errors.Is(err, session.ErrEnded) {
		t.Errorf("Check after logout: %v", err)
	}
	if err := f.m.Check(t.Context(), "sid-unknown"); err != nil {
		t.Errorf("Check of an unknown sid: %v", err)
	}
}

func TestListAndLicense(t *testing.T) {
	f := newFixture(t, memory.New(), func(c *session.Config) { c.Slots, c.Reserved = 3, []string{"admin"} })
	c := user("alice", "sid-1")
	f.acquire(t, c)
	f.clock.Set(t0.Add(time.Minute))
	f.acquire(t, c) // not flushed
	l, err := f.m.List(t.Context())
	if err != nil || len(l) != 1 || !l[0].LastSeenAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("List = %+v, %v; want alice with this process's last-seen time", l, err)
	}
	lic, err := f.m.License(t.Context())
	if err != nil || lic != (session.License{Used: 1, Total: 3, Reserved: 1, Free: 2}) {
		t.Errorf("License = %+v, %v", lic, err)
	}
}

// A full cache evicts entries without losing their unwritten calls.
func TestEvictionKeepsTouches(t *testing.T) {
	f := newFixture(t, memory.New(), func(c *session.Config) { c.CacheSize = 4 })
	c := user("alice", "sid-0")
	f.acquire(t, c)
	f.clock.Set(t0.Add(time.Minute))
	f.acquire(t, c) // unwritten
	for i := range 20 {
		f.acquire(t, user("u", "sid-x"+string(rune('a'+i))))
	}
	if err := f.m.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := f.stored(t, "sid-0").LastSeenAt; !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("LastSeenAt of an evicted session = %v, want its last call", got)
	}
	// An evicted session still works (one store round trip).
	if info := f.acquire(t, c); !info.OpenedAt.Equal(t0) {
		t.Errorf("evicted session reopened: %+v", info)
	}
}

func TestRestartKnowsSessions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "erpgate.db")
	st1, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	f1 := newFixture(t, st1, nil)
	f1.acquire(t, user("alice", "sid-a"))
	f1.acquire(t, user("bob", "sid-b"))
	f1.clock.Set(t0.Add(time.Minute))
	f1.acquire(t, user("alice", "sid-a"))
	if _, err := f1.m.End(t.Context(), "sid-b", store.EndAdmin); err != nil {
		t.Fatal(err)
	}
	if err := f1.m.Close(); err != nil {
		t.Fatal(err)
	}
	st1.Close()

	st2, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	f2 := newFixture(t, st2, nil)
	f2.clock.Set(t0.Add(2 * time.Minute))
	l, err := f2.m.List(t.Context())
	if err != nil || len(l) != 1 || l[0].ID != "sid-a" || !l[0].LastSeenAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("List after restart = %+v, %v", l, err)
	}
	if info := f2.acquire(t, user("alice", "sid-a")); !info.OpenedAt.Equal(t0) {
		t.Errorf("alice's session after restart = %+v, want the one opened before", info)
	}
	if n := len(f2.audit.events(audit.SessionOpened)); n != 0 {
		t.Errorf("restart re-audited %d session.opened", n)
	}
	if _, err := f2.m.Acquire(t.Context(), user("bob", "sid-b")); !errors.Is(err, session.ErrEnded) {
		t.Errorf("bob after restart: %v, want ErrEnded", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*session.Config)
	}{
		{"no store", func(c *session.Config) { c.Store = nil }},
		{"no idle timeout", func(c *session.Config) { c.IdleTimeout = 0 }},
		{"no lifetime", func(c *session.Config) { c.ServiceMaxLifetime = 0 }},
		{"more reserved than slots", func(c *session.Config) { c.Slots, c.Reserved = 1, []string{"a", "b"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := session.Config{
				Store: memory.New(), IdleTimeout: time.Minute, ServiceMaxLifetime: time.Hour,
				Clock: time.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Metrics: metrics.New(prometheus.NewRegistry(), metrics.Build{}),
			}
			tc.mutate(&cfg)
			if _, err := session.New(cfg); err == nil {
				t.Fatal("New accepted a bad config")
			}
		})
	}
}

// TestSessionView: Session answers from the cache for a known session
// (no store read) and says ended for a session ended by an administrator.
func TestSessionView(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := &countingSessions{Backend: memory.New()}
	m, err := session.New(session.Config{Store: st, IdleTimeout: 20 * time.Minute, ServiceMaxLifetime: time.Hour,
		Clock: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: metrics.New(prometheus.NewRegistry(), metrics.Build{})})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := &claims.Access{SessionID: "sid-v", ClientID: "app", ClientSystemUser: "svc", Expiry: now.Add(time.Hour).Unix()}
	if _, err := m.Acquire(ctx, c); err != nil {
		t.Fatal(err)
	}
	before := st.sessionReads.Load()
	s, err := m.Session(ctx, "sid-v")
	if err != nil || !s.Open() || st.sessionReads.Load() != before {
		t.Fatalf("known session: %+v %v, store reads %d -> %d", s, err, before, st.sessionReads.Load())
	}
	if _, err := m.End(ctx, "sid-v", store.EndAdmin); err != nil {
		t.Fatal(err)
	}
	if s, err := m.Session(ctx, "sid-v"); err != nil || s.Open() || s.EndReason != store.EndAdmin {
		t.Fatalf("ended session: %+v %v", s, err)
	}
}

// countingSessions counts Session reads on the store.
type countingSessions struct {
	store.Backend
	sessionReads atomic.Int64
}

func (c *countingSessions) Session(ctx context.Context, id string) (store.Session, error) {
	c.sessionReads.Add(1)
	return c.Backend.Session(ctx, id)
}

// TestSessionViewOfUnopenedSessions: introspection asks about tokens
// whose session this process never opened. The store's answer is kept,
// so repeated questions cost no store read, yet every end reaches it:
// at once for an end made here, at the next SyncEnded for one made by
// another process, and a kept answer expires on its own after a while.
func TestSessionViewOfUnopenedSessions(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			backend := b.open(t)
			f := newFixture(t, backend, nil)
			ask := func(id string) (store.Session, error) {
				t.Helper()
				return f.m.Session(ctx, id)
			}

			// Never opened anywhere: not found, once from the store.
			if _, err := ask("sid-none"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("unknown session: err = %v, want ErrNotFound", err)
			}
			if _, err := ask("sid-none"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("unknown session again: err = %v, want ErrNotFound", err)
			}
			if n := f.store.get.Load(); n != 1 {
				t.Fatalf("two questions about an unknown session read the store %d times, want 1", n)
			}

			// Opened by another process: the answer "not found" may stay,
			// since an open session and no session both mean "not ended".
			other := newFixture(t, backend, nil)
			other.acquire(t, service("svc-other", "sid-elsewhere"))
			if s, err := ask("sid-elsewhere"); err != nil || !s.Open() {
				t.Fatalf("session opened elsewhere: %+v, %v", s, err)
			}
			reads := f.store.get.Load()
			if s, err := ask("sid-elsewhere"); err != nil || !s.Open() || f.store.get.Load() != reads {
				t.Fatalf("asked again: %+v, %v; store reads %d -> %d", s, err, reads, f.store.get.Load())
			}

			// Ended by the other process: seen after this one's next sync.
			if err := f.m.SyncEnded(ctx); err != nil { // the first sync only sets the window
				t.Fatal(err)
			}
			if _, err := other.m.End(ctx, "sid-elsewhere", store.EndAdmin); err != nil {
				t.Fatal(err)
			}
			if err := f.m.SyncEnded(ctx); err != nil {
				t.Fatal(err)
			}
			if s, err := ask("sid-elsewhere"); err != nil || s.Open() || s.EndReason != store.EndAdmin {
				t.Fatalf("after the other process ended it and a sync: %+v, %v", s, err)
			}

			// Ended here, after an answer "not found" was kept: at once.
			if _, err := ask("sid-logout"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("unknown session: err = %v", err)
			}
			if _, err := f.m.End(ctx, "sid-logout", store.EndLogout); err != nil {
				t.Fatal(err)
			}
			if s, err := ask("sid-logout"); err != nil || s.Open() {
				t.Fatalf("after End here: %+v, %v; want ended", s, err)
			}

			// A kept answer expires: a minute later the store is asked
			// again, even with no end known.
			reads = f.store.get.Load()
			f.clock.Set(t0.Add(2 * time.Minute))
			if _, err := ask("sid-none"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("unknown session later: err = %v", err)
			}
			if f.store.get.Load() != reads+1 {
				t.Fatalf("an expired answer was reused: store reads %d -> %d", reads, f.store.get.Load())
			}
		})
	}
}

// TestSessionViewIsBounded asks about more unopened sessions than the
// view keeps: each is answered right, and the oldest are re-read rather
// than kept without bound (memory stays flat, checked by the count of
// store reads when asking again about all of them).
func TestSessionViewIsBounded(t *testing.T) {
	f := newFixture(t, memory.New(), nil)
	const n = 12_000 // more than the view keeps
	for i := range n {
		if _, err := f.m.Session(t.Context(), "sid-"+strconv.Itoa(i)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Session(%d): err = %v", i, err)
		}
	}
	before := f.store.get.Load()
	for i := range n {
		if _, err := f.m.Session(t.Context(), "sid-"+strconv.Itoa(i)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Session(%d) again: err = %v", i, err)
		}
	}
	reread := f.store.get.Load() - before
	if reread == 0 {
		t.Fatalf("all %d answers were kept; the view must be bounded", n)
	}
	if reread == n {
		t.Fatalf("no answer was kept")
	}
}
