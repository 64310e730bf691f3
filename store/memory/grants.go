package memory

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/erpgate/erpgate/store"
)

// SaveAuthCode stores c; store.ErrConflict if its hash exists.
func (s *Store) SaveAuthCode(_ context.Context, c store.AuthCode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.codes[c.Hash]; ok {
		return store.ErrConflict
	}
	s.codes[c.Hash] = copyCode(c)
	return nil
}

// RedeemAuthCode marks the code used and returns it as it was; a used
// one comes back as stored with store.ErrCodeReused.
func (s *Store) RedeemAuthCode(_ context.Context, hash string, now time.Time, accessTokenID string, accessExpiresAt time.Time) (store.AuthCode, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[hash]
	if !ok {
		return store.AuthCode{}, store.ErrNotFound
	}
	if !c.UsedAt.IsZero() {
		return copyCode(c), store.ErrCodeReused
	}
	used := copyCode(c)
	used.UsedAt, used.AccessTokenID, used.AccessExpiresAt = now, accessTokenID, accessExpiresAt
	s.codes[hash] = used
	return copyCode(c), nil
}

// DeleteExpiredAuthCodes forgets codes whose ExpiresAt is before now.
func (s *Store) DeleteExpiredAuthCodes(_ context.Context, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, c := range s.codes {
		if c.ExpiresAt.Before(now) {
			delete(s.codes, h)
		}
	}
	return nil
}

// SaveRefreshToken stores t; store.ErrConflict if its hash exists.
func (s *Store) SaveRefreshToken(_ context.Context, t store.RefreshToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.refresh[t.Hash]; ok {
		return store.ErrConflict
	}
	s.refresh[t.Hash] = copyRefresh(t)
	return nil
}

// RefreshToken returns the token with hash; store.ErrNotFound.
func (s *Store) RefreshToken(_ context.Context, hash string) (store.RefreshToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refresh[hash]
	if !ok {
		return store.RefreshToken{}, store.ErrNotFound
	}
	return copyRefresh(t), nil
}

// RotateRefreshToken implements store.RefreshTokens; the mutex makes the
// check, the mark and the insert one step.
func (s *Store) RotateRefreshToken(_ context.Context, hash string, now time.Time, successor []byte, next store.RefreshToken) (store.RefreshToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.refresh[hash]
	switch {
	case !ok:
		return store.RefreshToken{}, store.ErrNotFound
	case !cur.RevokedAt.IsZero():
		return copyRefresh(cur), store.ErrRevoked
	case !cur.RotatedAt.IsZero():
		return copyRefresh(cur), store.ErrRotated
	}
	if _, ok := s.refresh[next.Hash]; ok {
		return store.RefreshToken{}, store.ErrConflict
	}
	cur.RotatedAt, cur.Successor = now, slices.Clone(successor)
	s.refresh[hash] = cur
	next.FamilyID = cur.FamilyID
	s.refresh[next.Hash] = copyRefresh(next)
	return copyRefresh(cur), nil
}

// RevokeRefreshFamily revokes the family and returns its access tokens.
func (s *Store) RevokeRefreshFamily(_ context.Context, familyID string, now time.Time) ([]store.IssuedToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revokeFamilies(func(t store.RefreshToken) bool { return t.FamilyID == familyID }, now), nil
}

// RevokeSessionRefreshTokens revokes the families with a token of the
// session and returns their access tokens.
func (s *Store) RevokeSessionRefreshTokens(_ context.Context, sessionID string, now time.Time) ([]store.IssuedToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revokeFamilies(func(t store.RefreshToken) bool { return t.SessionID == sessionID }, now), nil
}

// RevokeSubjectRefreshTokens revokes the families with a token of the
// subject and returns their access tokens.
func (s *Store) RevokeSubjectRefreshTokens(_ context.Context, subject string, now time.Time) ([]store.IssuedToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revokeFamilies(func(t store.RefreshToken) bool { return t.Subject == subject }, now), nil
}

// revokeFamilies revokes every family that has a token matching pick and
// returns the access tokens of all their tokens, oldest token first.
// The caller holds s.mu.
func (s *Store) revokeFamilies(pick func(store.RefreshToken) bool, now time.Time) []store.IssuedToken {
	families := make(map[string]bool)
	for _, t := range s.refresh {
		if pick(t) {
			families[t.FamilyID] = true
		}
	}
	var hit []store.RefreshToken
	for h, t := range s.refresh {
		if !families[t.FamilyID] {
			continue
		}
		if t.RevokedAt.IsZero() {
			t.RevokedAt = now
			s.refresh[h] = t
		}
		hit = append(hit, t)
	}
	slices.SortFunc(hit, func(a, b store.RefreshToken) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Hash, b.Hash)
	})
	var out []store.IssuedToken
	for _, t := range hit {
		if t.AccessTokenID != "" {
			out = append(out, store.IssuedToken{ID: t.AccessTokenID, ExpiresAt: t.AccessExpiresAt})
		}
	}
	return out
}

// DeleteExpiredRefreshTokens forgets tokens whose ExpiresAt is before now.
func (s *Store) DeleteExpiredRefreshTokens(_ context.Context, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, t := range s.refresh {
		if t.ExpiresAt.Before(now) {
			delete(s.refresh, h)
		}
	}
	return nil
}

// SaveIdentitySession inserts or replaces is; an ended session cannot be
// replaced, nor one of another subject.
func (s *Store) SaveIdentitySession(_ context.Context, is store.IdentitySession) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.identity[is.ID]; ok {
		if !old.EndedAt.IsZero() {
			return store.ErrSessionEnded
		}
		if old.Subject != is.Subject {
			return store.ErrConflict
		}
	}
	is.Auth.Methods = slices.Clone(is.Auth.Methods)
	s.identity[is.ID] = is
	return nil
}

// IdentitySession returns the session with id; store.ErrNotFound.
func (s *Store) IdentitySession(_ context.Context, id string) (store.IdentitySession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	is, ok := s.identity[id]
	if !ok {
		return store.IdentitySession{}, store.ErrNotFound
	}
	is.Auth.Methods = slices.Clone(is.Auth.Methods)
	return is, nil
}

// EndIdentitySession ends a live session at now; ended or unknown ones
// are left as they are.
func (s *Store) EndIdentitySession(_ context.Context, id string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if is, ok := s.identity[id]; ok && is.EndedAt.IsZero() {
		is.EndedAt = now
		s.identity[id] = is
	}
	return nil
}

// EndSubjectIdentitySessions ends every live session of subject at now
// and returns their IDs, sorted.
func (s *Store) EndSubjectIdentitySessions(_ context.Context, subject string, now time.Time) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ended []string
	for id, is := range s.identity {
		if is.Subject == subject && is.EndedAt.IsZero() {
			is.EndedAt = now
			s.identity[id] = is
			ended = append(ended, id)
		}
	}
	slices.Sort(ended)
	return ended, nil
}

// IdentitySessionsOf lists the live sessions of subject at now, newest
// AuthTime first (ties by ID).
func (s *Store) IdentitySessionsOf(_ context.Context, subject string, now time.Time) ([]store.IdentitySession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.IdentitySession
	for _, is := range s.identity {
		if is.Subject == subject && is.EndedAt.IsZero() && is.ExpiresAt.After(now) {
			out = append(out, is)
		}
	}
	slices.SortFunc(out, func(a, b store.IdentitySession) int {
		if c := b.AuthTime.Compare(a.AuthTime); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// consentKey is what a consent is kept by: one per user and app.
type consentKey struct{ subject, clientID string }

// SaveConsent stores c, replacing the subject's consent for the app.
func (s *Store) SaveConsent(_ context.Context, c store.Consent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.Scopes = slices.Clone(c.Scopes)
	s.consents[consentKey{c.Subject, c.ClientID}] = c
	return nil
}

// Consent returns the subject's consent for clientID; store.ErrNotFound.
func (s *Store) Consent(_ context.Context, subject, clientID string) (store.Consent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.consents[consentKey{subject, clientID}]
	if !ok {
		return store.Consent{}, store.ErrNotFound
	}
	c.Scopes = slices.Clone(c.Scopes)
	return c, nil
}

// ConsentsOf lists the subject's consents, sorted by ClientID.
func (s *Store) ConsentsOf(_ context.Context, subject string) ([]store.Consent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Consent
	for k, c := range s.consents {
		if k.subject == subject {
			c.Scopes = slices.Clone(c.Scopes)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b store.Consent) int { return cmp.Compare(a.ClientID, b.ClientID) })
	return out, nil
}

// RevokeConsent forgets the subject's consent for clientID, if any.
func (s *Store) RevokeConsent(_ context.Context, subject, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.consents, consentKey{subject, clientID})
	return nil
}

// copyCode and copyRefresh copy the slices, so neither the caller nor the
// store can change the other's record by writing into a shared array.
func copyCode(c store.AuthCode) store.AuthCode {
	c.Scopes = slices.Clone(c.Scopes)
	c.Auth.Methods = slices.Clone(c.Auth.Methods)
	return c
}

func copyRefresh(t store.RefreshToken) store.RefreshToken {
	t.Scopes = slices.Clone(t.Scopes)
	t.Successor = slices.Clone(t.Successor)
	t.Auth.Methods = slices.Clone(t.Auth.Methods)
	return t
}

// RecordSessionClient records c; the same pair again is one record with
// the later SeenAt.
func (s *Store) RecordSessionClient(_ context.Context, c store.SessionClient) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients == nil {
		s.clients = make(map[string]map[string]store.SessionClient)
	}
	of := s.clients[c.SessionID]
	if of == nil {
		of = make(map[string]store.SessionClient)
		s.clients[c.SessionID] = of
	}
	if old, ok := of[c.ClientID]; !ok || c.SeenAt.After(old.SeenAt) {
		of[c.ClientID] = c
	}
	return nil
}

// TakeSessionClients deletes the records of sid and returns them, sorted
// by ClientID.
func (s *Store) TakeSessionClients(_ context.Context, sid string) ([]store.SessionClient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.SessionClient
	for _, c := range s.clients[sid] {
		out = append(out, c)
	}
	delete(s.clients, sid)
	slices.SortFunc(out, func(a, b store.SessionClient) int { return cmp.Compare(a.ClientID, b.ClientID) })
	return out, nil
}

// DeleteStaleSessionClients forgets the records seen before before.
func (s *Store) DeleteStaleSessionClients(_ context.Context, before time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sid, of := range s.clients {
		for id, c := range of {
			if c.SeenAt.Before(before) {
				delete(of, id)
			}
		}
		if len(of) == 0 {
			delete(s.clients, sid)
		}
	}
	return nil
}
