package postgres

import (
	"fmt"
	"testing"

	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/storetest"
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
	storetest.OpenSessionsParallel(b, s, lic)
}
