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

// Registry is what is created at run time beside the config file:
// administrators' apps and reference tokens, and users' own passwords.
type Registry interface {
	Apps
	ReferenceTokens
	PasswordChanges
}
