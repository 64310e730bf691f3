package storetest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

// OpenSessionsParallel opens new sessions in s under lic from 32 ×
// GOMAXPROCS goroutines, as first calls with new tokens arrive at a busy
// gateway: the body of every backend's BenchmarkOpenSessionParallel, so
// their numbers compare.
func OpenSessionsParallel(b *testing.B, s store.Sessions, lic store.License) {
	now := time.Now()
	var n atomic.Int64
	b.SetParallelism(32) // × GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sess := store.Session{ID: fmt.Sprintf("bench-%d", n.Add(1)), Subject: "u", ClientID: "app",
				Kind: store.SessionUser, OpenedAt: now, LastSeenAt: now}
			if _, err := s.OpenSession(b.Context(), sess, lic); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
