package memory

import (
	"context"
	"slices"
	"time"

	"github.com/erpgate/erpgate/store"
)

// clonePasskey copies p's slices, so a caller cannot change the store's.
func clonePasskey(p store.Passkey) store.Passkey {
	p.CredentialID = slices.Clone(p.CredentialID)
	p.UserHandle = slices.Clone(p.UserHandle)
	p.PublicKey = slices.Clone(p.PublicKey)
	p.AAGUID = slices.Clone(p.AAGUID)
	p.Transports = slices.Clone(p.Transports)
	return p
}

// SavePasskey stores a new passkey unless its credential id exists.
func (s *Store) SavePasskey(_ context.Context, p store.Passkey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := string(p.CredentialID)
	if _, ok := s.passkeys[id]; ok {
		return store.ErrConflict
	}
	if s.passkeys == nil {
		s.passkeys = make(map[string]store.Passkey)
	}
	s.passkeys[id] = clonePasskey(p)
	return nil
}

// Passkeys lists login's passkeys, oldest first.
func (s *Store) Passkeys(_ context.Context, login string) ([]store.Passkey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Passkey
	for _, p := range s.passkeys {
		if p.Login == login {
			out = append(out, clonePasskey(p))
		}
	}
	slices.SortFunc(out, func(a, b store.Passkey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return slices.Compare(a.CredentialID, b.CredentialID)
	})
	return out, nil
}

// PasskeyByCredentialID returns the passkey with id.
func (s *Store) PasskeyByCredentialID(_ context.Context, id []byte) (store.Passkey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.passkeys[string(id)]
	if !ok {
		return store.Passkey{}, store.ErrNotFound
	}
	return clonePasskey(p), nil
}

// UpdatePasskeyUse moves the sign count forward and records the use.
func (s *Store) UpdatePasskeyUse(_ context.Context, id []byte, signCount uint32, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.passkeys[string(id)]
	if !ok {
		return store.ErrNotFound
	}
	if !(p.SignCount < signCount || (p.SignCount == 0 && signCount == 0)) {
		return store.ErrConflict
	}
	p.SignCount, p.LastUsedAt = signCount, at
	s.passkeys[string(id)] = p
	return nil
}

// RenamePasskey names login's passkey.
func (s *Store) RenamePasskey(_ context.Context, login string, id []byte, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.passkeys[string(id)]
	if !ok || p.Login != login {
		return store.ErrNotFound
	}
	p.Name = name
	s.passkeys[string(id)] = p
	return nil
}

// DeletePasskey removes login's passkey.
func (s *Store) DeletePasskey(_ context.Context, login string, id []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.passkeys[string(id)]
	if !ok || p.Login != login {
		return store.ErrNotFound
	}
	delete(s.passkeys, string(id))
	return nil
}

// deletePasskeysLocked forgets login's passkeys; s.mu is held.
func (s *Store) deletePasskeysLocked(login string) {
	for id, p := range s.passkeys {
		if p.Login == login {
			delete(s.passkeys, id)
		}
	}
}
