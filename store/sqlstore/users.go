package sqlstore

import (
	"context"
	"time"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/store"
)

// UserColumns are the columns of users, in ScanUser's order.
const UserColumns = `login, id, name, email, email_verified, locale, type, admin, password_hash, disabled,
	created_at, updated_at, deleted_at, mfa_required`

// ScanUser reads a row of UserColumns.
func (r *Records) ScanUser(row Row) (directory.User, error) {
	var u directory.User
	f := r.f
	if err := row.Scan(&u.Login, &u.ID, &u.Name, &u.Email, &u.EmailVerified, &u.Locale, &u.Type, &u.Admin,
		&u.PasswordHash, &u.Disabled, f.ScanTime(&u.CreatedAt), f.ScanTime(&u.UpdatedAt), f.ScanTime(&u.DeletedAt), &u.MFARequired); err != nil {
		return directory.User{}, err
	}
	return u, nil
}

// userArgs returns u's columns in UserColumns order, deleted_at NULL
// (a live user).
func (r *Records) userArgs(u directory.User) []any {
	f := r.f
	return []any{u.Login, u.ID, u.Name, u.Email, u.EmailVerified, u.Locale, u.Type, u.Admin, u.PasswordHash,
		u.Disabled, f.Time(u.CreatedAt), f.Time(u.UpdatedAt), f.NullTime(time.Time{}), u.MFARequired}
}

// CreateUser stores u; store.ErrConflict if a live user has its login.
// One statement: a tombstone of the login is replaced (the upsert's
// WHERE), a live user is not, so of concurrent creates one wins.
func (s *Store) CreateUser(ctx context.Context, u directory.User) error {
	n, err := s.write.Exec(ctx, s.rec.q.createUser, s.rec.userArgs(u)...)
	return s.rec.changed(n, err, "create user", store.ErrConflict)
}

// User returns the live user with login; store.ErrNotFound.
func (s *Store) User(ctx context.Context, login string) (directory.User, error) {
	return one(s.rec, s.read.QueryRow(ctx, s.rec.q.user, login), s.rec.ScanUser, "user", store.ErrNotFound)
}

// Users lists the live users, oldest CreatedAt first (ties by login).
func (s *Store) Users(ctx context.Context) ([]directory.User, error) {
	return list(ctx, s.rec, s.read, s.rec.ScanUser, "users", s.rec.q.users)
}

// UpdateUser replaces the live user with u.Login but its id and
// created_at; store.ErrNotFound if there is none. One statement: the
// last of concurrent updates wins.
func (s *Store) UpdateUser(ctx context.Context, u directory.User) error {
	n, err := s.write.Exec(ctx, s.rec.q.updateUser, u.Login, u.Name, u.Email, u.EmailVerified, u.Locale, u.Type,
		u.Admin, u.PasswordHash, u.Disabled, s.rec.f.Time(u.UpdatedAt), u.MFARequired)
	return s.rec.changed(n, err, "update user", store.ErrNotFound)
}

// DeleteUser turns the live user with login into a tombstone;
// store.ErrNotFound if there is none.
func (s *Store) DeleteUser(ctx context.Context, login string, at time.Time) error {
	n, err := s.write.Exec(ctx, s.rec.q.deleteUser, login, s.rec.f.Time(at))
	return s.rec.changed(n, err, "delete user", store.ErrNotFound)
}

// UsersChangedSince lists users and tombstones with UpdatedAt >= since,
// oldest UpdatedAt first (ties by login).
func (s *Store) UsersChangedSince(ctx context.Context, since time.Time) ([]directory.User, error) {
	return list(ctx, s.rec, s.read, s.rec.ScanUser, "users changed since", s.rec.q.usersSince, s.rec.f.Time(since))
}

// ResetColumns are the columns of password_resets, in scanReset's order.
const ResetColumns = "hash, login, created_at, created_by, expires_at, used_at"

func (r *Records) scanReset(row Row) (store.PasswordReset, error) {
	var p store.PasswordReset
	f := r.f
	err := row.Scan(&p.Hash, &p.Login, f.ScanTime(&p.CreatedAt), &p.CreatedBy, f.ScanTime(&p.ExpiresAt), f.ScanTime(&p.UsedAt))
	return p, err
}

// SavePasswordReset stores p as its login's one reset, in one statement.
func (s *Store) SavePasswordReset(ctx context.Context, p store.PasswordReset) error {
	f := s.rec.f
	if _, err := s.write.Exec(ctx, s.rec.q.savePasswordReset, p.Hash, p.Login, f.Time(p.CreatedAt), p.CreatedBy,
		f.Time(p.ExpiresAt), f.NullTime(p.UsedAt)); err != nil {
		return s.rec.Err("save password reset", err)
	}
	return nil
}

// PasswordReset returns the reset with hash; store.ErrNotFound.
func (s *Store) PasswordReset(ctx context.Context, hash string) (store.PasswordReset, error) {
	return one(s.rec, s.read.QueryRow(ctx, s.rec.q.passwordReset, hash), s.rec.scanReset, "password reset", store.ErrNotFound)
}

// UsePasswordReset marks the unused, unexpired reset with hash used at
// at; store.ErrNotFound otherwise. One conditional UPDATE: of concurrent
// uses the first sets used_at and the others find it set.
func (s *Store) UsePasswordReset(ctx context.Context, hash string, at time.Time) (store.PasswordReset, error) {
	return one(s.rec, s.write.QueryRow(ctx, s.rec.q.usePasswordReset, hash, s.rec.f.Time(at)), s.rec.scanReset,
		"use password reset", store.ErrNotFound)
}
