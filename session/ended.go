package session

import (
	"context"
	"sync"
)

// Ended is a session this process saw end: one it ended itself (End,
// Reap) or one another process ended, read by SyncEnded.
type Ended struct {
	Info Info
	// Here is true when this process ended the session. Every end is
	// reported Here by exactly one process (the one whose store call
	// ended it), so work that must happen once per end — a back-channel
	// logout token — runs only for Here ends. Ends read by SyncEnded are
	// reported with Here false, possibly more than once (its window
	// overlaps the last one), and also for ends this process made.
	// A logout of a session no call had opened is an end too (End wrote
	// its tombstone): its Info has the ID, reason and time only.
	Here bool
}

// endListeners are the functions OnEnd registered.
type endListeners struct {
	mu  sync.RWMutex
	fns []func(context.Context, Ended)
}

// OnEnd registers fn to be told of every session end this process sees
// (see Ended), after the end is in the store and the cache. fn is called
// on the goroutine that saw the end (a request, the reaper, the sync), so
// it must return quickly: hand slow work to a queue of its own.
func (m *Manager) OnEnd(fn func(context.Context, Ended)) {
	m.ends.mu.Lock()
	defer m.ends.mu.Unlock()
	m.ends.fns = append(m.ends.fns, fn)
}

// notifyEnd tells the listeners of e.
func (m *Manager) notifyEnd(ctx context.Context, e Ended) {
	m.ends.mu.RLock()
	defer m.ends.mu.RUnlock()
	for _, fn := range m.ends.fns {
		fn(ctx, e)
	}
}
