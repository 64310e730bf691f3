package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

func testSessionClients(t *testing.T, open opener) {
	rec := func(t *testing.T, b store.Backend, sid, client string, seen time.Time) {
		t.Helper()
		if err := b.RecordSessionClient(t.Context(), store.SessionClient{SessionID: sid, ClientID: client, Subject: "alice", SeenAt: seen}); err != nil {
			t.Fatalf("RecordSessionClient(%s, %s): %v", sid, client, err)
		}
	}
	take := func(t *testing.T, b store.Backend, sid string) []store.SessionClient {
		t.Helper()
		got, err := b.TakeSessionClients(t.Context(), sid)
		if err != nil {
			t.Fatalf("TakeSessionClients(%s): %v", sid, err)
		}
		return got
	}

	t.Run("SamePairIsOneRecord", func(t *testing.T) {
		b := open(t)
		rec(t, b, "sid-1", "urn:app:b", at(0))
		rec(t, b, "sid-1", "urn:app:a", at(0))
		rec(t, b, "sid-1", "urn:app:b", at(time.Minute))  // a refresh
		rec(t, b, "sid-1", "urn:app:b", at(-time.Minute)) // late writer: keeps the later time
		rec(t, b, "sid-2", "urn:app:a", at(0))
		got := take(t, b, "sid-1")
		want := []store.SessionClient{
			{SessionID: "sid-1", ClientID: "urn:app:a", Subject: "alice", SeenAt: at(0)},
			{SessionID: "sid-1", ClientID: "urn:app:b", Subject: "alice", SeenAt: at(time.Minute)},
		}
		if len(got) != len(want) {
			t.Fatalf("TakeSessionClients = %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i].SessionID != want[i].SessionID || got[i].ClientID != want[i].ClientID ||
				got[i].Subject != want[i].Subject || !got[i].SeenAt.Equal(want[i].SeenAt) {
				t.Errorf("record %d = %+v, want %+v", i, got[i], want[i])
			}
		}
		if again := take(t, b, "sid-1"); len(again) != 0 {
			t.Errorf("second take = %+v, want none: taking deletes", again)
		}
		if other := take(t, b, "sid-2"); len(other) != 1 || other[0].ClientID != "urn:app:a" {
			t.Errorf("sid-2 = %+v, want its own record, untouched by sid-1's take", other)
		}
	})

	t.Run("UnknownSessionIsNone", func(t *testing.T) {
		if got := take(t, open(t), "nobody"); len(got) != 0 {
			t.Errorf("take of an unknown sid = %+v", got)
		}
	})

	t.Run("DeleteStale", func(t *testing.T) {
		b := open(t)
		rec(t, b, "old", "urn:app:a", at(0))
		rec(t, b, "edge", "urn:app:a", at(time.Hour))
		rec(t, b, "refreshed", "urn:app:a", at(0))
		rec(t, b, "refreshed", "urn:app:a", at(2*time.Hour))
		if err := b.DeleteStaleSessionClients(t.Context(), at(time.Hour)); err != nil {
			t.Fatalf("DeleteStaleSessionClients: %v", err)
		}
		if got := take(t, b, "old"); len(got) != 0 {
			t.Errorf("record seen before the cut survived: %+v", got)
		}
		if got := take(t, b, "edge"); len(got) != 1 {
			t.Errorf("record seen exactly at the cut = %+v, want kept", got)
		}
		if got := take(t, b, "refreshed"); len(got) != 1 {
			t.Errorf("record refreshed after the cut = %+v, want kept", got)
		}
	})

	// Two replicas that both end a session must not both tell its apps:
	// of concurrent takes each record goes to one.
	t.Run("ConcurrentTakesShare", func(t *testing.T) {
		b := open(t)
		const apps, takers = 6, 4
		for i := range apps {
			rec(t, b, "sid", "urn:app:"+string(rune('a'+i)), at(0))
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range takers {
			wg.Go(func() {
				got, err := b.TakeSessionClients(t.Context(), "sid")
				if err != nil {
					t.Errorf("TakeSessionClients: %v", err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, c := range got {
					seen[c.ClientID]++
				}
			})
		}
		wg.Wait()
		if len(seen) != apps {
			t.Errorf("taken %d distinct records, want %d", len(seen), apps)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s taken %d times, want once", id, n)
			}
		}
	})
}
