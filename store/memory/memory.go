package memory

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/store"
)

var _ store.Backend = (*Store)(nil)

// errClosed is returned by Ping after Close, so /readyz reports a store
// that is gone.
var errClosed = errors.New("memory: store closed")

// Store is an in-memory store.Backend. The zero value is not usable; call
// New.
type Store struct {
	mu       sync.Mutex
	keys     map[string]store.SigningKey
	sessions map[string]store.Session
	revoked  map[string]store.Revocation
	codes    map[string]store.AuthCode                 // by hash
	refresh  map[string]store.RefreshToken             // by hash
	identity map[string]store.IdentitySession          // by ID
	consents map[consentKey]store.Consent              // by subject and app
	apps     map[string]directory.App                  // by URI
	refs     map[string]store.ReferenceToken           // by ID
	refHash  map[string]string                         // reference token hash -> ID
	pwds     map[string]directory.PasswordChange       // by login
	users    map[string]directory.User                 // by login, tombstones too
	resets   map[string]store.PasswordReset            // by login
	usage    store.Usage                               // of sessions, kept with every change
	seats    map[string]string                         // subject -> ID of its open session holding the reserved seat
	clients  map[string]map[string]store.SessionClient // by sid, then app
	links    map[linkKey]store.FederatedLink           // by provider and subject
	totp     map[string]store.TOTPFactor               // by login
	recovery map[string]map[string]bool                // login -> unused recovery code hashes
	passkeys map[string]store.Passkey                  // by credential id
	closed   bool
}

// New returns an empty Store.
func New() *Store {
	return &Store{
		keys:     make(map[string]store.SigningKey),
		sessions: make(map[string]store.Session),
		revoked:  make(map[string]store.Revocation),
		codes:    make(map[string]store.AuthCode),
		refresh:  make(map[string]store.RefreshToken),
		identity: make(map[string]store.IdentitySession),
		consents: make(map[consentKey]store.Consent),
		apps:     make(map[string]directory.App),
		refs:     make(map[string]store.ReferenceToken),
		refHash:  make(map[string]string),
		pwds:     make(map[string]directory.PasswordChange),
		users:    make(map[string]directory.User),
		resets:   make(map[string]store.PasswordReset),
		seats:    make(map[string]string),
	}
}

// Ping reports an error once the store is closed.
func (s *Store) Ping(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	return nil
}

// Close marks the store closed; the data stays readable so a test can
// still inspect it.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// SigningKeys returns every key, oldest CreatedAt first (ties by ID so
// the order is stable).
func (s *Store) SigningKeys(context.Context) ([]store.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.SigningKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, copyKey(k))
	}
	slices.SortFunc(out, func(a, b store.SigningKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// AddSigningKey stores k; store.ErrConflict if its ID exists.
func (s *Store) AddSigningKey(_ context.Context, k store.SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k.ID]; ok {
		return store.ErrConflict
	}
	s.keys[k.ID] = copyKey(k)
	return nil
}

// DeleteExpiredSigningKeys removes keys whose ExpiresAt is before now.
func (s *Store) DeleteExpiredSigningKeys(_ context.Context, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, k := range s.keys {
		if k.ExpiresAt.Before(now) {
			delete(s.keys, id)
		}
	}
	return nil
}

// copyKey copies the JWK bytes so neither the caller nor the store can
// change the other's key by writing into a shared slice.
func copyKey(k store.SigningKey) store.SigningKey {
	k.PrivateJWK = slices.Clone(k.PrivateJWK)
	return k
}

// OpenSession implements store.Sessions; the mutex makes the look-up,
// the seat check, the license count and the insert one step.
func (s *Store) OpenSession(_ context.Context, sess store.Session, lic store.License) (store.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.sessions[sess.ID]; ok {
		if old.Open() {
			return old, nil
		}
		if !old.Reopenable() {
			return store.Session{}, store.ErrSessionEnded
		}
	}
	if _, held := s.seats[sess.Subject]; held {
		sess.Reserved = false // the login's seat is taken: a shared slot
	}
	if !lic.Admits(s.usage.Open, s.usage.Reserved, sess.Reserved) {
		return store.Session{}, store.ErrLicenseExhausted
	}
	sess.EndedAt, sess.EndReason = time.Time{}, ""
	s.sessions[sess.ID] = sess
	s.count(sess, +1)
	return sess, nil
}

// count adds delta (+1 opened, -1 ended) for the open session sess to
// the usage, and takes or frees its seat. s.mu must be held.
func (s *Store) count(sess store.Session, delta int) {
	s.usage.Open += delta
	if !sess.Reserved {
		return
	}
	s.usage.Reserved += delta
	if delta > 0 {
		s.seats[sess.Subject] = sess.ID
	} else if s.seats[sess.Subject] == sess.ID {
		delete(s.seats, sess.Subject)
	}
}

// Usage returns the open-session counts OpenSession admits by.
func (s *Store) Usage(context.Context) (store.Usage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage, nil
}

// Session returns the session with id; store.ErrNotFound if unknown.
func (s *Store) Session(_ context.Context, id string) (store.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok {
		return store.Session{}, store.ErrNotFound
	}
	return sess, nil
}

// OpenSessions lists open sessions, oldest OpenedAt first.
func (s *Store) OpenSessions(context.Context) ([]store.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Session
	for _, sess := range s.sessions {
		if sess.Open() {
			out = append(out, sess)
		}
	}
	sortSessions(out)
	return out, nil
}

// TouchSessions moves LastSeenAt forward for the open sessions in seen.
func (s *Store) TouchSessions(_ context.Context, seen map[string]time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, at := range seen {
		sess, ok := s.sessions[id]
		if !ok || !sess.Open() || !at.After(sess.LastSeenAt) {
			continue
		}
		sess.LastSeenAt = at
		s.sessions[id] = sess
	}
	return nil
}

// EndSession ends an open session; an ended one is returned as it is, so
// its first reason stands; an unknown id gets an ended tombstone.
func (s *Store) EndSession(_ context.Context, id, reason string, at time.Time) (store.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok {
		sess = store.Session{ID: id, OpenedAt: at, LastSeenAt: at, EndedAt: at, EndReason: reason}
		s.sessions[id] = sess
		return sess, nil
	}
	if !sess.Open() {
		return sess, nil
	}
	sess.EndedAt, sess.EndReason = at, reason
	s.sessions[id] = sess
	s.count(sess, -1)
	return sess, nil
}

// EndStaleSessions ends open sessions past their ExpiresAt (EndLifetime,
// checked first because it is the hard limit) or idle since before
// idleBefore (EndIdle), all at now, and returns them oldest first.
func (s *Store) EndStaleSessions(_ context.Context, idleBefore, now time.Time) ([]store.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ended []store.Session
	for id, sess := range s.sessions {
		if !sess.Open() {
			continue
		}
		switch {
		case !sess.ExpiresAt.IsZero() && !sess.ExpiresAt.After(now):
			sess.EndReason = store.EndLifetime
		case sess.LastSeenAt.Before(idleBefore):
			sess.EndReason = store.EndIdle
		default:
			continue
		}
		sess.EndedAt = now
		s.sessions[id] = sess
		s.count(sess, -1)
		ended = append(ended, sess)
	}
	sortSessions(ended)
	return ended, nil
}

// EndedSessionsSince lists sessions with EndedAt >= since, oldest EndedAt
// first (ties by ID).
func (s *Store) EndedSessionsSince(_ context.Context, since time.Time) ([]store.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Session
	for _, sess := range s.sessions {
		if !sess.Open() && !sess.EndedAt.Before(since) {
			out = append(out, sess)
		}
	}
	slices.SortFunc(out, func(a, b store.Session) int {
		if c := a.EndedAt.Compare(b.EndedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Revoke records jti at now until expiresAt. A second Revoke only ever
// extends the expiry (shortening it would let a revoked token back in
// early), and an extension moves RevokedAt forward so pollers see it.
func (s *Store) Revoke(_ context.Context, jti string, expiresAt, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.revoked[jti]
	switch {
	case !ok:
		s.revoked[jti] = store.Revocation{ID: jti, ExpiresAt: expiresAt, RevokedAt: now}
	case expiresAt.After(old.ExpiresAt):
		if now.After(old.RevokedAt) {
			old.RevokedAt = now
		}
		old.ExpiresAt = expiresAt
		s.revoked[jti] = old
	}
	return nil
}

// RevokedSince lists revocations with RevokedAt >= since, oldest
// RevokedAt first (ties by ID).
func (s *Store) RevokedSince(_ context.Context, since time.Time) ([]store.Revocation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Revocation
	for _, r := range s.revoked {
		if !r.RevokedAt.Before(since) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b store.Revocation) int {
		if c := a.RevokedAt.Compare(b.RevokedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Revoked reports whether jti is revoked.
func (s *Store) Revoked(_ context.Context, jti string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.revoked[jti]
	return ok, nil
}

// DeleteExpiredRevocations forgets revocations whose expiry is before now.
func (s *Store) DeleteExpiredRevocations(_ context.Context, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for jti, r := range s.revoked {
		if r.ExpiresAt.Before(now) {
			delete(s.revoked, jti)
		}
	}
	return nil
}

func sortSessions(ss []store.Session) {
	slices.SortFunc(ss, func(a, b store.Session) int {
		if c := a.OpenedAt.Compare(b.OpenedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}
