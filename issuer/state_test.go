package issuer

import (
	"testing"
	"time"
)

// TestInheritState: a server replacing another on reload keeps its
// sign-in throttles and token buckets when their limits are unchanged,
// and starts afresh where they changed.
func TestInheritState(t *testing.T) {
	clock := func() time.Time { return testNow }
	mk := func(pair, tokenRate int) *Server {
		return &Server{
			login:        newLoginGuard(clock, Limits{LoginFailuresPerAccountAddress: pair}.withDefaults()),
			tokenLimiter: newBucketLimiter(clock, tokenRate, 10),
		}
	}
	old := mk(5, 10)
	same := mk(5, 10)
	same.InheritState(old)
	if same.login.pairs != old.login.pairs || same.login.addresses != old.login.addresses ||
		same.login.delay != old.login.delay || same.tokenLimiter != old.tokenLimiter {
		t.Error("unchanged limits: state not inherited")
	}
	changed := mk(3, 20)
	changed.InheritState(old)
	if changed.login.pairs == old.login.pairs || changed.tokenLimiter == old.tokenLimiter {
		t.Error("changed limits: old state inherited")
	}
	if changed.login.addresses != old.login.addresses || changed.login.delay != old.login.delay {
		t.Error("unchanged address limit and delay: state not inherited")
	}
	slower := &Server{login: newLoginGuard(clock, Limits{LoginDelayMax: 8 * time.Second}.withDefaults())}
	slower.InheritState(old)
	if slower.login.delay == old.login.delay || slower.login.pairs != old.login.pairs {
		t.Error("a changed delay inherited, or unchanged pair limits not")
	}
	off := mk(5, 0) // token limit turned off
	off.InheritState(old)
	if off.tokenLimiter != nil {
		t.Error("a limit turned off came back")
	}
	off.InheritState(nil) // no old server: nothing happens
}
