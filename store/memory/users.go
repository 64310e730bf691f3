package memory

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/store"
)

// CreateUser stores u; store.ErrConflict if a live user has its login.
// A tombstone of the login is replaced.
func (s *Store) CreateUser(_ context.Context, u directory.User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.users[u.Login]; ok && old.DeletedAt.IsZero() {
		return store.ErrConflict
	}
	u.DeletedAt = time.Time{}
	s.users[u.Login] = u
	return nil
}

// User returns the live user with login; store.ErrNotFound.
func (s *Store) User(_ context.Context, login string) (directory.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[login]
	if !ok || !u.DeletedAt.IsZero() {
		return directory.User{}, store.ErrNotFound
	}
	return u, nil
}

// Users lists the live users, oldest CreatedAt first (ties by login).
func (s *Store) Users(context.Context) ([]directory.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []directory.User
	for _, u := range s.users {
		if u.DeletedAt.IsZero() {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b directory.User) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Login, b.Login))
	})
	return out, nil
}

// UpdateUser replaces the live user with u.Login, keeping its ID and
// CreatedAt; store.ErrNotFound if there is none.
func (s *Store) UpdateUser(_ context.Context, u directory.User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[u.Login]
	if !ok || !old.DeletedAt.IsZero() {
		return store.ErrNotFound
	}
	u.ID, u.CreatedAt, u.DeletedAt = old.ID, old.CreatedAt, time.Time{}
	s.users[u.Login] = u
	return nil
}

// DeleteUser turns the live user with login into a tombstone;
// store.ErrNotFound if there is none.
func (s *Store) DeleteUser(_ context.Context, login string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[login]
	if !ok || !old.DeletedAt.IsZero() {
		return store.ErrNotFound
	}
	s.users[login] = directory.User{Login: login, ID: old.ID, Type: old.Type, Disabled: true,
		CreatedAt: old.CreatedAt, UpdatedAt: at, DeletedAt: at}
	return nil
}

// UsersChangedSince lists users and tombstones with UpdatedAt >= since,
// oldest UpdatedAt first (ties by login).
func (s *Store) UsersChangedSince(_ context.Context, since time.Time) ([]directory.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []directory.User
	for _, u := range s.users {
		if !u.UpdatedAt.Before(since) {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b directory.User) int {
		return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), cmp.Compare(a.Login, b.Login))
	})
	return out, nil
}

// SavePasswordReset stores r as its login's one reset.
func (s *Store) SavePasswordReset(_ context.Context, r store.PasswordReset) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resets[r.Login] = r
	return nil
}

// PasswordReset returns the reset with hash; store.ErrNotFound.
func (s *Store) PasswordReset(_ context.Context, hash string) (store.PasswordReset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resetByHash(hash)
}

// UsePasswordReset marks the unused, unexpired reset with hash used at
// at; store.ErrNotFound otherwise.
func (s *Store) UsePasswordReset(_ context.Context, hash string, at time.Time) (store.PasswordReset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.resetByHash(hash)
	if err != nil || !r.UsedAt.IsZero() || !r.ExpiresAt.After(at) {
		return store.PasswordReset{}, store.ErrNotFound
	}
	r.UsedAt = at
	s.resets[r.Login] = r
	return r, nil
}

// resetByHash finds a reset by hash; there are as many as stored users
// at most, so a scan is fine. Called with mu held.
func (s *Store) resetByHash(hash string) (store.PasswordReset, error) {
	for _, r := range s.resets {
		if r.Hash == hash {
			return r, nil
		}
	}
	return store.PasswordReset{}, store.ErrNotFound
}
