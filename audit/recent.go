package audit

import (
	"log/slog"
	"sync"
	"time"
)

// Recent keeps the last events this process logged, for the admin
// console's "latest events" page. It is a bounded ring: memory stays
// fixed however busy the replica is, and the oldest event is dropped
// first. Only this process's events are in it; the audit log itself is
// the record of every replica.
type Recent struct {
	mu   sync.Mutex
	ring []Logged
	next int  // where the next event goes
	full bool // the ring has wrapped
}

// Logged is an event as Recent keeps it.
type Logged struct {
	Time time.Time
	Event
}

// NewRecent keeps the last n events (n >= 1).
func NewRecent(n int) *Recent {
	return &Recent{ring: make([]Logged, max(n, 1))}
}

// add records e at t.
func (r *Recent) add(t time.Time, e Event) {
	e.Attrs = append(e.Attrs[:0:0], e.Attrs...) // the caller may reuse its slice
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ring[r.next] = Logged{Time: t, Event: e}
	r.next++
	if r.next == len(r.ring) {
		r.next, r.full = 0, true
	}
}

// Latest returns up to limit events, newest first; limit <= 0 returns
// all that are kept.
func (r *Recent) Latest(limit int) []Logged {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = len(r.ring)
	}
	if limit <= 0 || limit > n {
		limit = n
	}
	out := make([]Logged, 0, limit)
	for i := 1; i <= limit; i++ {
		out = append(out, r.ring[(r.next-i+len(r.ring))%len(r.ring)])
	}
	return out
}

// KeepIn returns a copy of l that also records every event in r (the
// handler's level does not filter what r keeps: the console shows the
// events whether or not the log keeps them).
func (l *Logger) KeepIn(r *Recent) *Logger {
	if l == nil {
		return &Logger{h: slog.DiscardHandler, recent: r}
	}
	return &Logger{h: l.h, report: l.report, recent: r}
}
