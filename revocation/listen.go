package revocation

import "sync"

// revokeListeners are the functions OnRevoke registered.
type revokeListeners struct {
	mu  sync.RWMutex
	fns []func(jti string)
}

// OnRevoke registers fn to be told of every revocation this process
// learns: its own Revoke, and each one Sync reads that it did not know.
// Live connections use it to close those of a revoked token at once
// (package live). fn runs on the goroutine that revoked or synced, after
// the list refuses the jti, so it must return quickly.
func (l *List) OnRevoke(fn func(jti string)) {
	l.listeners.mu.Lock()
	defer l.listeners.mu.Unlock()
	l.listeners.fns = append(l.listeners.fns, fn)
}

func (ls *revokeListeners) notify(jtis []string) {
	if len(jtis) == 0 {
		return
	}
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	for _, fn := range ls.fns {
		for _, jti := range jtis {
			fn(jti)
		}
	}
}
