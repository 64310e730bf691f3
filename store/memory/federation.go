package memory

import (
	"cmp"
	"context"
	"slices"

	"github.com/erpgate/erpgate/store"
)

type linkKey struct{ provider, subject string }

// FederatedLink returns the link of (provider, subject).
func (s *Store) FederatedLink(_ context.Context, provider, subject string) (store.FederatedLink, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[linkKey{provider, subject}]
	if !ok {
		return store.FederatedLink{}, store.ErrNotFound
	}
	return l, nil
}

// SaveFederatedLink stores l; the same identity linked to the same login
// only moves LastUsedAt forward, to another login is ErrConflict.
func (s *Store) SaveFederatedLink(_ context.Context, l store.FederatedLink) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.links == nil {
		s.links = make(map[linkKey]store.FederatedLink)
	}
	k := linkKey{l.Provider, l.Subject}
	if old, ok := s.links[k]; ok {
		if old.Login != l.Login {
			return store.ErrConflict
		}
		if l.LastUsedAt.After(old.LastUsedAt) {
			old.LastUsedAt = l.LastUsedAt
			s.links[k] = old
		}
		return nil
	}
	s.links[k] = l
	return nil
}

// FederatedLinksOf lists the links of login, by provider and subject.
func (s *Store) FederatedLinksOf(_ context.Context, login string) ([]store.FederatedLink, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.FederatedLink
	for _, l := range s.links {
		if l.Login == login {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b store.FederatedLink) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Subject, b.Subject))
	})
	return out, nil
}

// DeleteFederatedLinks forgets the links of login.
func (s *Store) DeleteFederatedLinks(_ context.Context, login string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, l := range s.links {
		if l.Login == login {
			delete(s.links, k)
		}
	}
	return nil
}
