package session_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
)

// endLog records what OnEnd reports.
type endLog struct {
	mu   sync.Mutex
	ends []session.Ended
}

func (l *endLog) add(_ context.Context, e session.Ended) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ends = append(l.ends, e)
}

func (l *endLog) take() []session.Ended {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.ends
	l.ends = nil
	return out
}

// TestOnEnd: the process that ends a session (End, or Reap for idleness)
// reports it Here, once; another process sharing the store hears of it
// from SyncEnded, not Here. An End that changes nothing reports nothing.
func TestOnEnd(t *testing.T) {
	st := memory.New()
	a, b := newFixture(t, st, nil), newFixture(t, st, nil)
	b.clock = a.clock // one clock for both processes
	var atA, atB endLog
	a.m.OnEnd(atA.add)
	b.m.OnEnd(atB.add)

	a.acquire(t, user("alice", "sid-1"))
	if _, err := a.m.End(t.Context(), "sid-1", store.EndAdmin); err != nil {
		t.Fatal(err)
	}
	a.clock.Set(a.clock.Now().Add(time.Second))
	if _, err := a.m.End(t.Context(), "sid-1", store.EndAdmin); err != nil { // already ended
		t.Fatal(err)
	}
	if got := atA.take(); len(got) != 1 || !got[0].Here || got[0].Info.ID != "sid-1" || got[0].Info.EndReason != store.EndAdmin {
		t.Errorf("A ended sid-1: %+v, want one Here end", got)
	}
	if err := b.m.SyncEnded(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := atB.take(); len(got) != 1 || got[0].Here || got[0].Info.ID != "sid-1" {
		t.Errorf("B synced: %+v, want sid-1 not Here", got)
	}

	a.acquire(t, user("bob", "sid-2"))
	a.clock.Set(a.clock.Now().Add(21 * time.Minute))
	if err := a.m.Reap(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := atA.take(); len(got) != 1 || !got[0].Here || got[0].Info.ID != "sid-2" || got[0].Info.EndReason != store.EndIdle {
		t.Errorf("A reaped sid-2: %+v, want one Here idle end", got)
	}
}
