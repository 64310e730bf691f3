package issuer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/metrics"
)

// auditSink collects the audit lines of a test server.
type auditSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *auditSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// events returns the audit lines named name, decoded.
func (s *auditSink) events(t *testing.T, name string) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(s.buf.String(), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("audit line is not JSON: %q", line)
		}
		if m["event"] == name {
			out = append(out, m)
		}
	}
	return out
}

func (s *auditSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// newAuditedServer is a test server with its audit lines collected and
// lim as its limits.
func newAuditedServer(t *testing.T, lim Limits) (*testServer, *auditSink) {
	t.Helper()
	sink := &auditSink{}
	ts := newTestServer(t, func(c *testConfig) {
		c.Limits = lim
		c.Audit = audit.New(slog.NewJSONHandler(sink, nil))
	})
	return ts, sink
}

// clientCall posts f to the issuer endpoint path (e.g. "/connect/token")
// from addr, the client authenticating with client_secret_basic when id
// is set. It goes straight to the handler, so each call can come from
// another address, as clientaddr puts it in RemoteAddr.
func (ts *testServer) clientCall(path, addr, id, secret string, f url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, ts.issuer+path, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = addr
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	rec := httptest.NewRecorder()
	ts.Config.Handler.ServeHTTP(rec, req)
	return rec
}

// checkThrottled asserts the throttle's answer: 429, Retry-After,
// temporarily_unavailable and no-store, whatever the secret was.
func checkThrottled(t *testing.T, rec *httptest.ResponseRecorder, what string) {
	t.Helper()
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != http.StatusTooManyRequests || body["error"] != "temporarily_unavailable" ||
		rec.Header().Get("Retry-After") == "" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%s: %d %v %s; want 429 temporarily_unavailable with Retry-After", what, rec.Code, rec.Header(), rec.Body)
	}
}

const attacker = "198.51.100.7:4711"

// The oracle of issue 15: once an address had its failures, a wrong
// guess and the right secret get the same answer, 429, because the
// throttle is asked before the secret is compared. After the window the
// right secret works again.
func TestClientAuthThrottleIsNoOracle(t *testing.T) {
	ts, _ := newAuditedServer(t, Limits{ClientAuthFailuresPerClientAddress: 3, ClientAuthFailureWindow: time.Minute})
	for i := range 3 {
		if rec := ts.clientCall("/connect/token", attacker, syncID, fmt.Sprint("guess-", i), ccForm()); rec.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	checkThrottled(t, ts.clientCall("/connect/token", attacker, syncID, "guess-4", ccForm()), "a wrong guess once blocked")
	rec := ts.clientCall("/connect/token", attacker, syncID, syncSecret, ccForm())
	checkThrottled(t, rec, "the right secret once blocked")
	if got := rec.Header().Get("Retry-After"); got != "60" {
		t.Errorf("Retry-After %q, want 60 (the window opened by the first failure)", got)
	}

	*ts.now = ts.now.Add(61 * time.Second)
	if rec := ts.clientCall("/connect/token", attacker, syncID, syncSecret, ccForm()); rec.Code != http.StatusOK {
		t.Fatalf("right secret after the window: %d %s", rec.Code, rec.Body)
	}
	// Two refused unjudged; the three wrong guesses were judged (401).
	wantRefusals(t, ts, map[string]float64{metrics.LimiterClientAuth: 2})
}

// The original reproduction: with the token bucket on, wrong guesses
// emptied the address's bucket (429) while the right secret, charged to
// the client's own bucket, got 200. Now the throttle stops the guessing
// first and the right secret is refused as well.
func TestClientAuthOracleWithTokenBucket(t *testing.T) {
	ts, _ := newAuditedServer(t, Limits{TokenRequestsPerSecond: 1, TokenBurst: 2, ClientAuthFailuresPerClientAddress: 5})
	statuses := map[int]int{}
	for i := range 40 {
		statuses[ts.clientCall("/connect/token", attacker, syncID, fmt.Sprint("guess-", i), ccForm()).Code]++
	}
	if statuses[http.StatusOK] != 0 || statuses[http.StatusTooManyRequests] == 0 {
		t.Fatalf("guesses: %v", statuses)
	}
	checkThrottled(t, ts.clientCall("/connect/token", attacker, syncID, syncSecret, ccForm()), "the right secret after 40 guesses")
}

// Introspection and revocation authenticate clients through the same
// function: throttled (right secret refused once blocked) and audited.
func TestClientAuthThrottledAndAuditedAtEveryDoor(t *testing.T) {
	for _, door := range []struct{ path, name string }{
		{"/connect/token", doorToken},
		{"/connect/introspect", doorIntrospect},
		{"/connect/revocation", doorRevoke},
	} {
		t.Run(door.name, func(t *testing.T) {
			ts, sink := newAuditedServer(t, Limits{ClientAuthFailuresPerClientAddress: 2})
			f := url.Values{"token": {"some-token"}, "grant_type": {"client_credentials"}}
			for range 2 {
				if rec := ts.clientCall(door.path, attacker, syncID, "wrong", f); rec.Code != http.StatusUnauthorized {
					t.Fatalf("wrong secret: %d %s", rec.Code, rec.Body)
				}
			}
			checkThrottled(t, ts.clientCall(door.path, attacker, syncID, syncSecret, f), "right secret")

			events := sink.events(t, "client_auth.failed")
			if len(events) != 3 {
				t.Fatalf("%d client_auth.failed lines, want 3:\n%s", len(events), sink)
			}
			for i, e := range events {
				wantReason := "wrong_secret"
				if i == 2 {
					wantReason = "throttled"
				}
				if e["endpoint"] != door.name || e["client_id"] != syncID || e["reason"] != wantReason ||
					e["remote_addr"] != attacker || e["method"] != "client_secret_basic" {
					t.Errorf("line %d: %v", i, e)
				}
			}
			if strings.Contains(sink.String(), `"wrong"`) {
				t.Error("a secret reached the audit log")
			}
		})
	}
}

// An unknown client id is audited by its short hash only: the raw id
// (arbitrary input, possibly a secret pasted in the wrong field) never
// reaches the log.
func TestClientAuthUnknownClientAuditedByHash(t *testing.T) {
	ts, sink := newAuditedServer(t, Limits{})
	const id = "com.example/no-such-app-MARKER"
	for _, door := range []string{"/connect/token", "/connect/introspect", "/connect/revocation"} {
		f := url.Values{"client_id": {id}, "client_secret": {"x"}, "token": {"t"}, "grant_type": {"client_credentials"}}
		req := httptest.NewRequest(http.MethodPost, ts.issuer+door, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		ts.Config.Handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("%s: %d", door, rec.Code)
		}
	}
	events := sink.events(t, "client_auth.failed")
	if len(events) != 3 {
		t.Fatalf("%d lines, want one per endpoint:\n%s", len(events), sink)
	}
	for _, e := range events {
		if _, named := e["client_id"]; named || e["client_id_hash"] != audit.TokenHash(id) || e["reason"] != "unknown_client" || e["method"] != "client_secret_post" {
			t.Errorf("unknown client line: %v", e)
		}
	}
	if strings.Contains(sink.String(), "MARKER") {
		t.Error("the unknown client id reached the audit log")
	}
}

// Public apps may not introspect: audited as a failed client
// authentication at that endpoint.
func TestIntrospectionByPublicAppAudited(t *testing.T) {
	ts, sink := newAuditedServer(t, Limits{})
	f := url.Values{"client_id": {"com.example/spa"}, "token": {"t"}}
	if rec := ts.clientCall("/connect/introspect", attacker, "", "", f); rec.Code != http.StatusUnauthorized {
		t.Fatalf("public app introspecting: %d", rec.Code)
	}
	if ev := sink.events(t, "client_auth.failed"); len(ev) != 1 || ev[0]["reason"] != "public_client" || ev[0]["client_id"] != "com.example/spa" {
		t.Fatalf("audit: %v", ev)
	}
}

// Strangers cannot lock a client out. Failures from other addresses
// fill only their own keys; the per-client cap, reached by guesses from
// many addresses, spares the addresses the client authenticated from,
// and it ends with its window.
func TestClientAuthStrangersCannotLockOut(t *testing.T) {
	ts, _ := newAuditedServer(t, Limits{
		ClientAuthFailuresPerClientAddress: 3, ClientAuthFailuresPerAddress: 5,
		ClientAuthFailuresPerClient: 12, ClientAuthFailureWindow: time.Minute,
	})
	const home = "192.0.2.10:5000" // where the real client runs
	if rec := ts.clientCall("/connect/token", home, syncID, syncSecret, ccForm()); rec.Code != http.StatusOK {
		t.Fatalf("first sign of the client: %d", rec.Code)
	}

	// One stranger: blocked itself, the client is not.
	for range 10 {
		ts.clientCall("/connect/token", attacker, syncID, "wrong", ccForm())
	}
	checkThrottled(t, ts.clientCall("/connect/token", attacker, syncID, syncSecret, ccForm()), "the stranger")
	if rec := ts.clientCall("/connect/token", home, syncID, syncSecret, ccForm()); rec.Code != http.StatusOK {
		t.Fatalf("client from home after one stranger: %d %s", rec.Code, rec.Body)
	}
	// A fresh address that never failed is not blocked either.
	if rec := ts.clientCall("/connect/token", "192.0.2.11:1", syncID, syncSecret, ccForm()); rec.Code != http.StatusOK {
		t.Fatalf("client from a new address after one stranger: %d %s", rec.Code, rec.Body)
	}

	// Many strangers: the client's cap of 12 is reached (3 + 3·3 more).
	for i := range 3 {
		addr := fmt.Sprintf("203.0.113.%d:1", i+1)
		for range 3 {
			ts.clientCall("/connect/token", addr, syncID, "wrong", ccForm())
		}
	}
	checkThrottled(t, ts.clientCall("/connect/token", "203.0.113.99:1", syncID, syncSecret, ccForm()), "an unseen address once the client's cap is reached")
	for _, addr := range []string{home, "192.0.2.11:7"} {
		if rec := ts.clientCall("/connect/token", addr, syncID, syncSecret, ccForm()); rec.Code != http.StatusOK {
			t.Fatalf("client from its own address %s under a distributed attack: %d %s", addr, rec.Code, rec.Body)
		}
	}
	// Another client is untouched by the attack on this one.
	if rec := ts.clientCall("/connect/token", "203.0.113.99:1", "com.example/other", "other", url.Values{"token": {"t"}}); rec.Code == http.StatusTooManyRequests {
		t.Fatal("another client throttled")
	}
	// Time-bounded: after the window everyone may try again.
	*ts.now = ts.now.Add(61 * time.Second)
	if rec := ts.clientCall("/connect/token", "203.0.113.99:1", syncID, syncSecret, ccForm()); rec.Code != http.StatusOK {
		t.Fatalf("after the window: %d", rec.Code)
	}
}

// A client misconfigured with a wrong secret blocks itself, not the
// other clients at its address (the per-pair limit is below the
// per-address one); many failing ids from one address block the address.
func TestClientAuthPairBelowAddress(t *testing.T) {
	ts, _ := newAuditedServer(t, Limits{ClientAuthFailuresPerClientAddress: 2, ClientAuthFailuresPerAddress: 6})
	const host = "192.0.2.20:1"
	for range 5 {
		ts.clientCall("/connect/token", host, webID, "stale", ccForm())
	}
	checkThrottled(t, ts.clientCall("/connect/token", host, webID, webSecret, ccForm()), "the misconfigured client")
	if rec := ts.clientCall("/connect/token", host, syncID, syncSecret, ccForm()); rec.Code != http.StatusOK {
		t.Fatalf("its neighbour: %d %s", rec.Code, rec.Body)
	}
	// Invented ids from one address: the address is blocked for all.
	for i := range 4 {
		ts.clientCall("/connect/token", host, fmt.Sprint("invented-", i), "x", ccForm())
	}
	checkThrottled(t, ts.clientCall("/connect/token", host, syncID, syncSecret, ccForm()), "the address after 6 failures")
}

// Public clients have no secret to guess: no per-client key, so
// strangers cannot block a public app for its users.
func TestClientAuthPublicClientNotCapped(t *testing.T) {
	ts, _ := newAuditedServer(t, Limits{ClientAuthFailuresPerClientAddress: 1, ClientAuthFailuresPerClient: 2})
	for i := range 5 {
		ts.clientCall("/connect/token", fmt.Sprintf("203.0.113.%d:1", i+1), "com.example/spa", "a-secret", ccForm())
	}
	f := url.Values{"grant_type": {"client_credentials"}, "client_id": {"com.example/spa"}}
	if rec := ts.clientCall("/connect/token", "192.0.2.30:1", "", "", f); rec.Code == http.StatusTooManyRequests {
		t.Fatalf("public client from a new address: %d", rec.Code)
	}
}

func TestFailureCounter(t *testing.T) {
	now := testNow
	c := newFailureCounter(func() time.Time { return now }, 2, time.Minute)
	if c.blocked("k") != 0 {
		t.Fatal("blocked without failures")
	}
	c.fail("k")
	now = now.Add(10 * time.Second)
	c.fail("k")
	if got := c.blocked("k"); got != 50*time.Second {
		t.Fatalf("blocked %v, want 50s: the window is the first failure's", got)
	}
	if c.blocked("other") != 0 {
		t.Fatal("another key blocked")
	}
	now = now.Add(50 * time.Second)
	if c.blocked("k") != 0 {
		t.Fatal("still blocked after the window")
	}
	c.fail("k")
	if c.blocked("k") != 0 {
		t.Fatal("one failure in a new window blocks")
	}
}

// The table stays bounded under a spray of keys, and blocks in force
// survive it.
func TestFailureCounterBounded(t *testing.T) {
	now := testNow
	c := newFailureCounter(func() time.Time { return now }, 1, time.Minute)
	c.fail("victim")
	for i := range maxBuckets + 10 {
		c.fail(fmt.Sprint("spray-", i))
	}
	if len(c.keys) > maxBuckets {
		t.Fatalf("%d keys, want at most %d", len(c.keys), maxBuckets)
	}
	if c.blocked("victim") == 0 {
		t.Fatal("a block in force was dropped to make room")
	}
}

func TestThrottleAddr(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:4711":                     "192.0.2.7",
		"[2001:db8:1:2:aaaa::1]:443":         "2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb:cccc::9]:1":      "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:80":              "192.0.2.7",
		"not-an-address":                     "not-an-address",
		"[2001:db8:1:3::1]:443":              "2001:db8:1:3::/64",
		"[fe80::1%eth0]:1":                   "fe80::/64",
		"[2001:0db8:0001:0002:0000::5]:8080": "2001:db8:1:2::/64",
	} {
		if got := throttleAddr(in); got != want {
			t.Errorf("throttleAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
