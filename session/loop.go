package session

import (
	"context"
	"fmt"
	"time"

	"github.com/erpgate/erpgate/audit"
)

// Run reads sessions ended elsewhere every SyncEvery, flushes last-seen
// times every FlushEvery and reaps timed-out sessions every ReapEvery,
// until ctx ends or Close is called. Errors are logged and retried at the
// next tick.
func (m *Manager) Run(ctx context.Context) {
	m.runMu.Lock()
	if m.closed {
		m.runMu.Unlock()
		return
	}
	m.runs.Add(1)
	m.runMu.Unlock()
	defer m.runs.Done()

	m.SyncGauges(ctx)
	flush := time.NewTicker(m.cfg.FlushEvery)
	defer flush.Stop()
	reap := time.NewTicker(m.cfg.ReapEvery)
	defer reap.Stop()
	syncEnded := time.NewTicker(m.cfg.SyncEvery)
	defer syncEnded.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.stop:
			return
		case <-syncEnded.C:
			if err := m.SyncEnded(ctx); err != nil {
				m.cfg.Logger.WarnContext(ctx, "session sync failed", "err", err)
			}
		case <-flush.C:
			if err := m.Flush(ctx); err != nil {
				m.cfg.Logger.WarnContext(ctx, "session flush failed", "err", err)
			}
		case <-reap.C:
			if err := m.Reap(ctx); err != nil {
				m.cfg.Logger.WarnContext(ctx, "session reap failed", "err", err)
			}
			m.SyncGauges(ctx)
		}
	}
}

// Close stops Run, waits for it, and writes the last-seen times not yet
// written. Call it before closing the store. Calling it again only
// flushes again.
func (m *Manager) Close() error {
	m.runMu.Lock()
	if !m.closed {
		m.closed = true
		close(m.stop)
	}
	m.runMu.Unlock()
	m.runs.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), closeFlushTimeout)
	defer cancel()
	return m.Flush(ctx)
}

// Flush writes every last-seen time that moved since the last flush with
// one store.Sessions.TouchSessions call (none if nothing moved).
func (m *Manager) Flush(ctx context.Context) error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()

	type dirty struct {
		e  *entry
		at int64
	}
	var written []dirty
	seen := make(map[string]time.Time)
	m.mu.RLock()
	for id, e := range m.cache {
		if e.ended {
			continue
		}
		if at := e.lastSeen.Load(); at > e.flushed.Load() {
			seen[id] = time.Unix(0, at).UTC()
			written = append(written, dirty{e, at})
		}
	}
	m.mu.RUnlock()

	m.evMu.Lock()
	evicted := m.evicted
	m.evicted = make(map[string]int64)
	m.evMu.Unlock()
	for id, at := range evicted {
		if t := time.Unix(0, at).UTC(); t.After(seen[id]) {
			seen[id] = t
		}
	}

	if len(seen) == 0 {
		return nil
	}
	if err := m.cfg.Store.TouchSessions(ctx, seen); err != nil {
		// Keep the evicted times for the next try; cached entries are
		// still dirty by themselves.
		m.evMu.Lock()
		for id, at := range evicted {
			m.evicted[id] = max(m.evicted[id], at)
		}
		m.evMu.Unlock()
		return fmt.Errorf("session: flush: %w", err)
	}
	for _, d := range written {
		d.e.markFlushed(d.at)
	}
	return nil
}

// Reap flushes, then ends every session idle for IdleTimeout or past its
// hard end in the store, drops them from the cache and audits each
// (session.ended, reason idle or lifetime). Flushing first means a
// session busy in this process is never ended for idleness.
func (m *Manager) Reap(ctx context.Context) error {
	m.reapMu.Lock()
	defer m.reapMu.Unlock()
	if err := m.Flush(ctx); err != nil {
		return fmt.Errorf("session: reap: %w", err)
	}
	now := m.cfg.Clock()
	m.gaugeMu.RLock()
	ended, err := m.cfg.Store.EndStaleSessions(ctx, now.Add(-m.cfg.IdleTimeout), now)
	if err == nil {
		m.cfg.Metrics.SessionsOpen.Sub(float64(len(ended)))
		m.cfg.Metrics.LicenseUsed.Sub(float64(len(ended)))
	}
	m.gaugeMu.RUnlock()
	if err != nil {
		return fmt.Errorf("session: reap: %w", err)
	}
	for _, s := range ended {
		m.dropID(s.ID, s.OpenedAt)
		m.peeks.forget(s.ID)
		m.audit(ctx, audit.SessionEnded, s, s.EndReason)
		m.notifyEnd(ctx, Ended{Info: infoOf(s), Here: true})
	}
	m.sweepTombstones(now)
	return nil
}

// SyncGauges sets the open-session gauges from the store, which counts
// the sessions of every process (CLI ends, other replicas). Run calls it
// at start and after every reap. It waits for the opens and ends in
// flight in this process, so each is counted once: in Usage or by its
// own Inc or Dec, never both (see gaugeMu).
func (m *Manager) SyncGauges(ctx context.Context) {
	m.gaugeMu.Lock()
	defer m.gaugeMu.Unlock()
	u, err := m.cfg.Store.Usage(ctx)
	if err != nil {
		m.cfg.Logger.WarnContext(ctx, "session gauges not updated", "err", err)
		return
	}
	m.cfg.Metrics.SessionsOpen.Set(float64(u.Open))
	m.cfg.Metrics.LicenseUsed.Set(float64(u.Open))
}

// syncOverlap re-reads ends a little before the last sync, so an end
// committed while the previous sync ran, or stamped by a process whose
// clock is somewhat behind this one's, is not missed. Re-reading is
// harmless: handling an end twice changes nothing.
const syncOverlap = 30 * time.Second

// SyncEnded reads the sessions ended since the last sync (by any process:
// the CLI, another replica, the identity server on logout) and updates
// the cache: a session this process holds that ended for good (logout,
// an administrator, its app disabled) becomes a tombstone, so its tokens
// are refused; one that is Reopenable (timed out, or a reference token's
// session however it ended) is dropped, so its next call opens a new
// session. A stored
// answer kept for Session (peeks) is forgotten either way. Sessions not
// in the cache need nothing: their next call asks the store anyway.
func (m *Manager) SyncEnded(ctx context.Context) error {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	now := m.cfg.Clock()
	since := m.syncedAt
	if since.IsZero() {
		since = now
	}
	ended, err := m.cfg.Store.EndedSessionsSince(ctx, since.Add(-syncOverlap))
	if err != nil {
		return fmt.Errorf("session: sync: %w", err)
	}
	for _, s := range ended {
		m.peeks.forget(s.ID)
		e := m.lookup(s.ID)
		switch {
		case e == nil || e.ended:
		case s.Reopenable():
			m.dropID(s.ID, s.OpenedAt)
		default:
			m.putTombstone(s.ID, s.EndReason, 0)
		}
		m.notifyEnd(ctx, Ended{Info: infoOf(s)})
	}
	m.syncedAt = now
	return nil
}
