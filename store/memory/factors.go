package memory

import (
	"context"
	"slices"
	"time"

	"github.com/erpgate/erpgate/store"
)

// TOTP returns login's TOTP factor.
func (s *Store) TOTP(_ context.Context, login string) (store.TOTPFactor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.totp[login]
	if !ok {
		return store.TOTPFactor{}, store.ErrNotFound
	}
	return f, nil
}

// SaveTOTP stores a pending factor unless a confirmed one exists.
func (s *Store) SaveTOTP(_ context.Context, f store.TOTPFactor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.totp[f.Login]; ok && !old.ConfirmedAt.IsZero() {
		return store.ErrConflict
	}
	if s.totp == nil {
		s.totp = make(map[string]store.TOTPFactor)
	}
	f.ConfirmedAt, f.LastStep = time.Time{}, 0
	s.totp[f.Login] = f
	return nil
}

// ConfirmTOTP confirms the pending factor with secret.
func (s *Store) ConfirmTOTP(_ context.Context, login, secret string, step int64, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.totp[login]
	if !ok || !f.ConfirmedAt.IsZero() || f.Secret != secret {
		return store.ErrNotFound
	}
	f.ConfirmedAt, f.LastStep = now, step
	s.totp[login] = f
	return nil
}

// UseTOTPStep moves LastStep forward to step.
func (s *Store) UseTOTPStep(_ context.Context, login string, step int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.totp[login]
	if !ok || f.ConfirmedAt.IsZero() || f.LastStep >= step {
		return store.ErrConflict
	}
	f.LastStep = step
	s.totp[login] = f
	return nil
}

// SaveRecoveryCodes replaces login's recovery codes.
func (s *Store) SaveRecoveryCodes(_ context.Context, login string, hashes []string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recovery == nil {
		s.recovery = make(map[string]map[string]bool)
	}
	set := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		set[h] = true
	}
	s.recovery[login] = set
	return nil
}

// RecoveryCodes lists login's unused recovery code hashes, sorted.
func (s *Store) RecoveryCodes(_ context.Context, login string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for h := range s.recovery[login] {
		out = append(out, h)
	}
	slices.Sort(out)
	return out, nil
}

// UseRecoveryCode uses up one of login's recovery codes.
func (s *Store) UseRecoveryCode(_ context.Context, login, hash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.recovery[login][hash] {
		return store.ErrNotFound
	}
	delete(s.recovery[login], hash)
	return nil
}

// DeleteFactors forgets login's factors, passkeys included.
func (s *Store) DeleteFactors(_ context.Context, login string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.totp, login)
	delete(s.recovery, login)
	s.deletePasskeysLocked(login)
	return nil
}
