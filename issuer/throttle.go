package issuer

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/erpgate/erpgate/clientaddr"
)

// The sign-in policy (README "Security notes"), after the OWASP
// Authentication Cheat Sheet ("Account Lockout": a lockout anyone can
// trigger is a denial of service, so prefer slowing down to locking) and
// the OWASP Credential Stuffing Prevention Cheat Sheet. Failed sign-ins
// are counted three ways, each inside LoginFailureWindow:
//
//   - per account and address: a pair that reached
//     LoginFailuresPerAccountAddress is refused (429) until its oldest
//     counted failure leaves the window. Whoever guesses from one address
//     stops there and blocks nobody else: the owner signing in from
//     another address is not affected.
//   - per address, across accounts: an address that reached
//     LoginFailuresPerAddress (credential stuffing, password spraying)
//     is refused for every account.
//   - per account, from any address: once an account has LoginDelayAfter
//     failures, every attempt on it, the right password included, waits
//     LoginDelayBase·2^k before its password is checked (k the failures
//     past LoginDelayAfter), never more than LoginDelayMax. An account
//     attacked from many addresses slows down; it never locks.
//
// The wait is a sleep, so the owner's right password still signs in. To
// keep sleeping requests from piling up, an account has at most
// maxDelayedPerAccount delayed attempts in progress (one per address),
// and the whole server maxDelayedTotal; an attempt beyond them is
// answered 429 with Retry-After at once, its password unchecked.
//
// Accounts are keyed by the login as typed (lower-cased) whether or not it
// exists, so unknown logins are counted, delayed and refused exactly like
// known ones and no answer says which is which. Addresses are the real
// client address (clientaddr: r.RemoteAddr behind trusted_proxies); an
// IPv6 address counts as its /64, the block one subscriber gets.
// A successful sign-in clears its own pair's failures only: the account's
// count ages out of the window, so an attacker gains nothing from the
// owner signing in.

// Sign-in throttling defaults.
const (
	loginPairFailureLimit    = 5
	loginAddressFailureLimit = 50
	loginFailureWindow       = 15 * time.Minute
	loginDelayAfter          = 10
	loginDelayBase           = 250 * time.Millisecond
	loginDelayMax            = 4 * time.Second
)

// Bounds on delayed sign-in attempts in progress.
const (
	maxDelayedPerAccount = 2
	maxDelayedTotal      = 1024
)

// loginGuard applies the sign-in policy above.
type loginGuard struct {
	pairs     *throttle // key: pairKey(account, address)
	addresses *throttle
	delay     *delayer
	// sleep waits d or until ctx ends; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

func newLoginGuard(clock func() time.Time, l Limits) *loginGuard {
	return &loginGuard{
		pairs:     newThrottle(clock, l.LoginFailuresPerAccountAddress, l.LoginFailureWindow),
		addresses: newThrottle(clock, l.LoginFailuresPerAddress, l.LoginFailureWindow),
		delay:     newDelayer(clock, l.LoginDelayAfter, l.LoginDelayBase, l.LoginDelayMax, l.LoginFailureWindow),
		sleep:     sleepContext,
	}
}

// loginAccountKey is the account a sign-in attempt names, known or not.
func loginAccountKey(login string) string { return strings.ToLower(login) }

// loginAddressKey is the client address a sign-in attempt counts
// against: the real client's IP (clientaddr.IP), an IPv6 one as its /64.
func loginAddressKey(remoteAddr string) string {
	ip := clientaddr.IP(remoteAddr)
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// pairKey is unambiguous: an address never contains a space.
func pairKey(account, address string) string { return address + " " + account }

// blocked is how long an attempt on account from address is refused, and
// the audit reason; 0 when it is not.
func (g *loginGuard) blocked(account, address string) (time.Duration, string) {
	if w := g.addresses.retryAfter(address); w > 0 {
		return w, "throttled_address"
	}
	if w := g.pairs.retryAfter(pairKey(account, address)); w > 0 {
		return w, "throttled_account_address"
	}
	return 0, ""
}

// hold makes an attempt on account from address wait the account's
// current delay. When it returns a release func, the attempt may check
// its password and must call release after. Otherwise either busy > 0
// (the account or the server has its share of delayed attempts in
// progress; answer 429, retry after busy) or err is ctx's error (the
// client left during the wait).
func (g *loginGuard) hold(ctx context.Context, account, address string) (release func(), busy time.Duration, err error) {
	wait := g.delay.current(account)
	if wait <= 0 {
		return func() {}, 0, nil
	}
	key := pairKey(account, address)
	if !g.delay.acquire(account, key) {
		return nil, wait, nil
	}
	if err := g.sleep(ctx, wait); err != nil {
		g.delay.release(account, key)
		return nil, 0, err
	}
	return func() { g.delay.release(account, key) }, 0, nil
}

// failed counts a failed sign-in on account from address.
func (g *loginGuard) failed(account, address string) {
	g.pairs.fail(pairKey(account, address))
	g.addresses.fail(address)
	g.delay.failures.fail(account)
}

// succeeded clears the failures of account from address (the owner's own
// typos); the address's and the account's counts age out.
func (g *loginGuard) succeeded(account, address string) {
	g.pairs.reset(pairKey(account, address))
}

// inherit takes over old's counters where their limits are unchanged.
func (g *loginGuard) inherit(old *loginGuard) {
	if g == nil || old == nil {
		return
	}
	if sameThrottle(g.pairs, old.pairs) {
		g.pairs = old.pairs
	}
	if sameThrottle(g.addresses, old.addresses) {
		g.addresses = old.addresses
	}
	if d, o := g.delay, old.delay; d.after == o.after && d.base == o.base && d.max == o.max && sameThrottle(d.failures, o.failures) {
		g.delay = old.delay
	}
}

func sameThrottle(a, b *throttle) bool {
	return a != nil && b != nil && a.limit == b.limit && a.window == b.window
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// delayer is the per-account progressive delay and the delayed attempts
// in progress.
type delayer struct {
	failures  *throttle // keeps just enough failures to reach max
	after     int
	base, max time.Duration

	mu      sync.Mutex
	running map[string]int      // per account
	pairs   map[string]struct{} // per pairKey: one each
	total   int
}

func newDelayer(clock func() time.Time, after int, base, max time.Duration, window time.Duration) *delayer {
	steps := 0
	for w := base; w < max; w *= 2 {
		steps++
	}
	return &delayer{
		failures: newThrottle(clock, after+steps, window),
		after:    after, base: base, max: max,
		running: map[string]int{}, pairs: map[string]struct{}{},
	}
}

// current is the wait of the next attempt on account.
func (d *delayer) current(account string) time.Duration {
	return delayFor(d.failures.count(account), d.after, d.base, d.max)
}

// delayFor is base·2^(failures-after), at most max; 0 under after.
func delayFor(failures, after int, base, max time.Duration) time.Duration {
	if failures < after {
		return 0
	}
	w := base
	for k := failures - after; k > 0 && w < max; k-- {
		w *= 2
	}
	return min(w, max)
}

func (d *delayer) acquire(account, pair string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, dup := d.pairs[pair]; dup || d.running[account] >= maxDelayedPerAccount || d.total >= maxDelayedTotal {
		return false
	}
	d.pairs[pair] = struct{}{}
	d.running[account]++
	d.total++
	return true
}

func (d *delayer) release(account, pair string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.pairs, pair)
	if d.running[account]--; d.running[account] <= 0 {
		delete(d.running, account)
	}
	d.total--
}

// throttle counts recent login failures per key and blocks a key that
// reached its limit until its oldest counted failure leaves the window.
// It keeps at most limit failures per key.
type throttle struct {
	mu      sync.Mutex
	clock   func() time.Time
	limit   int
	window  time.Duration
	entries map[string][]time.Time
}

// maxThrottleKeys bounds memory under a spray of distinct logins.
const maxThrottleKeys = 100_000

func newThrottle(clock func() time.Time, limit int, window time.Duration) *throttle {
	return &throttle{clock: clock, limit: limit, window: window, entries: map[string][]time.Time{}}
}

// retryAfter is how long key is blocked (0: not blocked).
func (t *throttle) retryAfter(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	fails := t.recent(key)
	if len(fails) < t.limit {
		return 0
	}
	return fails[0].Add(t.window).Sub(t.clock())
}

// count is key's failures inside the window (at most limit).
func (t *throttle) count(key string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.recent(key))
}

func (t *throttle) fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.entries[key]; !ok && len(t.entries) >= maxThrottleKeys {
		t.evict()
	}
	fails := append(t.recent(key), t.clock())
	if len(fails) > t.limit {
		fails = fails[len(fails)-t.limit:]
	}
	t.entries[key] = fails
}

// evict makes room for a new key: it drops every key with no failure left
// in the window or, when all are live, the one that failed least
// recently (a key under attack keeps failing, so it is not the one
// dropped).
func (t *throttle) evict() {
	stalest, when := "", time.Time{}
	for k := range t.entries {
		fails := t.recent(k)
		if len(fails) == 0 {
			continue
		}
		if last := fails[len(fails)-1]; stalest == "" || last.Before(when) {
			stalest, when = k, last
		}
	}
	if len(t.entries) >= maxThrottleKeys {
		delete(t.entries, stalest)
	}
}

func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}

// recent returns key's failures inside the window, dropping older ones.
func (t *throttle) recent(key string) []time.Time {
	fails := t.entries[key]
	cut := t.clock().Add(-t.window)
	i := 0
	for i < len(fails) && !fails[i].After(cut) {
		i++
	}
	if i == len(fails) {
		delete(t.entries, key)
		return nil
	}
	t.entries[key] = fails[i:]
	return fails[i:]
}
