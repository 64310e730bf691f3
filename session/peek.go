package session

import (
	"sync"
	"time"

	"github.com/erpgate/erpgate/store"
)

// Bounds of the peek cache.
const (
	peekSize = 10_000
	// peekTTL bounds how long an answer is reused. Ends are applied to
	// the cache as they become known (End, Reap, SyncEnded), so this is
	// only a backstop should the end sync stop working.
	peekTTL = time.Minute
)

// peeks remembers what the store said of sessions this process asked
// about without opening them: Manager.Session for a token introspected
// or shown to userinfo before (or without) any proxied call with it. A
// resource server introspects the same token on each of its requests,
// so without this each one would be a store read.
//
// An answer is one of: the session as stored, or "not found" (no call
// opened it yet). Either may go stale in one way only that matters to
// callers: the session ends. Every end this process learns of removes
// the id (forget). An answer read from the store while an end was being
// forgotten is not kept (gen), so a local end is never undone by a read
// that raced it; one read just before another process committed an end
// is corrected by the next SyncEnded, which re-reads ends with an
// overlapping window.
type peeks struct {
	mu  sync.Mutex
	m   map[string]peek
	gen uint64 // moves with every forget
}

type peek struct {
	s       store.Session
	found   bool
	expires int64 // unix ns
}

// get returns the answer kept for id at now, if any.
func (p *peeks) get(id string, now time.Time) (store.Session, bool, bool) {
	p.mu.Lock()
	e, ok := p.m[id]
	p.mu.Unlock()
	if !ok || now.UnixNano() >= e.expires {
		return store.Session{}, false, false
	}
	return e.s, e.found, true
}

// generation returns the value put needs: take it before the store read.
func (p *peeks) generation() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gen
}

// put keeps the store's answer for id until now+peekTTL, evicting an
// arbitrary sixteenth first if full, unless an end was forgotten since
// gen was taken: the answer may predate it.
func (p *peeks) put(id string, s store.Session, found bool, gen uint64, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if gen != p.gen {
		return
	}
	if p.m == nil {
		p.m = make(map[string]peek)
	}
	if _, ok := p.m[id]; !ok && len(p.m) >= peekSize {
		n := len(p.m)/16 + 1
		for k := range p.m {
			delete(p.m, k)
			if n--; n == 0 {
				break
			}
		}
	}
	p.m[id] = peek{s: s, found: found, expires: now.Add(peekTTL).UnixNano()}
}

// forget drops the answer for id, so the next question reads the store.
func (p *peeks) forget(id string) {
	p.mu.Lock()
	delete(p.m, id)
	p.gen++
	p.mu.Unlock()
}
