package issuer

import (
	"sync"
	"time"
)

// throttle counts recent login failures per key (an account, an address)
// and blocks a key that reached its limit until its oldest counted
// failure leaves the window. Unknown accounts are counted like known ones,
// so a lockout says nothing about whether an account exists.
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

func (t *throttle) fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.entries) >= maxThrottleKeys {
		for k := range t.entries {
			if len(t.recent(k)) == 0 {
				delete(t.entries, k)
			}
		}
	}
	fails := append(t.recent(key), t.clock())
	if len(fails) > t.limit {
		fails = fails[len(fails)-t.limit:]
	}
	t.entries[key] = fails
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
