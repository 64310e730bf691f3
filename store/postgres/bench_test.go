package postgres

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

// BenchmarkOpenSessionParallel opens new sessions from 64 goroutines on
// the real server, under a license cap: every open takes the license
// row's lock and moves its counter, so this is the rate at which the
// replicas sharing a database can open sessions together.
//
//	go test ./store/postgres -run '^$' -bench OpenSessionParallel
func BenchmarkOpenSessionParallel(b *testing.B) {
	for _, lic := range []store.License{{Slots: 10_000_000}, {}} {
		b.Run(fmt.Sprintf("slots=%d", lic.Slots), func(b *testing.B) { benchOpenParallel(b, lic) })
	}
}

func benchOpenParallel(b *testing.B, lic store.License) {
	s, err := Open(b.Context(), schemaDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
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
