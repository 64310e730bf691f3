package session_test

import (
	"testing"
	"time"

	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/store/memory"
)

// BenchmarkAcquireKnownSession is the per-request cost of a session this
// process knows: a map look-up under a read lock and an atomic update of
// the call time, no store round trip.
func BenchmarkAcquireKnownSession(b *testing.B) {
	f := newFixture(b, memory.New(), func(c *session.Config) { c.Clock = time.Now })
	c := user("alice", "sid-1")
	if _, err := f.m.Acquire(b.Context(), c); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.m.Acquire(b.Context(), c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
