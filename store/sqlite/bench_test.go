package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/sqlstore"
	"github.com/erpgate/erpgate/store/storetest"
)

// BenchmarkOpenSession opens new sessions under a license cap with many
// already open: with the kept counter (migrations/0004) the cost does not
// grow with the open count, as a count(*) per open did.
//
//	go test ./store/sqlite -run '^$' -bench OpenSession -benchmem
func BenchmarkOpenSession(b *testing.B) {
	for _, open := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("open=%d", open), func(b *testing.B) {
			ctx := b.Context()
			s, err := Open(ctx, filepath.Join(b.TempDir(), "erpgate.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			// One transaction for the fill, so setting up 100,000 rows
			// takes a second, not minutes.
			if _, err := s.writer.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
				INSERT INTO sessions (`+sqlstore.SessionColumns+`)
				SELECT 'fill-' || i, 'u' || i, 'app', 'user', 0, 1, 1, NULL, NULL, '' FROM n WHERE ?1 > 0`, open); err != nil {
				b.Fatal(err)
			}
			lic := store.License{Slots: 10_000_000}
			now := time.Now()
			b.ResetTimer()
			for i := range b.N {
				sess := store.Session{ID: fmt.Sprintf("bench-%d", i), Subject: "u", ClientID: "app",
					Kind: store.SessionUser, OpenedAt: now, LastSeenAt: now}
				if _, err := s.OpenSession(ctx, sess, lic); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenSessionParallel opens new sessions from 64 goroutines, as
// first calls with new tokens arrive at a busy gateway: concurrent writes
// share commits (batch.go), so the rate is not one fsync per session.
//
//	go test ./store/sqlite -run '^$' -bench OpenSessionParallel
func BenchmarkOpenSessionParallel(b *testing.B) {
	ctx := b.Context()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "erpgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.OpenSessionsParallel(b, s, store.License{Slots: 10_000_000})
}
