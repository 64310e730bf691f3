package issuer

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

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
		return "address:" + clientIP(r.RemoteAddr)
	case app.Public:
		return "public:" + app.ID + " " + clientIP(r.RemoteAddr)
	default:
		return "client:" + app.ID
	}
}

// errTooManyRequests answers a token request over its client's rate.
// RFC 6749 has no rate-limit code; temporarily_unavailable (§4.1.2.1) is
// the closest, sent with 429 and Retry-After (RFC 6585 §4).
func errTooManyRequests(wait time.Duration) *Error {
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	e := ErrTemporarilyUnavailable.WithDescription("too many requests; retry after " + strconv.Itoa(secs) + " s")
	e.Status = http.StatusTooManyRequests
	e.retryAfter = secs
	return e
}
