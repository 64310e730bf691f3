package issuer

import (
	"testing"
	"time"
)

// TestInheritState: a server replacing another on reload keeps its login
// throttles and token buckets when their limits are unchanged, and starts
// afresh where they changed.
func TestInheritState(t *testing.T) {
	clock := func() time.Time { return testNow }
	mk := func(account, tokenRate int) *Server {
		return &Server{
			accountThrottle: newThrottle(clock, account, time.Minute),
			addressThrottle: newThrottle(clock, 50, time.Minute),
			tokenLimiter:    newBucketLimiter(clock, tokenRate, 10),
		}
	}
	old := mk(5, 10)
	same := mk(5, 10)
	same.InheritState(old)
	if same.accountThrottle != old.accountThrottle || same.addressThrottle != old.addressThrottle || same.tokenLimiter != old.tokenLimiter {
		t.Error("unchanged limits: state not inherited")
	}
	changed := mk(3, 20)
	changed.InheritState(old)
	if changed.accountThrottle == old.accountThrottle || changed.tokenLimiter == old.tokenLimiter {
		t.Error("changed limits: old state inherited")
	}
	if changed.addressThrottle != old.addressThrottle {
		t.Error("unchanged address limit: state not inherited")
	}
	off := mk(5, 0) // token limit turned off
	off.InheritState(old)
	if off.tokenLimiter != nil {
		t.Error("a limit turned off came back")
	}
	off.InheritState(nil) // no old server: nothing happens
}
