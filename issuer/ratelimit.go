package issuer

import (
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/clientaddr"
	"github.com/erpgate/erpgate/directory"
)

// bucketLimiter is a token bucket per key: each key holds up to burst
// tokens, refilled at rate per second; a request takes one. The clock is
// injected so tests move time instead of sleeping.
type bucketLimiter struct {
	mu      sync.Mutex
	clock   func() time.Time
	rate    float64 // tokens per second
	burst   float64
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds memory under a spray of distinct addresses; full
// buckets carry no state worth keeping and are dropped first.
const maxBuckets = 100_000

func newBucketLimiter(clock func() time.Time, perSecond, burst int) *bucketLimiter {
	if perSecond <= 0 {
		return nil // no limit
	}
	burst = max(burst, 1)
	return &bucketLimiter{clock: clock, rate: float64(perSecond), burst: float64(burst), buckets: map[string]*bucket{}}
}

// take spends one token of key's bucket. When the bucket is empty it
// returns false and how long until a token is back.
func (l *bucketLimiter) take(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

func (l *bucketLimiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(l.burst, b.tokens+el.Seconds()*l.rate)
		b.last = now
	}
}

// evict drops buckets that have refilled completely; if none has, the
// whole table is reset rather than grown (a spray of addresses must not
// exhaust memory; the cost is a fresh burst for everyone).
func (l *bucketLimiter) evict(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
	}
}

// tokenRateKey is the bucket a token request is charged to: its client
// when the client authenticated, else the caller's address, which every
// unknown or failed client at that address shares. A public app has no
// secret, so anyone can send its client_id: its buckets are per client
// and address, or one caller could drain the bucket of all its users.
func tokenRateKey(r *http.Request, app *directory.App) string {
	switch {
	case app == nil:
		return "address:" + clientaddr.IP(r.RemoteAddr)
	case app.Public:
		return "public:" + app.ID + " " + clientaddr.IP(r.RemoteAddr)
	default:
		return "client:" + app.ID
	}
}

// refusedBy counts a request that limiter refused with 429
// (erpgate_rate_limit_refusals_total).
func (s *Server) refusedBy(limiter string) {
	s.cfg.Metrics.RateLimitRefusals.WithLabelValues(limiter).Inc()
}

// errTooManyRequests answers a token request over its client's rate.
// RFC 6749 has no rate-limit code; temporarily_unavailable (§4.1.2.1) is
// the closest, sent with 429 and Retry-After (RFC 6585 §4).
func errTooManyRequests(wait time.Duration) *Error {
	return tooMany("too many requests", wait)
}

// tooMany is a 429 saying what there was too much of and when to retry.
func tooMany(what string, wait time.Duration) *Error {
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	e := ErrTemporarilyUnavailable.WithDescription(what + "; retry after " + strconv.Itoa(secs) + " s")
	e.Status = http.StatusTooManyRequests
	e.retryAfter = secs
	return e
}

// Client-authentication throttle defaults (Limits.ClientAuth*).
const (
	clientAuthFailuresPerPair    = 10
	clientAuthFailuresPerAddress = 30
	clientAuthFailuresPerClient  = 100
	clientAuthFailureWindow      = 15 * time.Minute
	// knownAddressTTL is how long an address that authenticated as a
	// client stays exempt from that client's own cap.
	knownAddressTTL = 24 * time.Hour
)

// clientAuthThrottle decides, before a client's secret is looked at,
// whether an attempt may be judged at all (SPEC §3, issue 15). It counts
// failed client authentications on three keys:
//
//   - the (client id, address) pair: one caller guessing one client;
//   - the address: one caller guessing across clients, or inventing ids;
//   - the confidential client: many addresses guessing one secret.
//
// A key that reached its limit blocks every attempt on it, with the
// right secret too, until the window that its first failure opened
// closes: a blocked attempt is answered 429 without the secret being
// compared, so a blocked key is no oracle. A stranger's failures fill
// only the stranger's own pair and address keys; only the client key
// reaches other addresses, and it spares the addresses the client
// authenticated from in the last knownAddressTTL, so a flood from
// elsewhere slows the flood down without locking the client out of its
// own machines. Public clients have no secret to guess and no client
// key.
type clientAuthThrottle struct {
	pair, address, client *failureCounter
	known                 *knownAddresses
}

func newClientAuthThrottle(clock func() time.Time, l Limits) *clientAuthThrottle {
	def := func(v, d int) int {
		if v <= 0 {
			return d
		}
		return v
	}
	window := l.ClientAuthFailureWindow
	if window <= 0 {
		window = clientAuthFailureWindow
	}
	return &clientAuthThrottle{
		pair:    newFailureCounter(clock, def(l.ClientAuthFailuresPerClientAddress, clientAuthFailuresPerPair), window),
		address: newFailureCounter(clock, def(l.ClientAuthFailuresPerAddress, clientAuthFailuresPerAddress), window),
		client:  newFailureCounter(clock, def(l.ClientAuthFailuresPerClient, clientAuthFailuresPerClient), window),
		known:   &knownAddresses{clock: clock, ttl: knownAddressTTL, seen: map[string]time.Time{}},
	}
}

// attempt names who tries to authenticate: the claimed client id, the
// app when the id names a confidential one, and the caller's address.
type attempt struct {
	id           string // as sent, "" when none could be read
	confidential bool   // id names a confidential app (enabled or not)
	addr         string // throttleAddr of the real client address
}

func (a attempt) pairKey() string { return clientKey(a.id) + " " + a.addr }

// clientKey bounds what a client id costs in memory: ids are hashed, so
// a megabyte of invented id is 12 bytes of key.
func clientKey(id string) string { return audit.TokenHash(id) }

// blocked reports how long the attempt must wait (0: it may be judged).
func (t *clientAuthThrottle) blocked(a attempt) time.Duration {
	wait := max(t.pair.blocked(a.pairKey()), t.address.blocked(a.addr))
	if a.confidential && !t.known.has(a.pairKey()) {
		wait = max(wait, t.client.blocked(clientKey(a.id)))
	}
	return wait
}

// failed counts a failed authentication on every key of the attempt.
func (t *clientAuthThrottle) failed(a attempt) {
	t.pair.fail(a.pairKey())
	t.address.fail(a.addr)
	if a.confidential {
		t.client.fail(clientKey(a.id))
	}
}

// succeeded remembers the address as one the client uses.
func (t *clientAuthThrottle) succeeded(a attempt) {
	if a.confidential {
		t.known.add(a.pairKey())
	}
}

// throttleAddr is the key of a client address: the IP, and for IPv6 its
// /64, which one site holds as a whole (a caller with a /64 must not get
// 2^64 address keys).
func throttleAddr(remoteAddr string) string {
	ip := clientaddr.IP(remoteAddr)
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// failureCounter counts failures per key in a fixed window opened by the
// key's first failure; at limit failures the key is blocked until the
// window closes. The table is bounded: when full, closed windows are
// dropped (at most once a second, so a full table costs no sweep per
// request), and a new key that still finds no room is not counted —
// the blocks already in force stay.
type failureCounter struct {
	mu     sync.Mutex
	clock  func() time.Time
	limit  int
	window time.Duration
	keys   map[string]*failureWindow
	swept  time.Time
}

type failureWindow struct {
	n     int
	since time.Time
}

func newFailureCounter(clock func() time.Time, limit int, window time.Duration) *failureCounter {
	return &failureCounter{clock: clock, limit: limit, window: window, keys: map[string]*failureWindow{}}
}

func (c *failureCounter) blocked(key string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.keys[key]
	if f == nil {
		return 0
	}
	left := f.since.Add(c.window).Sub(c.clock())
	if left <= 0 {
		delete(c.keys, key)
		return 0
	}
	if f.n < c.limit {
		return 0
	}
	return left
}

func (c *failureCounter) fail(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	f := c.keys[key]
	if f != nil && !now.Before(f.since.Add(c.window)) {
		f = nil // the window closed: this failure opens a new one
	}
	if f == nil {
		if _, ok := c.keys[key]; !ok && len(c.keys) >= maxBuckets {
			if now.Sub(c.swept) >= time.Second {
				c.swept = now
				for k, w := range c.keys {
					if !now.Before(w.since.Add(c.window)) {
						delete(c.keys, k)
					}
				}
			}
			if len(c.keys) >= maxBuckets {
				return
			}
		}
		f = &failureWindow{since: now}
		c.keys[key] = f
	}
	f.n++
}

// knownAddresses remembers (client, address) pairs that authenticated,
// for ttl after the last success. Only a right secret adds to it, so a
// stranger cannot fill it; it is bounded all the same.
type knownAddresses struct {
	mu    sync.Mutex
	clock func() time.Time
	ttl   time.Duration
	seen  map[string]time.Time
}

func (k *knownAddresses) has(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	at, ok := k.seen[key]
	return ok && k.clock().Sub(at) < k.ttl
}

func (k *knownAddresses) add(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.clock()
	if _, ok := k.seen[key]; !ok && len(k.seen) >= maxBuckets {
		for key, at := range k.seen {
			if now.Sub(at) >= k.ttl {
				delete(k.seen, key)
			}
		}
		if len(k.seen) >= maxBuckets {
			return
		}
	}
	k.seen[key] = now
}
