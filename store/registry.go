package store

import (
	"context"
	"time"

	"github.com/erpgate/erpgate/directory"
)

// Apps keeps run-time Trusted Applications.
type Apps interface {
	// CreateApp stores a; ErrConflict if its ID exists.
	CreateApp(ctx context.Context, a directory.App) error
	// App returns the app with id; ErrNotFound.
	App(ctx context.Context, uri string) (directory.App, error)
	// Apps lists every stored app, oldest CreatedAt first.
	Apps(ctx context.Context) ([]directory.App, error)
	// UpdateApp replaces the stored app with a.ID (CreatedAt is kept as
	// stored); ErrNotFound if there is none.
	UpdateApp(ctx context.Context, a directory.App) error
	// AppsChangedSince lists apps whose UpdatedAt is at or after since,
	// oldest first, so every process can refresh its app table cheaply.
	AppsChangedSince(ctx context.Context, since time.Time) ([]directory.App, error)
}

// Reference token types (SPEC §6).
const (
	PersonalAccessToken = "pat" // acts as its user
	ServiceAccessToken  = "sat" // acts as the app's system user
)

// ReferenceToken is an opaque API token (enrt_…), kept by the hash of its
// value only; the value is shown once, when it is issued.
type ReferenceToken struct {
	ID         string // public identifier, safe to show and log
	Hash       string // SHA-256 of the token value, hex
	Type       string // PersonalAccessToken or ServiceAccessToken
	ClientID   string // the app it belongs to
	Subject    string // the user (PAT) or the app's system user (SAT)
	Scopes     []string
	CreatedAt  time.Time
	CreatedBy  string // who issued it (a login, or "cli")
	ExpiresAt  time.Time
	LastUsedAt time.Time // zero until first use; written coalesced
	RevokedAt  time.Time // zero unless revoked
	// Name and Description are what its holder calls the token and what
	// it is for (the account page asks for a name); "" for none. Shown
	// in lists, like ID.
	Name, Description string
}

// ReferenceTokens keeps reference tokens.
type ReferenceTokens interface {
	// SaveReferenceToken stores t; ErrConflict if its ID or hash exists.
	SaveReferenceToken(ctx context.Context, t ReferenceToken) error
	// ReferenceTokenByHash returns the token whose value hashes to hash;
	// ErrNotFound.
	ReferenceTokenByHash(ctx context.Context, hash string) (ReferenceToken, error)
	// ReferenceToken returns the token with id; ErrNotFound.
	ReferenceToken(ctx context.Context, id string) (ReferenceToken, error)
	// ReferenceTokens lists tokens, oldest first; subject "" means all.
	ReferenceTokens(ctx context.Context, subject string) ([]ReferenceToken, error)
	// RevokeReferenceToken revokes the token with id at at and returns it;
	// revoking again keeps the first RevokedAt; ErrNotFound.
	RevokeReferenceToken(ctx context.Context, id string, at time.Time) (ReferenceToken, error)
	// TouchReferenceTokens sets LastUsedAt for each id in used (batched,
	// like TouchSessions); unknown ids are ignored; never moves backwards.
	TouchReferenceTokens(ctx context.Context, used map[string]time.Time) error
}

// PasswordChanges keeps the passwords users set themselves on the
// account page (directory.PasswordChange), one per login, so every
// process's directory applies them (directory.Table.Sync).
type PasswordChanges interface {
	// SavePasswordChange stores c, replacing the stored change of
	// c.Login whole.
	SavePasswordChange(ctx context.Context, c directory.PasswordChange) error
	// PasswordChangesSince lists the changes whose ChangedAt is at or
	// after since, oldest ChangedAt first (ties by Login), so every
	// process can refresh its directory cheaply, as with
	// AppsChangedSince.
	PasswordChangesSince(ctx context.Context, since time.Time) ([]directory.PasswordChange, error)
}

// Users keeps the users created at run time, beside the config file's
// (issue 18). A deleted user leaves a tombstone (DeletedAt set), so
// every process's directory learns of the deletion from
// UsersChangedSince as it learns of any change.
type Users interface {
	// CreateUser stores u; ErrConflict if a live user has u.Login. A
	// deleted login may be created again: the new record replaces its
	// tombstone whole.
	CreateUser(ctx context.Context, u directory.User) error
	// User returns the live user with login; ErrNotFound, for a deleted
	// one too.
	User(ctx context.Context, login string) (directory.User, error)
	// Users lists the live users, oldest CreatedAt first (ties by login).
	Users(ctx context.Context) ([]directory.User, error)
	// UpdateUser replaces the live user with u.Login (ID and CreatedAt
	// are kept as stored; DeletedAt is ignored); ErrNotFound if there is
	// none.
	UpdateUser(ctx context.Context, u directory.User) error
	// DeleteUser turns the live user with login into a tombstone at at:
	// login, ID, Type and CreatedAt stay, UpdatedAt and DeletedAt become
	// at, Disabled is set and the rest is cleared (no password hash or
	// email outlives the user); ErrNotFound.
	DeleteUser(ctx context.Context, login string, at time.Time) error
	// UsersChangedSince lists users, tombstones included, whose
	// UpdatedAt is at or after since, oldest UpdatedAt first (ties by
	// login), as AppsChangedSince does.
	UsersChangedSince(ctx context.Context, since time.Time) ([]directory.User, error)
}

// PasswordReset is a one-time password reset link an operator issued
// for a stored user, kept by the hash of its token only: the link is
// shown once, to the operator.
type PasswordReset struct {
	Hash      string // SHA-256 of the link's token, hex
	Login     string
	CreatedAt time.Time
	CreatedBy string // who issued it: an administrator's login, or "operator" (the CLI, a service app)
	ExpiresAt time.Time
	UsedAt    time.Time // zero until the link is used
}

// PasswordResets keeps reset links: at most one per login, so issuing a
// new link ends the previous one.
type PasswordResets interface {
	// SavePasswordReset stores r as r.Login's one reset, replacing any
	// earlier one.
	SavePasswordReset(ctx context.Context, r PasswordReset) error
	// PasswordReset returns the reset with hash, used or not;
	// ErrNotFound.
	PasswordReset(ctx context.Context, hash string) (PasswordReset, error)
	// UsePasswordReset marks the reset with hash used at at and returns
	// it, if it is unused and expires after at; otherwise ErrNotFound.
	// Of concurrent uses of one link, exactly one succeeds.
	UsePasswordReset(ctx context.Context, hash string, at time.Time) (PasswordReset, error)
}

// Registry is what is created at run time beside the config file:
// administrators' apps, users and reference tokens, users' own passwords
// and reset links.
type Registry interface {
	Apps
	Users
	ReferenceTokens
	PasswordChanges
	PasswordResets
}
