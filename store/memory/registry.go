package memory

import (
	"cmp"
	"context"
	"github.com/erpgate/erpgate/directory"
	"slices"
	"time"

	"github.com/erpgate/erpgate/store"
)

var _ store.Registry = (*Store)(nil)

// CreateApp stores a; store.ErrConflict if its URI exists.
func (s *Store) CreateApp(_ context.Context, a directory.App) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps[a.ID]; ok {
		return store.ErrConflict
	}
	s.apps[a.ID] = copyApp(a)
	return nil
}

// App returns the app with uri; store.ErrNotFound.
func (s *Store) App(_ context.Context, uri string) (directory.App, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[uri]
	if !ok {
		return directory.App{}, store.ErrNotFound
	}
	return copyApp(a), nil
}

// Apps lists every app, oldest CreatedAt first (ties by URI).
func (s *Store) Apps(context.Context) ([]directory.App, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []directory.App
	for _, a := range s.apps {
		out = append(out, copyApp(a))
	}
	slices.SortFunc(out, func(a, b directory.App) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// UpdateApp replaces the app with a.ID, keeping its CreatedAt;
// store.ErrNotFound if there is none.
func (s *Store) UpdateApp(_ context.Context, a directory.App) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.apps[a.ID]
	if !ok {
		return store.ErrNotFound
	}
	a.CreatedAt = old.CreatedAt
	s.apps[a.ID] = copyApp(a)
	return nil
}

// AppsChangedSince lists apps with UpdatedAt >= since, oldest UpdatedAt
// first (ties by URI), so a poller's last entry is its next since.
func (s *Store) AppsChangedSince(_ context.Context, since time.Time) ([]directory.App, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []directory.App
	for _, a := range s.apps {
		if !a.UpdatedAt.Before(since) {
			out = append(out, copyApp(a))
		}
	}
	slices.SortFunc(out, func(a, b directory.App) int {
		if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// SaveReferenceToken stores t; store.ErrConflict if its ID or hash
// exists.
func (s *Store) SaveReferenceToken(_ context.Context, t store.ReferenceToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.refs[t.ID]; ok {
		return store.ErrConflict
	}
	if _, ok := s.refHash[t.Hash]; ok {
		return store.ErrConflict
	}
	s.refs[t.ID] = copyRefToken(t)
	s.refHash[t.Hash] = t.ID
	return nil
}

// ReferenceTokenByHash returns the token with hash; store.ErrNotFound.
func (s *Store) ReferenceTokenByHash(_ context.Context, hash string) (store.ReferenceToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.refHash[hash]
	if !ok {
		return store.ReferenceToken{}, store.ErrNotFound
	}
	return copyRefToken(s.refs[id]), nil
}

// ReferenceToken returns the token with id; store.ErrNotFound.
func (s *Store) ReferenceToken(_ context.Context, id string) (store.ReferenceToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refs[id]
	if !ok {
		return store.ReferenceToken{}, store.ErrNotFound
	}
	return copyRefToken(t), nil
}

// ReferenceTokens lists the tokens of subject, or all for "", oldest
// CreatedAt first (ties by ID).
func (s *Store) ReferenceTokens(_ context.Context, subject string) ([]store.ReferenceToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.ReferenceToken
	for _, t := range s.refs {
		if subject == "" || t.Subject == subject {
			out = append(out, copyRefToken(t))
		}
	}
	slices.SortFunc(out, func(a, b store.ReferenceToken) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RevokeReferenceToken revokes the token with id at at, keeping an
// earlier RevokedAt, and returns it; store.ErrNotFound.
func (s *Store) RevokeReferenceToken(_ context.Context, id string, at time.Time) (store.ReferenceToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refs[id]
	if !ok {
		return store.ReferenceToken{}, store.ErrNotFound
	}
	if t.RevokedAt.IsZero() {
		t.RevokedAt = at
		s.refs[id] = t
	}
	return copyRefToken(t), nil
}

// TouchReferenceTokens moves LastUsedAt forward for the tokens in used.
func (s *Store) TouchReferenceTokens(_ context.Context, used map[string]time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, at := range used {
		t, ok := s.refs[id]
		if !ok || !at.After(t.LastUsedAt) {
			continue
		}
		t.LastUsedAt = at
		s.refs[id] = t
	}
	return nil
}

// SavePasswordChange stores c, replacing the login's previous change.
func (s *Store) SavePasswordChange(_ context.Context, c directory.PasswordChange) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pwds[c.Login] = c
	return nil
}

// PasswordChangesSince lists changes with ChangedAt >= since, oldest
// ChangedAt first (ties by login).
func (s *Store) PasswordChangesSince(_ context.Context, since time.Time) ([]directory.PasswordChange, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []directory.PasswordChange
	for _, c := range s.pwds {
		if !c.ChangedAt.Before(since) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b directory.PasswordChange) int {
		if c := a.ChangedAt.Compare(b.ChangedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Login, b.Login)
	})
	return out, nil
}

// copyApp and copyRefToken copy the slices, so neither the caller nor
// the store can change the other's record by writing into a shared
// array. An empty slice comes back nil, as from store/sqlite.
func copyApp(a directory.App) directory.App {
	a.SecretHash = cloneOrNil(a.SecretHash)
	a.Scopes = cloneOrNil(a.Scopes)
	a.RedirectURIs = cloneOrNil(a.RedirectURIs)
	a.PostLogoutRedirectURIs = cloneOrNil(a.PostLogoutRedirectURIs)
	a.IdentityProviders = cloneOrNil(a.IdentityProviders)
	return a
}

func copyRefToken(t store.ReferenceToken) store.ReferenceToken {
	t.Scopes = cloneOrNil(t.Scopes)
	return t
}

func cloneOrNil[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}
