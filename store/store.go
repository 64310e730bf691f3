package store

import (
	"context"
	"errors"
	"time"
)

// Errors every backend returns, so callers can test with errors.Is.
var (
	// ErrNotFound means no record has the given key.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a record with the same key already exists.
	ErrConflict = errors.New("store: already exists")
	// ErrLicenseExhausted means opening a session would exceed the
	// license cap (ERP.net: MaximumLicenseCountExceeded).
	ErrLicenseExhausted = errors.New("store: no free license slot")
	// ErrSessionEnded means the session was ended for good (logout or an
	// administrator) and may not be reopened.
	ErrSessionEnded = errors.New("store: session ended")
)

// SigningKey is one private key of the identity server. Keys are
// generated on first start and rotated on schedule; an old key stays
// published until every token it signed has expired.
type SigningKey struct {
	ID         string    // the JWS "kid"
	Algorithm  string    // RS256, ES256 or EdDSA
	PrivateJWK []byte    // the private key as a JSON Web Key (RFC 7517)
	CreatedAt  time.Time // signing starts here
	RetireAt   time.Time // no new signatures after this instant
	ExpiresAt  time.Time // leaves the JWKS (RetireAt + longest token TTL)
}

// Keys keeps the signing keys.
type Keys interface {
	// SigningKeys returns every stored key, oldest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// AddSigningKey stores k; ErrConflict if its ID exists.
	AddSigningKey(ctx context.Context, k SigningKey) error
	// DeleteExpiredSigningKeys removes keys whose ExpiresAt is before now.
	DeleteExpiredSigningKeys(ctx context.Context, now time.Time) error
}

// Session kinds.
const (
	SessionUser    = "user"    // a person, via authorization code
	SessionService = "service" // a system user, via client credentials
)

// Reasons a session ends (SPEC §5).
const (
	EndIdle     = "idle"     // no call within the idle timeout
	EndLifetime = "lifetime" // service session reached its maximum lifetime
	EndLogout   = "logout"   // endsession or /oauth2/sign_out
	EndAdmin    = "admin"    // ended by an administrator
)

// Session is one ERP session: opened by the first proxied call with a
// token, keyed by the token's sid, holding one license slot while open.
type Session struct {
	ID         string    // the token's sid
	Subject    string    // login or system user
	ClientID   string    // Trusted App that obtained the token
	Kind       string    // SessionUser or SessionService
	Reserved   bool      // subject has a reserved seat (license.reserved)
	OpenedAt   time.Time //
	LastSeenAt time.Time // slides with every call (written coalesced)
	// ExpiresAt is a hard end regardless of activity (service sessions);
	// zero means none.
	ExpiresAt time.Time
	EndedAt   time.Time // zero while open
	EndReason string    // one of the End* constants once ended
}

// Open reports whether the session still holds its slot.
func (s Session) Open() bool { return s.EndedAt.IsZero() }

// License is the cap OpenSession enforces.
type License struct {
	// Slots caps open sessions; 0 means unlimited.
	Slots int
	// Reserved is how many of Slots are kept for subjects with a reserved
	// seat. A non-reserved session may only take one of the other
	// Slots-Reserved slots; a reserved subject may take any free slot.
	Reserved int
}

// Sessions keeps ERP sessions and counts license slots.
type Sessions interface {
	// OpenSession opens s (EndedAt zero) atomically under lic. If a
	// session with s.ID is open it is returned unchanged (so concurrent
	// first calls with one token open exactly one session). If it ended
	// by idle or lifetime, it is reopened as a new session with s's
	// times. If it ended by logout or admin, ErrSessionEnded. If no slot
	// is free, ErrLicenseExhausted.
	OpenSession(ctx context.Context, s Session, lic License) (Session, error)
	// Session returns the session with id, open or ended; ErrNotFound.
	Session(ctx context.Context, id string) (Session, error)
	// OpenSessions lists sessions still open, oldest first.
	OpenSessions(ctx context.Context) ([]Session, error)
	// TouchSessions sets LastSeenAt for each open session in seen (a
	// batch, so sliding idle timers costs one write per flush, not per
	// request). Unknown or ended ids are ignored; LastSeenAt never moves
	// backwards.
	TouchSessions(ctx context.Context, seen map[string]time.Time) error
	// EndSession ends an open session; ErrNotFound if unknown. Ending an
	// ended session is not an error and keeps the first reason.
	EndSession(ctx context.Context, id, reason string, at time.Time) (Session, error)
	// EndStaleSessions ends every open session idle since before
	// idleBefore (reason EndIdle) or past its ExpiresAt at now (reason
	// EndLifetime), and returns the sessions it ended.
	EndStaleSessions(ctx context.Context, idleBefore, now time.Time) ([]Session, error)
}

// Revocations keeps revoked token ids (jti) until the token would have
// expired anyway.
type Revocations interface {
	// Revoke records jti as revoked until expiresAt. Revoking twice is
	// not an error.
	Revoke(ctx context.Context, jti string, expiresAt time.Time) error
	// Revoked reports whether jti is revoked.
	Revoked(ctx context.Context, jti string) (bool, error)
	// DeleteExpiredRevocations forgets revocations past their expiry.
	DeleteExpiredRevocations(ctx context.Context, now time.Time) error
}

// Backend is a whole store: what cmd/erpgate opens and hands to the
// issuer and proxy, and what store/storetest checks.
type Backend interface {
	Keys
	Sessions
	Revocations
	// Ping reports whether the store is reachable (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}
