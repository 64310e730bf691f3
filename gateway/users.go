package gateway

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/erpgate/erpgate/admin"
	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/issuer"
	"github.com/erpgate/erpgate/password"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/revocation"
	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/store"
)

// ResetLinkTTL is how long a password reset link works.
const ResetLinkTTL = 24 * time.Hour

// Users manages the users created at run time (issue 18): they live in
// the store beside the config file's, which stay read-only. It is the
// admin API's admin.Users, the CLI's `erpgate users`, and the identity
// server's issuer.PasswordResets.
//
// A change reaches this process's directory at once (Sync) and the
// others' by their directory sync (NOTIFY users, or the 1 s poll), where
// the credential authority reads it: a disabled or deleted user is
// refused at every door. What the change takes away is ended here at
// once and for good, in the store: the user's sessions (enforce), refresh
// tokens with the access tokens issued from them, identity sessions, and
// reference tokens.
type Users struct {
	store     usersStore
	directory *directory.Table
	enforce   func(context.Context, directory.Changes)
	tokens    refTokens
	issuer    string // where the reset page is: the issuer URL
	clock     func() time.Time
	params    password.Params
	logger    *slog.Logger
	audit     *audit.Logger // mfa.reset
}

var (
	_ admin.Users           = (*Users)(nil)
	_ issuer.PasswordResets = (*Users)(nil)
)

// usersStore is what Users keeps in the store.
type usersStore interface {
	store.Users
	store.PasswordResets
	store.FederatedLinks // a deleted user's links go with it
	store.Factors        // and the second factors
}

// refTokens revokes reference tokens: *reftoken.Service, which drops
// them from its cache and records the revocation for every process.
type refTokens interface {
	List(ctx context.Context, subject string) ([]store.ReferenceToken, error)
	Revoke(ctx context.Context, id, actor string) (store.ReferenceToken, error)
}

// UsersConfig is what NewUsers builds on; the gateway passes its own
// parts, the CLI those it opens over the config's store.
type UsersConfig struct {
	File      *config.File
	Store     store.Backend
	Directory *directory.Table
	Sessions  *session.Manager
	Revoked   *revocation.List
	RefTokens *reftoken.Service
	// PasswordParams are the argon2id costs of the passwords set;
	// zero: password.Default.
	PasswordParams password.Params
	Clock          func() time.Time
	Logger         *slog.Logger
	Audit          *audit.Logger
}

// NewUsers returns the user registry of c.
func NewUsers(c UsersConfig) *Users {
	e := &enforcer{sessions: c.Sessions, directory: c.Directory, grants: c.Store, revoked: c.Revoked,
		audit: c.Audit, logger: c.Logger, clock: c.Clock}
	return &Users{
		store: c.Store, directory: c.Directory, enforce: e.apply, tokens: c.RefTokens, issuer: c.File.Issuer(), audit: c.Audit,
		clock: c.Clock, params: cmp.Or(c.PasswordParams, password.Default), logger: c.Logger,
	}
}

// newUsers is the gateway's registry, over its long-lived parts.
func (g *Gateway) newUsers() *Users {
	return &Users{
		store: g.store, directory: g.directory, enforce: g.enforce, tokens: g.reftokens, issuer: g.file.Issuer(),
		clock: g.clock, params: password.Default, logger: g.logger,
	}
}

// Sources of a user in the API.
const (
	sourceConfig = "config"
	sourceStore  = "store"
)

// List returns the config file's users (by login), then the stored ones
// (oldest first).
func (u *Users) List(ctx context.Context) ([]admin.UserInfo, error) {
	file := u.directory.ConfigUsers()
	slices.SortFunc(file, func(a, b *directory.User) int { return strings.Compare(a.Login, b.Login) })
	out := make([]admin.UserInfo, 0, len(file))
	for _, f := range file {
		out = append(out, admin.UserView(*f, sourceConfig))
	}
	stored, err := u.store.Users(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range stored {
		if u.directory.ConfigUser(s.Login) == nil { // shadowed by a login the file gained since
			out = append(out, admin.UserView(s, sourceStore))
		}
	}
	return out, nil
}

// Get returns the user with login, from the file or the store.
func (u *Users) Get(ctx context.Context, login string) (admin.UserInfo, error) {
	if f := u.directory.ConfigUser(login); f != nil {
		return admin.UserView(*f, sourceConfig), nil
	}
	s, err := u.stored(ctx, login)
	if err != nil {
		return admin.UserInfo{}, err
	}
	return admin.UserView(s, sourceStore), nil
}

// stored reads a stored user; admin.ErrConfigUser for a login of the
// file, admin.ErrUserNotFound for none.
func (u *Users) stored(ctx context.Context, login string) (directory.User, error) {
	if u.directory.ConfigUser(login) != nil {
		return directory.User{}, admin.ErrConfigUser
	}
	s, err := u.store.User(ctx, login)
	if errors.Is(err, store.ErrNotFound) {
		return s, admin.ErrUserNotFound
	}
	return s, err
}

// Create stores a new user, with a password if in has one.
func (u *Users) Create(ctx context.Context, in admin.UserInput) (admin.UserInfo, error) {
	now := u.clock().Truncate(time.Millisecond)
	rec := directory.User{
		Login: in.Login, ID: newUserID(), Name: in.Name, Email: in.Email, EmailVerified: in.EmailVerified,
		Locale: in.Locale, Type: in.Type, Admin: in.Admin, MFARequired: in.MFARequired, CreatedAt: now, UpdatedAt: now,
	}
	probs := CheckUser(rec)
	if in.Password != "" {
		if rec.Type == directory.TypeSystem {
			probs = append(probs, "user.password: system users have no password (they act through client credentials)")
		} else if p := CheckPassword(in.Login, in.Password); p != "" {
			probs = append(probs, "user.password: "+p)
		}
	}
	if len(probs) > 0 {
		return admin.UserInfo{}, &admin.InvalidError{Problems: probs}
	}
	// The file's logins are the file's: a stored user never shadows one.
	if u.directory.ConfigUser(rec.Login) != nil {
		return admin.UserInfo{}, admin.ErrUserConflict
	}
	if in.Password != "" {
		rec.PasswordHash = password.Hash(in.Password, u.params)
	}
	if err := u.store.CreateUser(ctx, rec); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return admin.UserInfo{}, admin.ErrUserConflict
		}
		return admin.UserInfo{}, err
	}
	return admin.UserView(rec, sourceStore), u.directory.Sync(ctx)
}

// Update changes the fields e sets.
func (u *Users) Update(ctx context.Context, login string, e admin.UserEdit) (admin.UserInfo, error) {
	s, err := u.change(ctx, login, func(s *directory.User) error {
		set(&s.Name, e.Name)
		set(&s.Email, e.Email)
		set(&s.Locale, e.Locale)
		set(&s.Type, e.Type)
		set(&s.EmailVerified, e.EmailVerified)
		set(&s.Admin, e.Admin)
		set(&s.Disabled, e.Disabled)
		set(&s.MFARequired, e.MFARequired)
		if s.Type == directory.TypeSystem {
			s.PasswordHash = "" // system users do not sign in
		}
		if probs := CheckUser(*s); len(probs) > 0 {
			return &admin.InvalidError{Problems: probs}
		}
		return nil
	})
	return admin.UserView(s, sourceStore), err
}

func set[T any](field *T, v *T) {
	if v != nil {
		*field = *v
	}
}

// SetPassword sets a stored user's password; like any password change
// it signs them out everywhere.
func (u *Users) SetPassword(ctx context.Context, login, pw string) error {
	_, err := u.change(ctx, login, func(s *directory.User) error {
		if s.Type == directory.TypeSystem {
			return &admin.InvalidError{Problems: []string{"user.password: system users have no password (they act through client credentials)"}}
		}
		if p := CheckPassword(login, pw); p != "" {
			return &admin.InvalidError{Problems: []string{"user.password: " + p}}
		}
		s.PasswordHash = password.Hash(pw, u.params)
		return nil
	})
	return err
}

// Delete deletes a stored user: the store keeps a tombstone, so every
// process's directory drops the user.
func (u *Users) Delete(ctx context.Context, login string) error {
	old, err := u.stored(ctx, login)
	if err != nil {
		return err
	}
	if err := u.store.DeleteUser(ctx, login, u.clock().Truncate(time.Millisecond)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return admin.ErrUserNotFound
		}
		return err
	}
	if err := u.directory.Sync(ctx); err != nil {
		return err
	}
	u.takeAway(ctx, old, nil)
	// The login may be created again; the old identities at providers,
	// and the old authenticator and recovery codes, must not reach the
	// new user.
	if err := u.store.DeleteFederatedLinks(context.WithoutCancel(ctx), login); err != nil {
		return err
	}
	return u.store.DeleteFactors(context.WithoutCancel(ctx), login)
}

// ResetFactors removes the second factors of login, a user of the file
// or of the store: the factors are the store's either way. The user's
// sign-ins are not ended; a policy that requires a factor asks them to
// enrol again at the next one.
func (u *Users) ResetFactors(ctx context.Context, login string) error {
	if u.directory.ConfigUser(login) == nil {
		if _, err := u.stored(ctx, login); err != nil {
			return err
		}
	}
	if err := u.store.DeleteFactors(ctx, login); err != nil {
		return err
	}
	if u.audit != nil {
		u.audit.Log(ctx, audit.Event{Name: audit.MFAReset, Subject: login})
	}
	return nil
}

// change applies edit to a stored user and makes it effective: in this
// process at once (the directory, and ending what the change takes
// away), in others within a second.
func (u *Users) change(ctx context.Context, login string, edit func(*directory.User) error) (directory.User, error) {
	s, err := u.stored(ctx, login)
	if err != nil {
		return s, err
	}
	old := s
	if err := edit(&s); err != nil {
		return old, err
	}
	s.UpdatedAt = u.clock().Truncate(time.Millisecond)
	if err := u.store.UpdateUser(ctx, s); err != nil {
		if errors.Is(err, store.ErrNotFound) { // deleted meanwhile
			return old, admin.ErrUserNotFound
		}
		return old, err
	}
	if err := u.directory.Sync(ctx); err != nil {
		return s, err
	}
	u.takeAway(ctx, old, &s)
	return s, nil
}

// takeAway ends what the change from old to next (nil: deleted) takes
// away. Sessions, refresh tokens and identity sessions: enforce, as for
// a change of the file. Reference tokens are revoked when the user is
// deleted, disabled or changes type, so re-enabling the user (or a new
// user of the login) does not bring them back.
func (u *Users) takeAway(ctx context.Context, old directory.User, next *directory.User) {
	ctx = context.WithoutCancel(ctx)
	u.enforce(ctx, directory.Changes{Users: []directory.Change[directory.User]{{Old: &old, New: next}}})
	if next != nil && next.Type == old.Type && (!next.Disabled || old.Disabled) {
		return
	}
	toks, err := u.tokens.List(ctx, old.Login)
	if err != nil {
		u.logger.ErrorContext(ctx, "users: list reference tokens", "subject", old.Login, "err", err)
		return
	}
	for _, t := range toks {
		if !t.RevokedAt.IsZero() {
			continue
		}
		// As the administrator who made the change (admin.Actor), an
		// operator ("") from the CLI.
		if _, err := u.tokens.Revoke(ctx, t.ID, admin.Actor(ctx)); err != nil {
			u.logger.ErrorContext(ctx, "users: revoke reference token", "subject", old.Login, "token_id", t.ID, "err", err)
		}
	}
}

// ResetLink issues a one-time link to set login's password: public_url
// + /id/account/reset?token=…, working once within ResetLinkTTL. The
// store keeps the token's hash only; a new link replaces the previous
// one.
func (u *Users) ResetLink(ctx context.Context, login string) (string, time.Time, error) {
	s, err := u.stored(ctx, login)
	if err != nil {
		return "", time.Time{}, err
	}
	if s.Type == directory.TypeSystem {
		return "", time.Time{}, &admin.InvalidError{Problems: []string{"user.type: system users have no password to reset"}}
	}
	if s.Disabled {
		return "", time.Time{}, &admin.InvalidError{Problems: []string{"user.disabled: enable the user first; a disabled user cannot sign in"}}
	}
	token := newResetToken()
	now := u.clock().Truncate(time.Millisecond)
	r := store.PasswordReset{Hash: resetHash(token), Login: login, CreatedAt: now, CreatedBy: cmp.Or(admin.Actor(ctx), "operator"),
		ExpiresAt: now.Add(ResetLinkTTL)}
	if err := u.store.SavePasswordReset(ctx, r); err != nil {
		return "", time.Time{}, err
	}
	return u.issuer + issuer.AccountResetPath + "?token=" + url.QueryEscape(token), r.ExpiresAt, nil
}

// CheckReset returns the login token's link sets a password for now: an
// unused, unexpired link of an enabled stored user, issued after that
// user was created (a link of a deleted user does not work for a new
// user of the login).
func (u *Users) CheckReset(ctx context.Context, token string) (string, error) {
	if token == "" {
		return "", issuer.ErrResetInvalid
	}
	r, err := u.store.PasswordReset(ctx, resetHash(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", issuer.ErrResetInvalid
	case err != nil:
		return "", err
	case !r.UsedAt.IsZero():
		return "", issuer.ErrResetUsed
	case !u.clock().Before(r.ExpiresAt):
		return "", issuer.ErrResetExpired
	}
	d := u.directory.User(r.Login)
	if d == nil || u.directory.ConfigUser(r.Login) != nil || d.CreatedAt.After(r.CreatedAt) || d.Type == directory.TypeSystem {
		return "", issuer.ErrResetInvalid
	}
	return r.Login, nil
}

// Reset uses token's link, once, to set its user's password hash.
func (u *Users) Reset(ctx context.Context, token, hash string) (string, error) {
	login, err := u.CheckReset(ctx, token)
	if err != nil {
		return "", err
	}
	if _, err := u.store.UsePasswordReset(ctx, resetHash(token), u.clock()); err != nil {
		if errors.Is(err, store.ErrNotFound) { // used or expired since the check
			if _, err := u.CheckReset(ctx, token); err != nil {
				return "", err
			}
			return "", issuer.ErrResetUsed
		}
		return "", err
	}
	_, err = u.change(ctx, login, func(s *directory.User) error {
		s.PasswordHash = hash
		return nil
	})
	if errors.Is(err, admin.ErrUserNotFound) || errors.Is(err, admin.ErrConfigUser) {
		return "", issuer.ErrResetInvalid
	}
	return login, err
}

// resetHash is how the store keeps a reset token: SHA-256, hex.
func resetHash(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

// newResetToken returns 256 random bits, base64url.
func newResetToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newUserID returns a random UUID (RFC 9562 version 4), the "id" claim
// of a stored user: a new user of a deleted login is another person.
func newUserID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Bounds of a stored user's fields.
const (
	maxLoginLength = 64
	maxNameLength  = 200
	maxEmailLength = 254 // RFC 5321 §4.5.3.1.3, a path's limit
)

// loginPattern is what a stored login may be: letters, digits and . _ @
// -, starting with a letter or digit; it is the sub claim and a path
// segment of the admin API, so nothing that needs escaping.
var loginPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]*$`)

// localePattern is a BCP 47 language tag's shape (RFC 5646 §2.1): a
// language of 2-3 letters, then subtags of 1-8 letters or digits.
var localePattern = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$`)

// CheckUser lists what is wrong with a stored user, each with its path
// ("user.email: …"); none for a valid one.
func CheckUser(u directory.User) []string {
	var probs []string
	add := func(field, msg string) { probs = append(probs, "user."+field+": "+msg) }
	switch {
	case u.Login == "":
		add("login", "required")
	case len(u.Login) > maxLoginLength:
		add("login", fmt.Sprintf("at most %d characters", maxLoginLength))
	case !loginPattern.MatchString(u.Login):
		add("login", "letters, digits and . _ @ - only, starting with a letter or digit")
	}
	if utf8.RuneCountInString(u.Name) > maxNameLength || strings.ContainsFunc(u.Name, unicode.IsControl) {
		add("name", fmt.Sprintf("at most %d characters, no control characters", maxNameLength))
	}
	if u.Email != "" {
		if a, err := mail.ParseAddress(u.Email); err != nil || a.Name != "" || a.Address != u.Email || len(u.Email) > maxEmailLength {
			add("email", "must be a bare email address such as alice@example.com")
		}
	}
	if u.EmailVerified && u.Email == "" {
		add("email_verified", "must not be true without an email")
	}
	switch {
	case u.Locale == "":
	case strings.Contains(u.Locale, "_"):
		add("locale", `must be a BCP 47 language tag, subtags separated by "-": `+strings.ReplaceAll(u.Locale, "_", "-"))
	case !localePattern.MatchString(u.Locale):
		add("locale", "must be a BCP 47 language tag such as bg-BG or en")
	}
	switch u.Type {
	case directory.TypeInternal, directory.TypeCommunity, directory.TypeSystem:
	case "":
		add("type", "required: internal, community or system")
	default:
		add("type", "must be one of internal, community, system")
	}
	return probs
}

// CheckPassword says what is wrong with pw as login's new password, by
// the account page's rules (issuer.MinPasswordLength: length rather than
// composition, OWASP); "" when it is fine.
func CheckPassword(login, pw string) string {
	switch {
	case utf8.RuneCountInString(pw) < issuer.MinPasswordLength:
		return fmt.Sprintf("must have at least %d characters", issuer.MinPasswordLength)
	case len(pw) > issuer.MaxPasswordBytes:
		return fmt.Sprintf("must have at most %d bytes", issuer.MaxPasswordBytes)
	case strings.EqualFold(pw, login):
		return "must not be the login"
	}
	return ""
}
