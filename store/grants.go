package store

import (
	"context"
	"errors"
	"time"
)

// Errors of the grant records.
var (
	// ErrCodeReused means an authorization code was redeemed before; the
	// stored code is returned with it so its tokens can be revoked
	// (RFC 6749 §4.1.2: "If an authorization code is used more than once,
	// the authorization server MUST deny the request and SHOULD revoke
	// … all tokens previously issued based on that authorization code").
	ErrCodeReused = errors.New("store: authorization code already used")
	// ErrRotated means a refresh token was already exchanged for a
	// successor; the stored token is returned with it.
	ErrRotated = errors.New("store: refresh token already rotated")
	// ErrRevoked means the refresh token's family was revoked.
	ErrRevoked = errors.New("store: refresh token revoked")
)

// AuthCode is an authorization code (RFC 6749 §4.1.2), kept by the hash
// of its value only.
type AuthCode struct {
	Hash          string // SHA-256 of the code, hex
	ClientID      string
	Subject       string // the user's login
	RedirectURI   string // as sent in the authorization request
	Scopes        []string
	Nonce         string
	CodeChallenge string // PKCE S256 challenge; "" when the app does not use PKCE
	SessionID     string // sid of the identity session
	AuthTime      time.Time
	Auth          Authentication // the identity session's, when the code was issued
	CreatedAt     time.Time
	ExpiresAt     time.Time
	// Set by RedeemAuthCode: when it was used and the access token issued
	// from it, so a replay can revoke that token.
	UsedAt          time.Time
	AccessTokenID   string
	AccessExpiresAt time.Time
}

// AuthCodes keeps authorization codes.
type AuthCodes interface {
	// SaveAuthCode stores c; ErrConflict if its hash exists.
	SaveAuthCode(ctx context.Context, c AuthCode) error
	// RedeemAuthCode atomically marks the code used at now, recording the
	// access token about to be issued from it, and returns the code as it
	// was before (UsedAt zero, AccessTokenID empty). A code used before is
	// returned as stored, with the UsedAt and access token of the first
	// redemption, and ErrCodeReused; it is not changed. An unknown one
	// gives ErrNotFound. Of any number of concurrent calls for one code
	// exactly one succeeds. Expiry is the caller's check.
	RedeemAuthCode(ctx context.Context, hash string, now time.Time, accessTokenID string, accessExpiresAt time.Time) (AuthCode, error)
	// DeleteExpiredAuthCodes forgets codes whose ExpiresAt is before now,
	// used or not.
	DeleteExpiredAuthCodes(ctx context.Context, now time.Time) error
}

// IssuedToken names an access token issued from a grant, so it can be
// put on the revocation list when the grant is revoked.
type IssuedToken struct {
	ID        string // jti
	ExpiresAt time.Time
}

// RefreshToken is one token of a rotation family (RFC 9700 §4.14.2): each
// use exchanges it for a successor; reuse of a rotated token (outside the
// grace window) revokes the whole family.
type RefreshToken struct {
	Hash      string // SHA-256 of the token, hex
	FamilyID  string // shared by every token descending from one grant
	ClientID  string
	Subject   string
	SessionID string
	Scopes    []string
	AuthTime  time.Time
	Auth      Authentication // the sign-in's; rotation keeps it
	CreatedAt time.Time
	ExpiresAt time.Time
	// The access token issued together with this refresh token.
	AccessTokenID   string
	AccessExpiresAt time.Time
	// RotatedAt is when it was exchanged; zero while it is current.
	RotatedAt time.Time
	// Successor is the successor's token response, sealed with a key
	// derived from this token's value, so a retry within the grace window
	// gets the same pair and nobody without the token can read it.
	Successor []byte
	RevokedAt time.Time // zero unless the family was revoked
	// DPoPJKT binds the token to a DPoP key (RFC 9449 §5: a public
	// client's refresh tokens are bound): the thumbprint a proof sent
	// with it must have; "" for an unbound token. Rotation keeps it.
	DPoPJKT string
}

// RefreshTokens keeps refresh-token families.
type RefreshTokens interface {
	// SaveRefreshToken stores the first token of a family, as given;
	// ErrConflict if its hash exists.
	SaveRefreshToken(ctx context.Context, t RefreshToken) error
	// RefreshToken returns the token with hash, current, rotated or
	// revoked; ErrNotFound.
	RefreshToken(ctx context.Context, hash string) (RefreshToken, error)
	// RotateRefreshToken atomically marks the current token hash rotated
	// at now with successor, stores next in the same family (its FamilyID
	// is set to hash's) and returns the token as now stored (RotatedAt
	// now, Successor successor). If the family is revoked it changes
	// nothing and returns the stored token with ErrRevoked; this is
	// checked first, so a revoked token never gets ErrRotated (whose
	// caller may hand out the successor within the grace window). If
	// the token was rotated before, it changes nothing and returns the
	// stored token (with the first rotation's RotatedAt and Successor)
	// with ErrRotated. Unknown, ErrNotFound; next.Hash taken, ErrConflict
	// with nothing changed. Of any number of concurrent calls for one
	// token exactly one succeeds. Expiry is the caller's check.
	RotateRefreshToken(ctx context.Context, hash string, now time.Time, successor []byte, next RefreshToken) (RefreshToken, error)
	// RevokeRefreshFamily revokes every token of the family (RevokedAt
	// now; a token revoked before keeps its RevokedAt) and returns the
	// access tokens issued with every token of the family, oldest token
	// first, skipping tokens with no AccessTokenID. Revoking twice is not
	// an error and returns the same list; an unknown family gives none.
	RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) ([]IssuedToken, error)
	// RevokeSessionRefreshTokens revokes every family with a token of
	// the session (logout) and returns the access tokens issued with
	// them, as RevokeRefreshFamily does.
	RevokeSessionRefreshTokens(ctx context.Context, sessionID string, now time.Time) ([]IssuedToken, error)
	// RevokeSubjectRefreshTokens revokes every family with a token of
	// the subject (password change) and returns the access tokens issued
	// with them, as RevokeRefreshFamily does.
	RevokeSubjectRefreshTokens(ctx context.Context, subject string, now time.Time) ([]IssuedToken, error)
	// DeleteExpiredRefreshTokens forgets tokens whose ExpiresAt is before
	// now, whatever their state.
	DeleteExpiredRefreshTokens(ctx context.Context, now time.Time) error
}

// IdentitySession is a user's sign-in at the identity server (the SSO
// session behind the identity cookie). Its ID is the sid of every token
// issued under it.
type IdentitySession struct {
	ID      string
	Subject string
	// SecretHash is the SHA-256 (hex) of the secret in the identity
	// cookie; it changes at every sign-in, so a cookie planted before a
	// login is worthless after it (session fixation).
	SecretHash string
	AuthTime   time.Time
	// Auth is how the user authenticated at this sign-in; a new sign-in
	// of the same user replaces it.
	Auth      Authentication
	CreatedAt time.Time
	ExpiresAt time.Time
	EndedAt   time.Time // zero while signed in
	// RemoteAddr and UserAgent say where the sign-in came from, for the
	// account page's list of the user's sessions: the client address as
	// clientaddr resolved it and the browser's User-Agent, trimmed by the
	// caller to what is worth showing. They are stored as given.
	RemoteAddr string
	UserAgent  string
}

// IdentitySessions keeps identity sessions.
type IdentitySessions interface {
	// SaveIdentitySession inserts s, or replaces the session with the same
	// ID whole (a new sign-in of the same user keeps the sid, with a new
	// secret and auth time). Replacing an ended session is
	// ErrSessionEnded; replacing one of another Subject is ErrConflict (a
	// sid belongs to one user: its tokens, license session and logout
	// are all keyed by it).
	SaveIdentitySession(ctx context.Context, s IdentitySession) error
	// IdentitySession returns the session with id, live or ended;
	// ErrNotFound. Expiry is the caller's check.
	IdentitySession(ctx context.Context, id string) (IdentitySession, error)
	// EndIdentitySession ends the session at now (logout). Ending an
	// ended session is not an error and keeps the first EndedAt; ending
	// an unknown one is not an error and stores nothing.
	EndIdentitySession(ctx context.Context, id string, now time.Time) error
	// EndSubjectIdentitySessions ends, at now, every identity session of
	// subject not ended yet (a password change, SPEC §5) and returns
	// their IDs, sorted. Sessions ended before keep their EndedAt and are
	// not listed; expired ones not ended yet are ended and listed too
	// (expiry is the caller's check). A subject with none gives no IDs
	// and no error.
	EndSubjectIdentitySessions(ctx context.Context, subject string, now time.Time) ([]string, error)
	// IdentitySessionsOf lists the sessions of subject that are live at
	// now (not ended, and ExpiresAt after now), newest AuthTime first
	// (ties by ID): the account page's "my sessions". A subject with none
	// gives none and no error.
	IdentitySessionsOf(ctx context.Context, subject string, now time.Time) ([]IdentitySession, error)
}

// Consent is a user's answer on the consent page of an app with
// consent: required (SPEC §3): the scopes the user agreed to let the app
// have, remembered until the user revokes it on the account page.
type Consent struct {
	Subject   string // the user's login
	ClientID  string // the app
	Scopes    []string
	GrantedAt time.Time
}

// Consents keeps the users' consents, one per user and app.
type Consents interface {
	// SaveConsent stores c, replacing the consent of c.Subject for
	// c.ClientID whole (a new answer names every scope agreed to).
	SaveConsent(ctx context.Context, c Consent) error
	// Consent returns the consent of subject for clientID; ErrNotFound.
	Consent(ctx context.Context, subject, clientID string) (Consent, error)
	// ConsentsOf lists the consents of subject, sorted by ClientID (byte
	// order); a subject with none gives none and no error.
	ConsentsOf(ctx context.Context, subject string) ([]Consent, error)
	// RevokeConsent forgets the consent of subject for clientID;
	// revoking an absent one is not an error.
	RevokeConsent(ctx context.Context, subject, clientID string) error
}

// Grants is everything the interactive flows keep.
//
// Scopes and byte slices round-trip by content: a backend may return nil
// for an empty one and an empty one for nil.
type Grants interface {
	AuthCodes
	RefreshTokens
	IdentitySessions
	Consents
}
