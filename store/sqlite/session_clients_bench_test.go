package sqlite

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

// BenchmarkRecordSessionClient is what back-channel logout adds to every
// user token issue (code exchange, refresh): one upsert, the same pair
// again on refresh. Parallel callers share commits (batch.go).
//
//	go test ./store/sqlite -run '^$' -bench RecordSessionClient -benchmem
func BenchmarkRecordSessionClient(b *testing.B) {
	open := func(b *testing.B) *Store {
		s, err := Open(b.Context(), filepath.Join(b.TempDir(), "erpgate.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	}
	b.Run("refresh, same pair", func(b *testing.B) {
		s := open(b)
		now := time.Now()
		for i := range b.N {
			c := store.SessionClient{SessionID: "sid", ClientID: "app", Subject: "alice", SeenAt: now.Add(time.Duration(i) * time.Millisecond)}
			if err := s.RecordSessionClient(b.Context(), c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel, new sessions", func(b *testing.B) {
		s := open(b)
		var n atomic.Int64
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c := store.SessionClient{SessionID: fmt.Sprintf("sid-%d", n.Add(1)), ClientID: "app", Subject: "alice", SeenAt: time.Now()}
				if err := s.RecordSessionClient(b.Context(), c); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
