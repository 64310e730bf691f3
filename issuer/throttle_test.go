package issuer

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/webui"
)

// The sign-in policy (throttle.go), attacked rule by rule. Requests go
// straight to the handler with r.RemoteAddr set as clientaddr's
// middleware leaves it (the real client), so one test can speak from
// many addresses; the clock is the test server's, and the delay's sleep
// is replaced by one that records the wait and moves that clock.

type loginHarness struct {
	t     *testing.T
	ts    *testServer
	srv   *Server
	q     url.Values // the authorization request every attempt carries
	slept []time.Duration
}

func newLoginHarness(t *testing.T, lim Limits) *loginHarness {
	t.Helper()
	ts := newTestServer(t, func(c *testConfig) { c.Limits = lim })
	h := &loginHarness{t: t, ts: ts, srv: ts.Config.Handler.(*Server), q: authzQuery(webID, webRedirect, "read", newPKCE())}
	h.srv.login.sleep = func(_ context.Context, d time.Duration) error {
		h.slept = append(h.slept, d)
		*ts.now = ts.now.Add(d)
		return nil
	}
	return h
}

// attempt posts the login form for login and pw from the client address
// addr.
func (h *loginHarness) attempt(addr, login, pw string) *httptest.ResponseRecorder {
	h.t.Helper()
	return postLogin(h.srv, h.ts.issuer, h.q, addr, login, pw)
}

func postLogin(srv *Server, issuer string, q url.Values, addr, login, pw string) *httptest.ResponseRecorder {
	csrf := strings.Repeat("c", csrfTokenLen)
	f := url.Values{}
	for k, v := range q {
		f[k] = v
	}
	f.Set("login", login)
	f.Set("password", pw)
	f.Set("csrf_token", csrf)
	r := httptest.NewRequest(http.MethodPost, issuer+"/account/login", strings.NewReader(f.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: csrf})
	r.RemoteAddr = net.JoinHostPort(addr, "40000")
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	return w
}

func (h *loginHarness) advance(d time.Duration) { *h.ts.now = h.ts.now.Add(d) }

// wantSignedIn: the right password got through to the redirect.
func wantSignedIn(t *testing.T, w *httptest.ResponseRecorder, what string) {
	t.Helper()
	if w.Code != http.StatusFound || !strings.HasPrefix(w.Header().Get("Location"), webRedirect) {
		t.Fatalf("%s: %d, want 302 to the app; Retry-After %q", what, w.Code, w.Header().Get("Retry-After"))
	}
}

// wantThrottled: 429, Retry-After in whole seconds and the page saying
// how long in words.
func wantThrottled(t *testing.T, w *httptest.ResponseRecorder, retry, words, what string) {
	t.Helper()
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != retry ||
		!strings.Contains(w.Body.String(), "Try again in "+words+".") {
		t.Fatalf("%s: %d Retry-After %q, want 429 Retry-After %s saying %q:\n%s", what, w.Code, w.Header().Get("Retry-After"), retry, words, w.Body)
	}
}

// A stranger's 100 wrong passwords for alice from one address do not stop
// alice signing in from hers; the stranger's address is refused even
// with the right password.
func TestLoginStrangerCannotLockOutOwner(t *testing.T) {
	h := newLoginHarness(t, Limits{})
	for i := range 100 {
		want := http.StatusOK
		if i >= loginPairFailureLimit {
			want = http.StatusTooManyRequests
		}
		if w := h.attempt("203.0.113.7", "alice", fmt.Sprint("guess-", i)); w.Code != want {
			t.Fatalf("stranger's guess %d: %d, want %d", i, w.Code, want)
		}
	}
	wantSignedIn(t, h.attempt("198.51.100.2", "alice", "alice-pw"), "owner from her own address")
	if len(h.slept) != 0 {
		t.Errorf("one address's failures delayed the account: %v", h.slept)
	}
	wantThrottled(t, h.attempt("203.0.113.7", "alice", "alice-pw"), "900", "15 minutes", "right password from the stranger's address")
}

// Per account and address: the pair is refused until its oldest failure
// leaves the window; the same address for another account and the
// same account from another address are not; the owner's success clears
// her own typos.
func TestLoginPairBlock(t *testing.T) {
	h := newLoginHarness(t, Limits{LoginFailuresPerAccountAddress: 3, LoginFailureWindow: 10 * time.Minute})
	const x = "192.0.2.10"
	for i := range 3 {
		if w := h.attempt(x, "alice", "wrong"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), english(msgWrongCredentials)) {
			t.Fatalf("failure %d: %d", i, w.Code)
		}
		h.advance(time.Minute)
	}
	// The first failure was 3 minutes ago: 7 minutes left.
	wantThrottled(t, h.attempt(x, "alice", "alice-pw"), "420", "7 minutes", "the pair after 3 failures")
	wantThrottled(t, h.attempt(x, "ALICE", "alice-pw"), "420", "7 minutes", "the pair, login in other case")
	if w := h.attempt(x, "bob", "wrong"); w.Code != http.StatusOK {
		t.Fatalf("another account from the same address: %d", w.Code)
	}
	wantSignedIn(t, h.attempt("192.0.2.11", "alice", "alice-pw"), "the same account from another address")

	h.advance(7*time.Minute - time.Second)
	wantThrottled(t, h.attempt(x, "alice", "alice-pw"), "1", "1 second", "a second before the oldest failure leaves")
	h.advance(time.Second)
	wantSignedIn(t, h.attempt(x, "alice", "alice-pw"), "the pair once the oldest failure left the window")

	// Two failures, a success, two more: the success cleared the first two.
	for range 2 {
		h.attempt(x, "alice", "typo")
	}
	wantSignedIn(t, h.attempt(x, "alice", "alice-pw"), "after two typos")
	for range 2 {
		h.attempt(x, "alice", "typo")
	}
	wantSignedIn(t, h.attempt(x, "alice", "alice-pw"), "after two more typos: the success cleared the first")
	wantRefusals(t, h.ts, map[string]float64{metrics.LimiterLogin: 3})
}

// Per address across accounts (credential stuffing): one address
// failing on many accounts is refused for every account, alice's right
// password included; another address is not. An IPv6 address counts as
// its /64.
func TestLoginAddressBlock(t *testing.T) {
	h := newLoginHarness(t, Limits{LoginFailuresPerAddress: 20})
	for _, tc := range []struct{ name, attacker, neighbour, elsewhere string }{
		{"IPv4", "198.51.100.66", "", "198.51.100.67"},
		{"IPv6 /64", "2001:db8:1:2::%d", "2001:db8:1:2:ffff::1", "2001:db8:1:3::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 20 {
				addr := tc.attacker
				if strings.Contains(addr, "%d") {
					addr = fmt.Sprintf(addr, i+1) // a new address in the same /64 each time
				}
				if w := h.attempt(addr, fmt.Sprintf("%s-user%d", tc.name, i), "Winter2026!"); w.Code != http.StatusOK {
					t.Fatalf("stuffing attempt %d: %d", i, w.Code)
				}
			}
			blocked := strings.ReplaceAll(tc.attacker, "%d", "1")
			wantThrottled(t, h.attempt(blocked, "alice", "alice-pw"), "900", "15 minutes", "alice's right password from the stuffing address")
			if tc.neighbour != "" {
				wantThrottled(t, h.attempt(tc.neighbour, "alice", "alice-pw"), "900", "15 minutes", "another address in the same /64")
			}
			wantSignedIn(t, h.attempt(tc.elsewhere, "alice", "alice-pw"), "alice from another address")
		})
	}
}

// An account attacked from many addresses slows down: past
// LoginDelayAfter failures each attempt waits base·2^k, capped, the
// right password included, and the right password still signs in. It
// never locks, and the delay ages out with the window.
func TestLoginProgressiveDelay(t *testing.T) {
	h := newLoginHarness(t, Limits{LoginDelayAfter: 3, LoginDelayBase: time.Second, LoginDelayMax: 5 * time.Second})
	for i := range 12 {
		addr := fmt.Sprintf("10.1.0.%d", i+1) // each guess from a new address: no pair or address block
		if w := h.attempt(addr, "alice", "wrong"); w.Code != http.StatusOK {
			t.Fatalf("guess %d: %d", i, w.Code)
		}
	}
	// The first 3 guesses go through at once; then 1s, 2s, 4s and the 5s cap.
	want := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second,
		5 * time.Second, 5 * time.Second, 5 * time.Second}
	if !slices.Equal(h.slept, want) {
		t.Fatalf("delays %v, want %v", h.slept, want)
	}
	h.slept = nil
	wantSignedIn(t, h.attempt("10.9.9.9", "alice", "alice-pw"), "the right password while the account is attacked")
	if !slices.Equal(h.slept, []time.Duration{5 * time.Second}) {
		t.Fatalf("the right password waited %v, want the 5s cap", h.slept)
	}
	// The owner's success does not hand the attacker fresh fast guesses.
	h.slept = nil
	h.attempt("10.1.1.1", "alice", "wrong")
	if !slices.Equal(h.slept, []time.Duration{5 * time.Second}) {
		t.Fatalf("a guess after the owner's success waited %v, want 5s", h.slept)
	}
	// Another account is not slowed down.
	h.slept = nil
	if w := h.attempt("10.1.0.1", "bob", "wrong"); w.Code != http.StatusOK || len(h.slept) != 0 {
		t.Fatalf("another account: %d, waited %v", w.Code, h.slept)
	}
	// Once the window has passed, no wait.
	h.advance(loginFailureWindow)
	wantSignedIn(t, h.attempt("10.9.9.9", "alice", "alice-pw"), "after the window")
	if len(h.slept) != 0 {
		t.Fatalf("waited %v after the window", h.slept)
	}
}

func TestDelayFor(t *testing.T) {
	base, maxWait := 250*time.Millisecond, 4*time.Second
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {9, 0}, {10, 250 * time.Millisecond}, {11, 500 * time.Millisecond}, {12, time.Second},
		{14, 4 * time.Second}, {15, 4 * time.Second}, {1 << 20, 4 * time.Second},
	} {
		if got := delayFor(tc.failures, 10, base, maxWait); got != tc.want {
			t.Errorf("delayFor(%d) = %v, want %v", tc.failures, got, tc.want)
		}
	}
	// The counter keeps just enough failures to reach the cap.
	d := newDelayer(func() time.Time { return testNow }, 10, base, maxWait, time.Minute)
	for range 100 {
		d.failures.fail("a")
	}
	if n := d.failures.count("a"); n != 14 || d.current("a") != maxWait {
		t.Errorf("kept %d failures, delay %v; want 14 and the cap", n, d.current("a"))
	}
}

// Delayed attempts in progress are bounded: one per account and address,
// maxDelayedPerAccount per account; an attempt beyond them is answered
// 429 at once with Retry-After, its password unchecked, and does not
// count as a failure.
func TestLoginDelayedAttemptsBounded(t *testing.T) {
	ts := newTestServer(t, func(c *testConfig) {
		c.Limits = Limits{LoginDelayAfter: 1, LoginDelayBase: 3 * time.Second, LoginDelayMax: 3 * time.Second}
	})
	srv := ts.Config.Handler.(*Server)
	q := authzQuery(webID, webRedirect, "read", newPKCE())
	srv.login.sleep = func(context.Context, time.Duration) error { return nil }
	postLogin(srv, ts.issuer, q, "10.2.0.1", "alice", "wrong") // the delay is now on

	sleeping, wake := make(chan struct{}), make(chan struct{})
	srv.login.sleep = func(ctx context.Context, d time.Duration) error {
		sleeping <- struct{}{}
		<-wake
		return nil
	}
	var wg sync.WaitGroup
	codes := make([]int, maxDelayedPerAccount)
	for i := range maxDelayedPerAccount {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = postLogin(srv, ts.issuer, q, fmt.Sprintf("10.2.1.%d", i), "alice", "wrong").Code
		}()
		<-sleeping
	}
	before := srv.login.delay.failures.count("alice")
	wantThrottled(t, postLogin(srv, ts.issuer, q, "10.2.1.0", "alice", "alice-pw"), "3", "3 seconds", "a second delayed attempt from one address")
	wantThrottled(t, postLogin(srv, ts.issuer, q, "10.2.2.0", "alice", "alice-pw"), "3", "3 seconds", "an attempt beyond the account's share")
	if after := srv.login.delay.failures.count("alice"); after != before {
		t.Errorf("refused attempts counted as failures: %d -> %d", before, after)
	}
	close(wake)
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("delayed attempt %d: %d, want 200 (wrong password)", i, c)
		}
	}
	// The slots are free again.
	srv.login.sleep = func(context.Context, time.Duration) error { return nil }
	wantSignedIn(t, postLogin(srv, ts.issuer, q, "10.2.2.0", "alice", "alice-pw"), "after the delayed attempts finished")

	// A client that leaves while it waits gets nothing and is not counted.
	srv.login.sleep = func(ctx context.Context, _ time.Duration) error { return context.Canceled }
	before = srv.login.delay.failures.count("alice")
	if w := postLogin(srv, ts.issuer, q, "10.2.3.0", "alice", "wrong"); w.Body.Len() != 0 {
		t.Errorf("an abandoned attempt was answered: %d", w.Code)
	}
	if srv.login.delay.failures.count("alice") != before || srv.login.delay.total != 0 {
		t.Error("an abandoned attempt was counted or kept its slot")
	}
}

// No oracle: the same attack on a known and on an unknown login gets the
// same answers, Retry-After values, pages (login aside) and delays.
func TestLoginThrottleSameForUnknownAccounts(t *testing.T) {
	q := authzQuery(webID, webRedirect, "read", newPKCE())
	run := func(login string) []string {
		h := newLoginHarness(t, Limits{LoginDelayAfter: 4, LoginDelayBase: time.Second, LoginDelayMax: 2 * time.Second})
		h.q = q
		var out []string
		note := func(w *httptest.ResponseRecorder) {
			page := strings.ReplaceAll(w.Body.String(), h.ts.issuer, "ISSUER")
			out = append(out, fmt.Sprintf("%d %q %v %s", w.Code, w.Header().Get("Retry-After"), h.slept, strings.ReplaceAll(page, login, "LOGIN")))
			h.slept = nil
		}
		for i := range 6 { // from many addresses: the delay
			note(h.attempt(fmt.Sprintf("10.3.0.%d", i), login, "wrong"))
		}
		for range loginPairFailureLimit + 2 { // from one: the pair block
			note(h.attempt("10.3.1.1", login, "wrong"))
		}
		return out
	}
	known, unknown := run("alice"), run("nobody-here")
	for i := range known {
		if known[i] != unknown[i] {
			t.Fatalf("attempt %d differs:\nknown:   %.300s\nunknown: %.300s", i, known[i], unknown[i])
		}
	}
	if !strings.HasPrefix(known[len(known)-1], "429 ") {
		t.Fatalf("the attack was never throttled: %.200s", known[len(known)-1])
	}
}

func TestWaitInWords(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "1 second"}, {time.Millisecond, "1 second"}, {time.Second, "1 second"}, {1500 * time.Millisecond, "2 seconds"},
		{119 * time.Second, "119 seconds"}, {2 * time.Minute, "2 minutes"}, {14*time.Minute + time.Second, "15 minutes"},
	} {
		if got := webui.Language("en").Wait(retrySeconds(tc.d)); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestLoginAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:5000":          "192.0.2.1",
		"[2001:db8::1]:5000":      "2001:db8::/64",
		"[2001:db8::ffff:1:2]:1":  "2001:db8::/64",
		"[::ffff:192.0.2.1]:5000": "192.0.2.1",
		"[fe80::1%eth0]:5000":     "fe80::/64",
		"not an address":          "not an address",
		"[2001:db8:0:1::1]:443":   "2001:db8:0:1::/64",
	} {
		if got := loginAddressKey(in); got != want {
			t.Errorf("loginAddressKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// The key table is bounded, and a full table drops the key that failed
// least recently, not one under attack.
func TestThrottleEvictsStalest(t *testing.T) {
	now := testNow
	th := newThrottle(func() time.Time { return now }, 5, time.Hour)
	th.fail("spray-0") // the stalest
	now = now.Add(time.Second)
	th.fail("victim")
	for i := 1; i < maxThrottleKeys-1; i++ {
		if i == 1000 {
			now = now.Add(time.Second)
			th.fail("victim") // still being attacked
		}
		th.fail(fmt.Sprint("spray-", i))
	}
	now = now.Add(time.Second)
	th.fail("one more")
	if len(th.entries) != maxThrottleKeys {
		t.Fatalf("%d keys, want %d", len(th.entries), maxThrottleKeys)
	}
	if th.count("victim") != 2 || th.count("spray-0") != 0 {
		t.Errorf("victim %d failures, spray-0 %d: the wrong key was dropped", th.count("victim"), th.count("spray-0"))
	}
}
