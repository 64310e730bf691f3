package backchannel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/backchannel"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/internal/testrp"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
)

const issuer = "https://gw.example.com/id"

// apps is a directory of apps by client_id.
type apps struct {
	mu sync.Mutex
	m  map[string]*directory.App
}

func (a *apps) App(id string) *directory.App {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.m[id]
}

func (a *apps) set(id, uri string, sidRequired bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string]*directory.App{}
	}
	a.m[id] = &directory.App{ID: id, Enabled: true, BackchannelLogoutURI: uri, BackchannelLogoutSID: sidRequired}
}

// fixture is a sender over a memory store and a real keyring, whose JWKS
// the test RP fetches as an RP would.
type fixture struct {
	st      *memory.Store
	keys    *signing.Keyring
	jwks    oidc.KeySet
	apps    *apps
	m       *metrics.Backchannel
	audited *bytes.Buffer
	auditMu *sync.Mutex
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := memory.New()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys, err := signing.Open(t.Context(), signing.Config{Algorithm: "RS256", RotateEvery: 24 * time.Hour,
		MaxTokenTTL: time.Hour, Store: st, Clock: time.Now, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	js := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(keys.JWKS()) }))
	t.Cleanup(js.Close)
	return &fixture{st: st, keys: keys, jwks: oidc.NewRemoteKeySet(context.Background(), js.URL), apps: &apps{},
		m: metrics.RegisterBackchannel(prometheus.NewRegistry()), audited: &bytes.Buffer{}, auditMu: &sync.Mutex{}}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (f *fixture) sender(t *testing.T, mutate func(*backchannel.Config)) *backchannel.Sender {
	t.Helper()
	cfg := backchannel.Config{
		Issuer: issuer, Signer: f.keys, Apps: f.apps, Sessions: f.st, Client: &http.Client{},
		Clock: time.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Audit:   audit.New(slog.NewJSONHandler(lockedWriter{f.auditMu, f.audited}, nil)),
		Metrics: f.m, Backoff: 10 * time.Millisecond, AttemptTimeout: time.Second,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := backchannel.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (f *fixture) record(t *testing.T, sid, clientID, subject string) {
	t.Helper()
	if err := f.st.RecordSessionClient(t.Context(), store.SessionClient{SessionID: sid, ClientID: clientID, Subject: subject, SeenAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) count(result string) float64 {
	return testutil.ToFloat64(f.m.Logouts.WithLabelValues(result))
}

// waitCount waits until the counter of result reaches n.
func (f *fixture) waitCount(t *testing.T, result string, n float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.count(result) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", result, f.count(result), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// events returns the audit events written so far.
func (f *fixture) events(t *testing.T) []map[string]any {
	t.Helper()
	f.auditMu.Lock()
	defer f.auditMu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(f.audited.String()), "\n") {
		if line == "" {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// Every app recorded for the session, and the app that opened it, gets
// one logout token that a relying party following §2.6 accepts with the
// published keys; an app without a backchannel_logout_uri, or removed,
// gets none, and an app not recorded for the session gets none.
func TestLogoutTokenReachesEveryAppOfTheSession(t *testing.T) {
	f := newFixture(t)
	rp := testrp.Start(t, issuer, f.jwks)
	f.apps.set("app-a", rp.URI("app-a"), true)
	f.apps.set("app-b", rp.URI("app-b"), false)
	f.apps.set("app-opener", rp.URI("app-opener"), false)
	f.apps.set("app-no-uri", "", false)
	f.apps.set("app-other-session", rp.URI("app-other-session"), false)
	f.record(t, "sid-1", "app-a", "alice")
	f.record(t, "sid-1", "app-b", "alice")
	f.record(t, "sid-1", "app-no-uri", "alice")
	f.record(t, "sid-1", "app-removed", "alice")
	f.record(t, "sid-2", "app-other-session", "alice")
	s := f.sender(t, nil)

	if !s.Enqueue(backchannel.End{SessionID: "sid-1", Subject: "alice", ClientID: "app-opener"}) {
		t.Fatal("Enqueue refused")
	}
	got := rp.Wait(3, 5*time.Second)
	f.waitCount(t, backchannel.ResultDelivered, 3)
	if rej := rp.Rejected(); len(rej) != 0 {
		t.Fatalf("the RP refused logout tokens: %v", rej)
	}
	apps := map[string]testrp.Logout{}
	for _, l := range got {
		apps[l.ClientID] = l
	}
	if len(got) != 3 || len(apps) != 3 {
		t.Fatalf("received %+v, want one token for each of app-a, app-b, app-opener", got)
	}
	for id, l := range apps {
		if l.Subject != "alice" || l.SessionID != "sid-1" || l.ID == "" {
			t.Errorf("%s: token %+v, want sub alice, sid sid-1, a jti", id, l)
		}
		if ttl := l.Expiry.Sub(l.IssuedAt); ttl <= 0 || ttl > backchannel.DefaultTokenTTL {
			t.Errorf("%s: lives %s, want short (at most %s)", id, ttl, backchannel.DefaultTokenTTL)
		}
	}
	if left, _ := f.st.TakeSessionClients(t.Context(), "sid-2"); len(left) != 1 {
		t.Errorf("another session's record was taken: %v", left)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(rp.Received()); n != 3 {
		t.Errorf("%d tokens, want exactly 3", n)
	}
	var delivered int
	for _, e := range f.events(t) {
		if e["event"] == audit.BackchannelLogout && e["reason"] == backchannel.ResultDelivered && e["session"] == "sid-1" {
			delivered++
		}
	}
	if delivered != 3 {
		t.Errorf("%d logout.backchannel delivered events, want 3: %v", delivered, f.events(t))
	}
}

// The token's header and claims, read as a relying party would after
// verifying it with the JWKS: typ logout+jwt and the issuer's kid; iss,
// aud, iat, exp, jti, sub, sid, the event (an empty object) and no nonce
// (§2.4).
func TestLogoutTokenClaims(t *testing.T) {
	f := newFixture(t)
	now := time.Unix(1_900_000_000, 0)
	c, err := backchannel.NewClaims(issuer, backchannel.Logout{ClientID: "app-a", SessionID: "sid-1", Subject: "alice"}, now, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := f.keys.Sign(backchannel.TokenType, c)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Header
	if h.ExtraHeaders[jose.HeaderType] != "logout+jwt" || h.KeyID != f.keys.ActiveKeyID() {
		t.Errorf("header typ %v kid %q, want logout+jwt and the active key %q", h.ExtraHeaders[jose.HeaderType], h.KeyID, f.keys.ActiveKeyID())
	}
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(f.keys.JWKS(), &jwks); err != nil {
		t.Fatal(err)
	}
	payload, err := jws.Verify(jwks.Key(h.KeyID)[0])
	if err != nil {
		t.Fatalf("not verified by the published key: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(payload, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"iss": issuer, "aud": "app-a", "iat": float64(now.Unix()), "exp": float64(now.Add(2 * time.Minute).Unix()),
		"sub": "alice", "sid": "sid-1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if ev, _ := json.Marshal(got["events"]); string(ev) != `{"http://schemas.openid.net/event/backchannel-logout":{}}` {
		t.Errorf("events = %s", ev)
	}
	if _, ok := got["nonce"]; ok {
		t.Error("a logout token must not carry a nonce (§2.4)")
	}
	if jti, _ := got["jti"].(string); len(jti) < 16 {
		t.Errorf("jti %q, want a random id", jti)
	}
	if len(got) != 8 {
		t.Errorf("claims %v, want exactly iss aud iat exp jti sub sid events", got)
	}
	c2, _ := backchannel.NewClaims(issuer, backchannel.Logout{ClientID: "app-a", SessionID: "sid-1", Subject: "alice"}, now, time.Minute)
	if c2.ID == c.ID {
		t.Error("two tokens share a jti")
	}
}

// §2.2 backchannel_logout_session_required: a token without a sid is not
// made for such an app; §2.4: a token names a sub or a sid.
func TestLogoutTokenSessionRules(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		l    backchannel.Logout
		want error
	}{
		{"sid required and present", backchannel.Logout{ClientID: "a", SessionRequired: true, SessionID: "s", Subject: "u"}, nil},
		{"sid required, none", backchannel.Logout{ClientID: "a", SessionRequired: true, Subject: "u"}, backchannel.ErrNoSession},
		{"sid optional, none, sub only", backchannel.Logout{ClientID: "a", Subject: "u"}, nil},
		{"neither sub nor sid", backchannel.Logout{ClientID: "a"}, backchannel.ErrNoSubject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := backchannel.NewClaims(issuer, tc.l, now, time.Minute)
			if err != tc.want {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && (c.SessionID != tc.l.SessionID || c.Subject != tc.l.Subject) {
				t.Errorf("claims %+v", c)
			}
		})
	}
}

// blockingClients holds every take until released: a store that hangs.
type blockingClients struct {
	release chan struct{}
	entered chan struct{}
}

func (b *blockingClients) TakeSessionClients(ctx context.Context, _ string) ([]store.SessionClient, error) {
	b.entered <- struct{}{}
	select {
	case <-b.release:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Enqueue never blocks a request: with the worker stuck and the queue
// full, further ends are dropped at once and counted.
func TestQueueFullDropsWithoutBlocking(t *testing.T) {
	f := newFixture(t)
	b := &blockingClients{release: make(chan struct{}), entered: make(chan struct{}, 8)}
	defer close(b.release)
	s := f.sender(t, func(c *backchannel.Config) {
		c.Sessions, c.Workers, c.QueueSize, c.AttemptTimeout = b, 1, 2, time.Minute
	})
	s.Enqueue(backchannel.End{SessionID: "s0", Subject: "u"})
	<-b.entered // the worker holds s0
	for i := range 2 {
		if !s.Enqueue(backchannel.End{SessionID: "queued", Subject: "u"}) {
			t.Fatalf("end %d refused with room in the queue", i)
		}
	}
	start := time.Now()
	for range 5 {
		if s.Enqueue(backchannel.End{SessionID: "over", Subject: "u"}) {
			t.Fatal("Enqueue accepted past the queue's size")
		}
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("five refused Enqueues took %s: Enqueue blocked", d)
	}
	if got := f.count(backchannel.ResultDropped); got != 5 {
		t.Errorf("dropped = %v, want 5", got)
	}
	if got := testutil.ToFloat64(f.m.Queued); got != 2 {
		t.Errorf("queued gauge = %v, want 2", got)
	}
}

// A receiver that answers 5xx or 429 is tried again, with backoff, and a
// later 200 is success; a fresh token (own jti) each time.
func TestRetriesOn5xxThenSuccess(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusTooManyRequests} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			f := newFixture(t)
			rp := testrp.Start(t, issuer, f.jwks)
			var tries atomic.Int32
			rp.Answer(func(_ string, _ int) int {
				if tries.Add(1) < 3 {
					return status
				}
				return http.StatusOK
			})
			f.apps.set("app-a", rp.URI("app-a"), false)
			f.record(t, "sid-1", "app-a", "alice")
			f.sender(t, nil).Enqueue(backchannel.End{SessionID: "sid-1"})
			f.waitCount(t, backchannel.ResultDelivered, 1)
			if n := tries.Load(); n != 3 {
				t.Errorf("%d attempts, want 3 (two %d, then 200)", n, status)
			}
			if f.count(backchannel.ResultFailed) != 0 {
				t.Error("a retried delivery also counted as failed")
			}
		})
	}
}

// counting is a receiver answering status, counting requests.
func counting(t *testing.T, status int) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// A 4xx other than 429 is final: one attempt, counted refused.
func TestNoRetryOn400(t *testing.T) {
	f := newFixture(t)
	srv, n := counting(t, http.StatusBadRequest)
	f.apps.set("app-a", srv.URL, false)
	f.record(t, "sid-1", "app-a", "alice")
	f.sender(t, nil).Enqueue(backchannel.End{SessionID: "sid-1"})
	f.waitCount(t, backchannel.ResultRefused, 1)
	time.Sleep(100 * time.Millisecond) // ten backoffs: a retry would have come
	if got := n.Load(); got != 1 {
		t.Errorf("%d attempts on 400, want 1", got)
	}
}

// §2.8: a redirect is not followed (it could carry the token to a place
// the app never registered); the answer is final.
func TestRedirectNotFollowed(t *testing.T) {
	f := newFixture(t)
	elsewhere, hits := counting(t, http.StatusOK)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirect.Close)
	f.apps.set("app-a", redirect.URL, false)
	f.record(t, "sid-1", "app-a", "alice")
	follows := &http.Client{} // would follow a 307 with the body
	f.sender(t, func(c *backchannel.Config) { c.Client = follows }).Enqueue(backchannel.End{SessionID: "sid-1"})
	f.waitCount(t, backchannel.ResultRefused, 1)
	if got := hits.Load(); got != 0 {
		t.Errorf("the redirect target got %d requests", got)
	}
	if follows.CheckRedirect != nil {
		t.Error("the caller's client was changed")
	}
}

// hanging is a receiver that accepts the request and never answers.
func hanging(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		n.Add(1)
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv, &n
}

// Each attempt ends at AttemptTimeout on a receiver that hangs (accepts,
// never answers), and the attempts are bounded: then it is failed.
func TestHangingReceiverTimesOut(t *testing.T) {
	f := newFixture(t)
	srv, n := hanging(t)
	f.apps.set("app-a", srv.URL, false)
	f.record(t, "sid-1", "app-a", "alice")
	start := time.Now()
	f.sender(t, func(c *backchannel.Config) { c.AttemptTimeout, c.Attempts = 100*time.Millisecond, 3 }).
		Enqueue(backchannel.End{SessionID: "sid-1"})
	f.waitCount(t, backchannel.ResultFailed, 1)
	took := time.Since(start)
	if got := n.Load(); got != 3 {
		t.Errorf("%d attempts, want 3", got)
	}
	// 3 × 100ms attempts + 10ms + 20ms backoff; far below it without the
	// per-attempt deadline the receiver would hold the worker forever.
	if took > 3*time.Second {
		t.Errorf("three bounded attempts took %s", took)
	}
	t.Logf("3 attempts on a hanging receiver: %s", took)
}

// Close is bounded even with a delivery stuck on a hanging receiver and
// a long per-attempt timeout; what was not delivered is counted.
func TestShutdownBounded(t *testing.T) {
	f := newFixture(t)
	srv, n := hanging(t)
	f.apps.set("app-a", srv.URL, false)
	f.record(t, "sid-1", "app-a", "alice")
	for i := range 3 {
		f.record(t, "sid-queued", "app-q"+string(rune('0'+i)), "bob")
		f.apps.set("app-q"+string(rune('0'+i)), srv.URL, false)
	}
	s := f.sender(t, func(c *backchannel.Config) {
		c.AttemptTimeout, c.DrainTimeout, c.Workers = time.Minute, 200*time.Millisecond, 1
	})
	s.Enqueue(backchannel.End{SessionID: "sid-1"})
	for n.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	s.Enqueue(backchannel.End{SessionID: "sid-queued"})
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %s with a 200ms drain bound", d)
	}
	// The stuck attempt was cut and retries are not waited for; the
	// queued end was dropped (its apps were never read) or its tokens.
	if f.count(backchannel.ResultDropped)+f.count(backchannel.ResultFailed) == 0 {
		t.Errorf("nothing counted after Close: dropped %v failed %v", f.count(backchannel.ResultDropped), f.count(backchannel.ResultFailed))
	}
	if s.Enqueue(backchannel.End{SessionID: "late"}) {
		t.Error("Enqueue accepted after Close")
	}
	if got := testutil.ToFloat64(f.m.Queued); got != 0 {
		t.Errorf("queued gauge %v after Close", got)
	}
}

// The app is read when its token is made: one that lost its
// backchannel_logout_uri after the session ended is not sent to the old
// address; the URI as it is then is the one used.
func TestAppReadAtSendTime(t *testing.T) {
	f := newFixture(t)
	srv, n := counting(t, http.StatusOK)
	b := &blockingClients{release: make(chan struct{}), entered: make(chan struct{}, 8)}
	f.apps.set("app-a", srv.URL, false)
	s := f.sender(t, func(c *backchannel.Config) { c.Sessions = b })
	s.Enqueue(backchannel.End{SessionID: "sid-1", Subject: "alice", ClientID: "app-a"})
	<-b.entered // the end is being resolved: the app still has its URI
	f.apps.set("app-a", "", false)
	close(b.release)
	time.Sleep(50 * time.Millisecond)
	if got := n.Load(); got != 0 {
		t.Errorf("%d requests to a URI the app no longer has", got)
	}
	f.apps.set("app-b", srv.URL, false)
	s.Enqueue(backchannel.End{SessionID: "sid-2", Subject: "alice", ClientID: "app-b"})
	f.waitCount(t, backchannel.ResultDelivered, 1)
	if got := n.Load(); got != 1 {
		t.Errorf("%d requests, want the one to app-b", got)
	}
}

// A 503 or 429 with Retry-After waits that long (RFC 9110 §10.2.3)
// rather than the shorter backoff before the next attempt.
func TestRetryAfterHonoured(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	var at []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		at = append(at, time.Now())
		if len(at) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	f.apps.set("app-a", srv.URL, false)
	f.record(t, "sid-1", "app-a", "alice")
	f.sender(t, nil).Enqueue(backchannel.End{SessionID: "sid-1"}) // backoff 10ms
	f.waitCount(t, backchannel.ResultDelivered, 1)
	mu.Lock()
	defer mu.Unlock()
	if len(at) != 2 {
		t.Fatalf("%d attempts, want 2", len(at))
	}
	if d := at[1].Sub(at[0]); d < 900*time.Millisecond {
		t.Errorf("retried after %s; the app asked for 1s", d)
	}
}
