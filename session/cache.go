package session

import (
	"sync/atomic"
	"time"

	"github.com/erpgate/erpgate/store"
)

// entry is one cached session. s and ended never change after the entry
// is made; a new incarnation of a sid gets a new entry.
type entry struct {
	s store.Session // as the store returned it; s.LastSeenAt is not kept current
	// expires is s.ExpiresAt in unix nanoseconds, 0 for none.
	expires int64

	lastSeen atomic.Int64 // latest call seen by this process, unix ns
	flushed  atomic.Int64 // latest last-seen time written to the store, unix ns

	// ended marks a tombstone: the session ended for good (not
	// Reopenable), so its tokens are refused without asking the store.
	// A reference token's session never gets one.
	ended bool
	// until is when a tombstone may be swept, unix s: the expiry of the
	// token that met the end, else tombstoneTTL after it was made.
	until int64
}

func newEntry(s store.Session, now time.Time) *entry {
	e := &entry{s: s}
	if !s.ExpiresAt.IsZero() {
		e.expires = s.ExpiresAt.UnixNano()
	}
	stored := s.LastSeenAt.UnixNano()
	e.flushed.Store(stored)
	e.lastSeen.Store(max(stored, now.UnixNano()))
	return e
}

// fresh reports whether the session is still open by the clock: not past
// its hard end, and called within idle (the store's rule: idle when
// LastSeenAt is before now-idle).
func (e *entry) fresh(now time.Time, idle time.Duration) bool {
	n := now.UnixNano()
	if e.expires != 0 && n >= e.expires {
		return false
	}
	return e.lastSeen.Load() >= n-int64(idle)
}

// touch records a call at now; last-seen never moves backwards.
func (e *entry) touch(now time.Time) {
	n := now.UnixNano()
	for {
		old := e.lastSeen.Load()
		if n <= old || e.lastSeen.CompareAndSwap(old, n) {
			return
		}
	}
}

// markFlushed records that last-seen time at was written.
func (e *entry) markFlushed(at int64) {
	for {
		old := e.flushed.Load()
		if at <= old || e.flushed.CompareAndSwap(old, at) {
			return
		}
	}
}

func (e *entry) lastSeenAt() time.Time { return time.Unix(0, e.lastSeen.Load()).UTC() }

// info is the session as this process knows it.
func (e *entry) info() Info {
	i := infoOf(e.s)
	i.LastSeenAt = e.lastSeenAt()
	return i
}

func (m *Manager) lookup(sid string) *entry {
	m.mu.RLock()
	e := m.cache[sid]
	m.mu.RUnlock()
	return e
}

// put caches e, evicting others first if the cache is full.
func (m *Manager) put(e *entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cache[e.s.ID]; !ok && len(m.cache) >= m.cfg.CacheSize {
		m.evictLocked()
	}
	m.cache[e.s.ID] = e
}

// tombstoneTTL is how long a tombstone is kept when no token expiry is
// known. Sweeping one early is harmless: the next token with that sid
// meets the store's ErrSessionEnded and leaves a new tombstone.
const tombstoneTTL = time.Hour

// putTombstone caches sid as ended for good for reason ("" when not
// known); until is the expiry (unix s) of the token that met the end, 0
// if unknown. Callers only make one for an end that is not Reopenable.
// The reason is kept because doors differ on it: a sign-in cookie is
// refused after a logout or an administrator, not after one app's kill
// switch (issuer/identity.go).
func (m *Manager) putTombstone(sid, reason string, until int64) {
	if until == 0 {
		until = m.cfg.Clock().Add(tombstoneTTL).Unix()
	}
	m.put(&entry{s: store.Session{ID: sid, EndReason: reason}, ended: true, until: until})
}

// evictLocked drops about a sixteenth of the cache, in map order (that is,
// arbitrarily). Last-seen times not yet written are kept for the next
// flush, so eviction never loses a call. m.mu must be held.
func (m *Manager) evictLocked() {
	n := len(m.cache)/16 + 1
	for id, e := range m.cache {
		if !e.ended {
			if at := e.lastSeen.Load(); at > e.flushed.Load() {
				m.evMu.Lock()
				m.evicted[id] = max(m.evicted[id], at)
				m.evMu.Unlock()
			}
		}
		delete(m.cache, id)
		if n--; n == 0 {
			return
		}
	}
}

// dropID removes the cached incarnation of id opened at openedAt, if any
// (a newer one, opened meanwhile, stays).
func (m *Manager) dropID(id string, openedAt time.Time) {
	m.mu.Lock()
	if e, ok := m.cache[id]; ok && !e.ended && e.s.OpenedAt.Equal(openedAt) {
		delete(m.cache, id)
	}
	m.mu.Unlock()
}

// sweepTombstones forgets tombstones whose token has expired: no valid
// token can present that sid any more (a refreshed one would meet the
// store's answer again).
func (m *Manager) sweepTombstones(now time.Time) {
	n := now.Unix()
	m.mu.Lock()
	for id, e := range m.cache {
		if e.ended && e.until < n {
			delete(m.cache, id)
		}
	}
	m.mu.Unlock()
}
