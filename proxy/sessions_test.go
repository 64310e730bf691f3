package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/erpgate/erpgate/admin"
	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/internal/testauth"
	"github.com/erpgate/erpgate/policy"
	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
	"github.com/erpgate/erpgate/store/sqlite"
)

// These tests walk ERP.net's session timeline (SPEC §5) through the real
// proxy, on each store backend, with the fixture's settable clock.

// sessionStores are the backends every session test runs on; sqlite is a
// file in the test's temp dir.
var sessionStores = []struct {
	name string
	open func(t *testing.T) store.Backend
}{
	{"memory", func(*testing.T) store.Backend { return memory.New() }},
	{"sqlite", func(t *testing.T) store.Backend { return openSQLite(t, filepath.Join(t.TempDir(), "erpgate.db")) }},
}

func openSQLite(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// countingStore counts the store calls the session manager makes.
type countingStore struct {
	store.Sessions
	opens, touches atomic.Int64
}

func (c *countingStore) OpenSession(ctx context.Context, s store.Session, l store.License) (store.Session, error) {
	c.opens.Add(1)
	return c.Sessions.OpenSession(ctx, s, l)
}

func (c *countingStore) TouchSessions(ctx context.Context, seen map[string]time.Time) error {
	c.touches.Add(1)
	return c.Sessions.TouchSessions(ctx, seen)
}

type sessionFixture struct {
	*fixture
	sessions *session.Manager
	store    *countingStore
	admin    http.Handler
}

// newSessionFixture is newFixture with everything in st, the session
// manager's calls counted, and the license (slots, reserved); admin is
// the admin API on the same authority and session manager.
func newSessionFixture(t *testing.T, st store.Backend, slots int, reserved []string) *sessionFixture {
	t.Helper()
	sf := &sessionFixture{store: &countingStore{Sessions: st}}
	sf.fixture = newFixture(t, nil, withAuth(func(c *testauth.Config) {
		c.Store, c.SessionStore, c.Slots, c.Reserved = st, sf.store, slots, reserved
	}))
	sf.sessions = sf.auth.Sessions
	a, err := admin.New(admin.Config{
		Authority: sf.auth.Authority, Audiences: testauth.Audiences, Sessions: sf.sessions,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Audit: audit.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	sf.admin = a
	return sf
}

// userToken signs a user token (authorization code) of the web app for
// login with its own sid, valid for an hour from now; no scopes means
// read and update.
func (f *sessionFixture) userToken(t *testing.T, login, sid string, scopes ...string) string {
	t.Helper()
	return f.auth.UserToken(login, testauth.WebApp, sid, scopes...)
}

// at sets the clock to testNow + d.
func (f *sessionFixture) at(d time.Duration) { f.setClock(testNow.Add(d)) }

func (f *sessionFixture) get(tok string, hdr ...string) *httptest.ResponseRecorder {
	h := bearer(tok)
	for i := 0; i+1 < len(hdr); i += 2 {
		h[hdr[i]] = hdr[i+1]
	}
	return f.do("GET", "/api/domain/x", h)
}

func (f *sessionFixture) reap(t *testing.T) {
	t.Helper()
	if err := f.sessions.Reap(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (f *sessionFixture) stored(t *testing.T, sid string) store.Session {
	t.Helper()
	s, err := f.store.Session(context.Background(), sid)
	if err != nil {
		t.Fatalf("Session(%s): %v", sid, err)
	}
	return s
}

// auditEvents returns the audit lines of event name with reason (any
// reason if empty).
func (f *sessionFixture) auditEvents(name, reason string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(f.auditBuf.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["event"] == name && (reason == "" || m["reason"] == reason) {
			out = append(out, m)
		}
	}
	return out
}

func wantStatus(t *testing.T, what string, rec *httptest.ResponseRecorder, status int, errCode string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("%s: status %d %s, want %d", what, rec.Code, rec.Body, status)
	}
	if errCode != "" {
		if got := errorOf(t, rec); got != errCode {
			t.Fatalf("%s: error %q, want %q", what, got, errCode)
		}
	}
}

// TestSessionTimeline: the first call opens; 20 minutes without calls
// end the session and free its slot; the same token reopens when a slot
// is free; an expired token is refused while its session idles out.
func TestSessionTimeline(t *testing.T) {
	for _, b := range sessionStores {
		t.Run(b.name, func(t *testing.T) {
			f := newSessionFixture(t, b.open(t), 1, nil)
			alice, bob := f.userToken(t, "alice", "sid-alice"), f.userToken(t, "bob", "sid-bob")

			// Issuing a token opens nothing; the first call does.
			if n := len(f.auditEvents(audit.SessionOpened, "")); n != 0 {
				t.Fatalf("%d sessions opened before any call", n)
			}
			wantStatus(t, "alice, first call", f.get(alice), 200, "")
			if s := f.stored(t, "sid-alice"); !s.Open() || s.Subject != "alice" || s.Kind != store.SessionUser || !s.OpenedAt.Equal(testNow) {
				t.Fatalf("alice's session = %+v", s)
			}
			if g := testutil.ToFloat64(f.metrics.SessionsOpen); g != 1 {
				t.Errorf("sessions_open = %v, want 1", g)
			}

			f.at(time.Minute)
			wantStatus(t, "bob while alice holds the only slot", f.get(bob), 403, authority.ReasonLicenseExhausted)

			f.at(15 * time.Minute)
			wantStatus(t, "alice at 15m", f.get(alice), 200, "")
			f.at(25 * time.Minute)
			f.reap(t)
			if !f.stored(t, "sid-alice").Open() {
				t.Fatal("alice's session ended 10 minutes after her last call")
			}

			f.at(36 * time.Minute) // 21 minutes after alice's last call
			f.reap(t)
			if s := f.stored(t, "sid-alice"); s.Open() || s.EndReason != store.EndIdle {
				t.Fatalf("alice's session after 21 idle minutes = %+v, want ended idle", s)
			}
			if g := testutil.ToFloat64(f.metrics.LicenseUsed); g != 0 {
				t.Errorf("license_slots_used = %v after the idle end, want 0", g)
			}
			wantStatus(t, "bob once the slot is free", f.get(bob), 200, "")

			f.at(37 * time.Minute)
			wantStatus(t, "alice's still-valid token while bob holds the slot", f.get(alice), 403, authority.ReasonLicenseExhausted)

			f.at(58 * time.Minute)
			f.reap(t) // bob idle since 36m
			wantStatus(t, "alice's still-valid token once the slot is free", f.get(alice), 200, "")
			if s := f.stored(t, "sid-alice"); !s.Open() || !s.OpenedAt.Equal(testNow.Add(58*time.Minute)) {
				t.Fatalf("alice's reopened session = %+v, want opened at 58m", s)
			}

			f.at(61 * time.Minute) // past exp + leeway
			wantStatus(t, "alice's expired token", f.get(alice), 401, "invalid_token")
			if !f.stored(t, "sid-alice").Open() {
				t.Fatal("token expiry ended the session; only idleness does")
			}
			f.at(79 * time.Minute)
			f.reap(t)
			if s := f.stored(t, "sid-alice"); s.Open() || s.EndReason != store.EndIdle {
				t.Fatalf("alice's session 21 minutes after her token's last call = %+v", s)
			}

			if n := len(f.auditEvents(audit.SessionOpened, "")); n != 3 {
				t.Errorf("%d session.opened lines, want 3 (alice, bob, alice again)", n)
			}
			if n := len(f.auditEvents(audit.SessionEnded, store.EndIdle)); n != 3 {
				t.Errorf("%d session.ended idle lines, want 3", n)
			}
		})
	}
}

// TestLicenseExhausted: 403 MaximumLicenseCountExceeded as JSON for API
// clients, and a page that says so in words for browsers.
func TestLicenseExhausted(t *testing.T) {
	f := newSessionFixture(t, memory.New(), 1, nil)
	wantStatus(t, "alice", f.get(f.userToken(t, "alice", "sid-alice")), 200, "")
	bob := f.userToken(t, "bob", "sid-bob")

	rec := f.get(bob)
	wantStatus(t, "bob (API)", rec, 403, authority.ReasonLicenseExhausted)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var body map[string]string
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if !strings.Contains(body["error_description"], "all licenses are in use") {
		t.Errorf("error_description = %q", body["error_description"])
	}

	rec = f.get(bob, "Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	if rec.Code != 403 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("bob (browser): %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if page := rec.Body.String(); !strings.Contains(page, "All licenses are in use") || !strings.Contains(page, "MaximumLicenseCountExceeded") {
		t.Errorf("license page does not say so in words:\n%s", page)
	}

	if up := f.upstream.lastRequest(); up.Header.Get("X-Auth-Subject") != "alice" {
		t.Errorf("a refused call reached the upstream as %q", up.Header.Get("X-Auth-Subject"))
	}
	if n := testutil.ToFloat64(f.metrics.AuthDecisions.WithLabelValues("domain-read", "deny", authority.ReasonLicenseExhausted)); n != 2 {
		t.Errorf("auth_decisions_total{deny,MaximumLicenseCountExceeded} = %v, want 2", n)
	}
	ev := f.auditEvents(audit.AccessDenied, authority.ReasonLicenseExhausted)
	if len(ev) != 2 || ev[0]["token_hash"] != audit.TokenHash(bob) {
		t.Errorf("access.denied MaximumLicenseCountExceeded lines = %v", ev)
	}
	// That the lines name bob, his session and app: TestRefusalAuditNamesHolder.
}

// TestRefusalAuditNamesHolder: a token that verified but may not act
// (no license slot, its session ended, its app disabled, a community
// user on an API route) is refused with an access.denied line that names
// its holder, session and app, as the proxy wrote before the authority
// took over the judging.
func TestRefusalAuditNamesHolder(t *testing.T) {
	f := newSessionFixture(t, memory.New(), 1, nil)
	wantStatus(t, "alice", f.get(f.userToken(t, "alice", "sid-alice")), 200, "")
	wantStatus(t, "bob", f.get(f.userToken(t, "bob", "sid-bob")), 403, authority.ReasonLicenseExhausted)
	wantStatus(t, "carol", f.get(f.userToken(t, "carol", "sid-carol", "read")), 403, "access_denied")
	f.auth.EndSession("sid-alice", store.EndAdmin)
	wantStatus(t, "alice after the end", f.get(f.userToken(t, "alice", "sid-alice")), 401, "invalid_token")
	for reason, want := range map[string][2]string{
		authority.ReasonLicenseExhausted: {"bob", "sid-bob"},
		authority.ReasonCommunityUser:    {"carol", "sid-carol"},
		authority.ReasonSessionEnded:     {"alice", "sid-alice"},
	} {
		ev := f.auditEvents(audit.AccessDenied, reason)
		if len(ev) != 1 || ev[0]["subject"] != want[0] || ev[0]["session"] != want[1] || ev[0]["client_id"] != testauth.WebApp {
			t.Errorf("access.denied %s lines = %v, want subject %s, session %s, client_id %s", reason, ev, want[0], want[1], testauth.WebApp)
		}
	}
}

// TestReservedSeats: slots 2, reserved [admin]: one seat is the admin's,
// so a second non-admin is refused while the admin still gets in.
func TestReservedSeats(t *testing.T) {
	for _, b := range sessionStores {
		t.Run(b.name, func(t *testing.T) {
			f := newSessionFixture(t, b.open(t), 2, []string{"admin"})
			wantStatus(t, "alice", f.get(f.userToken(t, "alice", "sid-alice")), 200, "")
			wantStatus(t, "bob (the other seat is reserved)", f.get(f.userToken(t, "bob", "sid-bob")), 403, authority.ReasonLicenseExhausted)
			wantStatus(t, "admin", f.get(f.userToken(t, "admin", "sid-admin")), 200, "")
			if s := f.stored(t, "sid-admin"); !s.Reserved {
				t.Errorf("admin's session is not marked reserved: %+v", s)
			}
			wantStatus(t, "admin, second session (all slots used)", f.get(f.userToken(t, "admin", "sid-admin-2")), 403, authority.ReasonLicenseExhausted)
		})
	}
}

// TestServiceSessionLifetime: a client-credentials session ends an hour
// after it opened even though it is busy; its next call opens a new one.
func TestServiceSessionLifetime(t *testing.T) {
	for _, b := range sessionStores {
		t.Run(b.name, func(t *testing.T) {
			f := newSessionFixture(t, b.open(t), 1, nil)
			c := claimsFor("read")
			c.Expiry = testNow.Add(2 * time.Hour).Unix() // outlives the session
			tok := f.sign(t, c)
			for m := 0; m < 60; m += 5 {
				f.at(time.Duration(m) * time.Minute)
				wantStatus(t, "busy service", f.get(tok), 200, "")
			}
			s := f.stored(t, "sid-1")
			if !s.Open() || s.Kind != store.SessionService || s.Subject != "svc-sync" || !s.ExpiresAt.Equal(testNow.Add(time.Hour)) {
				t.Fatalf("service session = %+v", s)
			}
			f.at(time.Hour)
			wantStatus(t, "service call at 1h", f.get(tok), 200, "")
			if ev := f.auditEvents(audit.SessionEnded, store.EndLifetime); len(ev) != 1 || ev[0]["subject"] != "svc-sync" {
				t.Fatalf("session.ended lifetime lines = %v", ev)
			}
			if s := f.stored(t, "sid-1"); !s.Open() || !s.OpenedAt.Equal(testNow.Add(time.Hour)) || !s.ExpiresAt.Equal(testNow.Add(2*time.Hour)) {
				t.Fatalf("session after 1h = %+v, want a new one opened at 1h", s)
			}

			// The reaper ends it too, with no call needed.
			f.at(2 * time.Hour)
			f.reap(t)
			if s := f.stored(t, "sid-1"); s.Open() || s.EndReason != store.EndLifetime {
				t.Fatalf("session at 2h = %+v, want ended lifetime", s)
			}
		})
	}
}

// TestAdminEndRefusesTokens: DELETE /admin/sessions/{id} ends a session
// for good: its tokens get 401, and the freed slot is usable at once.
func TestAdminEndRefusesTokens(t *testing.T) {
	for _, b := range sessionStores {
		t.Run(b.name, func(t *testing.T) {
			f := newSessionFixture(t, b.open(t), 1, nil)
			alice := f.userToken(t, "alice", "sid-alice")
			wantStatus(t, "alice", f.get(alice), 200, "")
			adminTok := f.userToken(t, "admin", "sid-admin", "sec")

			rec := f.adminDo("GET", "/admin/sessions", adminTok)
			var list struct {
				Sessions []struct {
					ID, Subject, Kind string
					ClientID          string `json:"client_id"`
				}
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &list); rec.Code != 200 || err != nil || len(list.Sessions) != 1 ||
				list.Sessions[0].ID != "sid-alice" || list.Sessions[0].Subject != "alice" || list.Sessions[0].ClientID != "com.example/web" {
				t.Fatalf("GET /admin/sessions = %d %s", rec.Code, rec.Body)
			}

			rec = f.adminDo("DELETE", "/admin/sessions/sid-alice", adminTok)
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"end_reason": "admin"`) {
				t.Fatalf("DELETE = %d %s", rec.Code, rec.Body)
			}
			rec = f.get(alice)
			wantStatus(t, "alice after the admin ended her session", rec, 401, "invalid_token")
			if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer realm="erpgate", error="invalid_token"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			if n := testutil.ToFloat64(f.metrics.AuthDecisions.WithLabelValues("domain-read", "deny", authority.ReasonSessionEnded)); n != 1 {
				t.Errorf("auth_decisions_total{deny,session_ended} = %v, want 1", n)
			}
			if ev := f.auditEvents(audit.SessionEnded, store.EndAdmin); len(ev) != 1 || ev[0]["session"] != "sid-alice" {
				t.Errorf("session.ended admin lines = %v", ev)
			}
			rec = f.adminDo("GET", "/admin/license", adminTok)
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"used": 0`) || !strings.Contains(rec.Body.String(), `"free": 1`) {
				t.Errorf("GET /admin/license = %d %s", rec.Code, rec.Body)
			}
			wantStatus(t, "bob takes the freed slot", f.get(f.userToken(t, "bob", "sid-bob")), 200, "")
			if rec := f.adminDo("DELETE", "/admin/sessions/nope", adminTok); rec.Code != 404 {
				t.Errorf("DELETE of an unknown session = %d", rec.Code)
			}
		})
	}
}

func (f *sessionFixture) adminDo(method, path, tok string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	f.admin.ServeHTTP(rec, req)
	return rec
}

// TestRestartKeepsSessions: a new manager on the same SQLite file knows
// the open sessions and still refuses the ended ones.
func TestRestartKeepsSessions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "erpgate.db")
	st1, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	f1 := newSessionFixture(t, st1, 2, nil)
	alice, bob := f1.userToken(t, "alice", "sid-alice"), f1.userToken(t, "bob", "sid-bob")
	wantStatus(t, "alice", f1.get(alice), 200, "")
	wantStatus(t, "bob", f1.get(bob), 200, "")
	if _, err := f1.sessions.End(context.Background(), "sid-bob", store.EndAdmin); err != nil {
		t.Fatal(err)
	}
	f1.at(5 * time.Minute)
	wantStatus(t, "alice at 5m", f1.get(alice), 200, "")
	if err := f1.sessions.Close(); err != nil { // as on shutdown
		t.Fatal(err)
	}
	st1.Close()

	// The keys are in the store too: the tokens signed before still verify.
	f2 := newSessionFixture(t, openSQLite(t, path), 2, nil)
	f2.at(6 * time.Minute)
	list, err := f2.sessions.List(context.Background())
	if err != nil || len(list) != 1 || list[0].ID != "sid-alice" || !list[0].LastSeenAt.Equal(testNow.Add(5*time.Minute)) {
		t.Fatalf("sessions after restart = %+v, %v; want alice, last seen at 5m", list, err)
	}
	wantStatus(t, "alice after restart", f2.get(alice), 200, "")
	wantStatus(t, "bob after restart", f2.get(bob), 401, "invalid_token")
	if n := len(f2.auditEvents(audit.SessionOpened, "")); n != 0 {
		t.Errorf("restart opened %d new sessions, want 0", n)
	}
	if s := f2.stored(t, "sid-alice"); !s.OpenedAt.Equal(testNow) {
		t.Errorf("alice's session after restart = %+v, want the one opened before", s)
	}
}

// TestConcurrentFirstCalls: 50 simultaneous first calls with one token
// open exactly one session.
func TestConcurrentFirstCalls(t *testing.T) {
	for _, b := range sessionStores {
		t.Run(b.name, func(t *testing.T) {
			f := newSessionFixture(t, b.open(t), 1, nil)
			tok := f.userToken(t, "alice", "sid-alice")
			codes := parallelGets(f, []string{tok}, 50)
			for i, c := range codes {
				if c != 200 {
					t.Fatalf("call %d: status %d", i, c)
				}
			}
			if n := f.store.opens.Load(); n != 1 {
				t.Errorf("OpenSession called %d times, want 1", n)
			}
			if n := len(f.auditEvents(audit.SessionOpened, "")); n != 1 {
				t.Errorf("%d session.opened lines, want 1", n)
			}
			open, err := f.store.OpenSessions(context.Background())
			if err != nil || len(open) != 1 {
				t.Errorf("open sessions = %d, %v; want 1", len(open), err)
			}
		})
	}
}

// TestConcurrentLicenseRace: with 3 slots, 20 simultaneous first calls
// with different sessions: exactly 3 get in, the rest are refused.
func TestConcurrentLicenseRace(t *testing.T) {
	for _, b := range sessionStores {
		t.Run(b.name, func(t *testing.T) {
			f := newSessionFixture(t, b.open(t), 3, nil)
			var toks []string
			for i := range 20 {
				sid := "sid-" + string(rune('a'+i))
				f.auth.PutUser(testauth.User("user-"+sid, directory.TypeInternal))
				toks = append(toks, f.userToken(t, "user-"+sid, sid))
			}
			count := map[int]int{}
			for _, c := range parallelGets(f, toks, 1) {
				count[c]++
			}
			if count[200] != 3 || count[403] != 17 {
				t.Fatalf("statuses = %v, want 3×200 and 17×403", count)
			}
			open, err := f.store.OpenSessions(context.Background())
			if err != nil || len(open) != 3 {
				t.Errorf("open sessions = %d, %v; want 3", len(open), err)
			}
		})
	}
}

// parallelGets makes each token's calls n times, all at once, and returns
// the statuses.
func parallelGets(f *sessionFixture, toks []string, n int) []int {
	var wg sync.WaitGroup
	start := make(chan struct{})
	codes := make([]int, len(toks)*n)
	for i := range codes {
		wg.Go(func() {
			<-start
			codes[i] = f.get(toks[i%len(toks)]).Code
		})
	}
	close(start)
	wg.Wait()
	return codes
}

// TestTouchCoalescingThroughProxy: many calls within one flush window
// cause no store write, and the flush one TouchSessions.
func TestTouchCoalescingThroughProxy(t *testing.T) {
	for _, b := range sessionStores {
		t.Run(b.name, func(t *testing.T) {
			f := newSessionFixture(t, b.open(t), 1, nil)
			tok := f.userToken(t, "alice", "sid-alice")
			for i := range 100 {
				f.at(time.Duration(i) * 40 * time.Millisecond) // 4s: within the 5s window
				wantStatus(t, "alice", f.get(tok), 200, "")
			}
			if n := f.store.touches.Load(); n != 0 {
				t.Fatalf("%d TouchSessions before the flush, want 0", n)
			}
			if err := f.sessions.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := f.store.touches.Load(); n != 1 {
				t.Fatalf("%d TouchSessions for 100 calls in one window, want 1", n)
			}
			if n := f.store.opens.Load(); n != 1 {
				t.Errorf("%d OpenSession for one session, want 1", n)
			}
			if got := f.stored(t, "sid-alice").LastSeenAt; !got.Equal(testNow.Add(99 * 40 * time.Millisecond)) {
				t.Errorf("stored LastSeenAt = %v", got)
			}
		})
	}
}

// failingSessions fails to open a session, as an unreachable store does.
type failingSessions struct{ store.Sessions }

func (failingSessions) OpenSession(context.Context, store.Session, store.License) (store.Session, error) {
	return store.Session{}, errors.New("store: connection refused")
}

func TestSessionStoreDown(t *testing.T) {
	f := newFixture(t, nil, withAuth(func(c *testauth.Config) {
		st := memory.New()
		c.Store, c.SessionStore = st, failingSessions{st}
	}))
	rec := f.do("GET", "/api/domain/x", bearer(f.sign(t, claimsFor("read"))))
	if rec.Code != 503 || errorOf(t, rec) != "temporarily_unavailable" {
		t.Fatalf("store down: %d %s, want 503", rec.Code, rec.Body)
	}
	if f.upstream.lastRequest() != nil {
		t.Fatal("a call without a session reached the upstream")
	}
}

// TestCommunityUsers: a community user's token is refused (403
// community_user) on an API route that does not allow community users,
// and passes on one that does, without taking a license slot (SPEC §5;
// ERP.net external users get no API-access tokens for the instance APIs).
func TestCommunityUsers(t *testing.T) {
	f := newSessionFixture(t, memory.New(), 1, nil)
	carol := f.userToken(t, "carol", "sid-carol", "read")

	rec := f.get(carol)
	wantStatus(t, "carol on an API route", rec, http.StatusForbidden, "access_denied")
	if got := rec.Header().Get("WWW-Authenticate"); got != "" {
		t.Errorf("WWW-Authenticate = %q: the token is good, a new one would not help", got)
	}
	if n := testutil.ToFloat64(f.metrics.AuthDecisions.WithLabelValues("domain-read", "deny", authority.ReasonCommunityUser)); n != 1 {
		t.Errorf("auth_decisions_total{domain-read,deny,community_user} = %v, want 1", n)
	}
	if ev := f.auditEvents(audit.AccessDenied, authority.ReasonCommunityUser); len(ev) != 1 {
		t.Errorf("access.denied community_user lines = %v, want 1", ev)
	}
	if f.upstream.lastRequest() != nil {
		t.Fatal("a refused community user reached the upstream")
	}

	for i := range 3 {
		rec := f.do("GET", "/api/portal/orders", bearer(carol))
		wantStatus(t, "carol on a route that allows community users", rec, 200, "")
		if i == 0 {
			up := f.upstream.lastRequest().Header
			if up.Get("X-Auth-Subject") != "carol" || up.Get("X-Auth-User-Type") != directory.ClaimCommunityUser {
				t.Errorf("upstream identity = %q %q", up.Get("X-Auth-Subject"), up.Get("X-Auth-User-Type"))
			}
		}
	}
	if n := testutil.ToFloat64(f.metrics.AuthDecisions.WithLabelValues("portal", "allow", policy.ReasonAllowed)); n != 3 {
		t.Errorf("auth_decisions_total{portal,allow} = %v, want 3", n)
	}
	if _, err := f.store.Session(context.Background(), "sid-carol"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("carol's calls opened a session (%v)", err)
	}
	if n := f.store.opens.Load(); n != 0 {
		t.Errorf("OpenSession called %d times, want 0", n)
	}
	if g := testutil.ToFloat64(f.metrics.LicenseUsed); g != 0 {
		t.Errorf("license_slots_used = %v, want 0", g)
	}
	// The only slot is still free.
	wantStatus(t, "alice after carol", f.get(f.userToken(t, "alice", "sid-alice")), 200, "")
}

// TestWrongAudienceOpensNoSession: a token for another API is refused
// before any session is opened, so it takes no license slot.
func TestWrongAudienceOpensNoSession(t *testing.T) {
	f := newSessionFixture(t, memory.New(), 1, nil)
	c := f.auth.UserClaims("alice", testauth.WebApp, "sid-alice", "read")
	c.Audience = []string{"TableAPI"}
	rec := f.get(f.sign(t, c)) // a DomainAPI route
	wantStatus(t, "token for TableAPI on a DomainAPI route", rec, 401, "invalid_token")
	if n := testutil.ToFloat64(f.metrics.AuthDecisions.WithLabelValues("domain-read", "deny", authority.ReasonWrongAudience)); n != 1 {
		t.Errorf("auth_decisions_total{deny,wrong_audience} = %v, want 1", n)
	}
	if _, err := f.store.Session(context.Background(), "sid-alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a wrong-audience token opened a session (%v)", err)
	}
	if n := f.store.opens.Load(); n != 0 || len(f.auditEvents(audit.SessionOpened, "")) != 0 {
		t.Errorf("OpenSession called %d times, want 0", n)
	}
	if g := testutil.ToFloat64(f.metrics.LicenseUsed); g != 0 {
		t.Errorf("license_slots_used = %v, want 0", g)
	}
	// The same token is good where it belongs, and opens the session there.
	wantStatus(t, "the token on its own API", f.do("GET", "/api/table/x", bearer(f.sign(t, c))), 200, "")
	if s := f.stored(t, "sid-alice"); !s.Open() {
		t.Errorf("session after the TableAPI call = %+v", s)
	}
}
