package store

import (
	"context"
	"errors"
	"strings"
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
	// ErrSessionEnded means the session was ended for good (logout, an
	// administrator, its app disabled) and may not be reopened (see
	// Session.Reopenable).
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
	// DeleteExpiredSigningKeys removes keys whose ExpiresAt is before now
	// (one expiring exactly at now is kept).
	DeleteExpiredSigningKeys(ctx context.Context, now time.Time) error
}

// Session kinds.
const (
	SessionUser    = "user"    // a person, via authorization code
	SessionService = "service" // a system user, via client credentials
	// SessionReference is the session of a reference token (PAT or SAT,
	// SPEC §6), whatever principal it acts for. Such a session is
	// independent of its token: however it ends, the token's next call
	// opens a new one (see Session.Reopenable); only revocation, expiry
	// or the app's kill switch end the token itself, and those are
	// checked where the token is, not here.
	SessionReference = "reference"
)

// ReferenceSessionPrefix starts the sid of every reference token's
// session: reftoken keys it "enrt-" + the token's id.
const ReferenceSessionPrefix = "enrt-"

// IsReferenceSessionID reports whether id is the sid of a reference
// token's session (it starts with ReferenceSessionPrefix).
func IsReferenceSessionID(id string) bool { return strings.HasPrefix(id, ReferenceSessionPrefix) }

// Reasons a session ends (SPEC §5).
const (
	EndIdle     = "idle"     // no call within the idle timeout
	EndLifetime = "lifetime" // service session reached its maximum lifetime
	EndLogout   = "logout"   // endsession or /oauth2/sign_out
	EndAdmin    = "admin"    // ended by an administrator
	// EndAppDisabled: the session's Trusted App was disabled (the kill
	// switch, ERP.net IsEnabled). Final for user and service sessions,
	// like EndAdmin; a reference token's session may reopen once the app
	// is enabled again, since its token decides (Session.Reopenable).
	EndAppDisabled = "app_disabled"
	// EndAccessWithdrawn: the session's app no longer lets its user in
	// (allow_internal_users / allow_community_users changed). Final,
	// like EndAppDisabled; the user's own sign-in stays.
	EndAccessWithdrawn = "access_withdrawn"
)

// Session is one ERP session: opened by the first proxied call with a
// token, keyed by the token's sid, holding one license slot while open.
// An ended Session with an empty Subject is a tombstone: the record
// EndSession leaves for an id no proxied call had opened yet.
type Session struct {
	ID       string // the token's sid
	Subject  string // login or system user
	ClientID string // Trusted App that obtained the token
	Kind     string // SessionUser, SessionService or SessionReference
	// Reserved means the session holds its subject's reserved seat
	// (SPEC §5: each login in license.reserved is guaranteed one slot).
	// The caller asks for the seat by passing true to OpenSession for a
	// reserved login; the store grants it only if no other open session
	// of the same Subject holds it, and otherwise stores the session on a
	// shared slot with Reserved false. At most one open session per
	// Subject holds the seat.
	Reserved   bool
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

// Reopenable reports whether the session, once ended, may be opened
// again by a still-valid token (SPEC §5):
//
//   - a reference token's session (Kind SessionReference, or a tombstone
//     — Kind empty — whose ID IsReferenceSessionID), whatever the reason:
//     ending it frees the slot, and the token's next call opens a new one;
//   - any other session only after a timeout (EndIdle, EndLifetime).
//
// Anything else, including a reason this code does not know, is final
// (logout, admin, app_disabled), so an unexpected value fails closed.
// Every backend's OpenSession and the session manager decide with it.
func (s Session) Reopenable() bool {
	if s.Kind == SessionReference || s.Kind == "" && IsReferenceSessionID(s.ID) {
		return true
	}
	return s.EndReason == EndIdle || s.EndReason == EndLifetime
}

// License is the cap OpenSession enforces.
type License struct {
	// Slots caps open sessions; 0 (or less) means unlimited.
	Slots int
	// Reserved is how many logins have a reserved seat (the length of
	// license.reserved). Each of them is guaranteed one slot for itself:
	// of Slots, Reserved are seats, one per reserved login, and the other
	// Slots-Reserved are shared by everyone, the reserved logins' further
	// sessions included.
	Reserved int
}

// Admits reports whether l has room for one more session, given how many
// sessions are open, how many of those hold a reserved seat, and whether
// the newcomer is to hold its login's reserved seat (seat: the login is
// reserved and none of its open sessions holds the seat already; the
// backend decides that, see Session.Reserved). Every backend's
// OpenSession decides with it, under the same lock as its count and
// insert.
//
//   - Slots <= 0: unlimited, always true.
//   - open >= Slots: false, seat or not.
//   - seat: true. At most one open session per login holds a seat and
//     the shared ones never exceed Slots-Reserved, so while a reserved
//     login holds no seat there is always a free slot for it.
//   - otherwise (a shared slot): true while the sessions holding no seat
//     are fewer than Slots-Reserved. Reserved >= Slots leaves none.
func (l License) Admits(open, openReserved int, seat bool) bool {
	if l.Slots <= 0 {
		return true
	}
	if open >= l.Slots {
		return false
	}
	return seat || open-openReserved < l.Slots-l.Reserved
}

// Usage is how many license slots open sessions hold at one instant.
type Usage struct {
	Open     int // open sessions, each holding one slot
	Reserved int // of those, the ones holding a reserved seat
}

// Sessions keeps ERP sessions and counts license slots.
type Sessions interface {
	// OpenSession opens s (EndedAt zero) atomically under lic (see
	// License.Admits) and returns it as stored. If a session with s.ID is
	// open it is returned unchanged and takes no second slot (so
	// concurrent first calls with one token open exactly one session).
	// If it ended and is Reopenable, it is reopened as a new session with
	// s's fields and times, which needs a free slot. Otherwise (a final
	// end) ErrSessionEnded. If no slot is free, ErrLicenseExhausted and
	// nothing is stored.
	//
	// s.Reserved asks for the reserved seat of s.Subject. Under the same
	// lock as the count and the insert, the seat is granted (stored
	// Reserved true) only if no other open session of s.Subject holds it;
	// otherwise s is stored on a shared slot with Reserved false, and
	// admitted as such. A seat is freed when its session ends, for the
	// login's next session.
	OpenSession(ctx context.Context, s Session, lic License) (Session, error)
	// Session returns the session with id, open or ended; ErrNotFound.
	Session(ctx context.Context, id string) (Session, error)
	// OpenSessions lists sessions still open, oldest OpenedAt first (ties
	// by ID).
	OpenSessions(ctx context.Context) ([]Session, error)
	// Usage counts the open sessions, as OpenSession does before it
	// admits one. Backends keep the count up to date with every change
	// instead of scanning, so neither a session open nor a gauge update
	// gets slower as sessions pile up.
	Usage(ctx context.Context) (Usage, error)
	// TouchSessions sets LastSeenAt for each open session in seen (a
	// batch, so sliding idle timers costs one write per flush, not per
	// request). Unknown or ended ids are ignored; LastSeenAt never moves
	// backwards.
	TouchSessions(ctx context.Context, seen map[string]time.Time) error
	// EndSession ends the session id at at for reason and returns it as
	// stored. Ending an ended session is not an error, changes nothing
	// and keeps the first reason and time.
	//
	// Ending an unknown id is not an error either: it records an ended
	// tombstone (ID id, Subject, ClientID and Kind empty, OpenedAt =
	// LastSeenAt = EndedAt = at, EndReason reason) and returns it, so a
	// later OpenSession with that id gets ErrSessionEnded unless the
	// tombstone is Reopenable (a timeout, or a reference token's sid). A
	// user may log out before any proxied call opened the session of
	// their token, and the token must still be refused afterwards. A
	// tombstone holds no license slot.
	EndSession(ctx context.Context, id, reason string, at time.Time) (Session, error)
	// EndStaleSessions ends, at now, every open session that is past its
	// hard end (ExpiresAt non-zero and ExpiresAt <= now: reason
	// EndLifetime) or idle (LastSeenAt < idleBefore: reason EndIdle); a
	// session that is both ends with EndLifetime. EndedAt is now. It
	// returns the sessions it ended, oldest OpenedAt first (ties by ID).
	EndStaleSessions(ctx context.Context, idleBefore, now time.Time) ([]Session, error)
	// EndedSessionsSince returns the sessions whose EndedAt >= since,
	// whatever the reason (tombstones included), oldest EndedAt first
	// (ties by ID). A process loads them at start (since the zero time)
	// and then polls with overlapping windows to refuse tokens of
	// sessions ended elsewhere (SPEC §9). A session reopened since it
	// ended is open again and not listed.
	EndedSessionsSince(ctx context.Context, since time.Time) ([]Session, error)
}

// Revocation is one revoked access token.
type Revocation struct {
	ID        string    // jti
	ExpiresAt time.Time // kept until then: the token is useless afterwards
	// RevokedAt is when it was recorded, or when a later Revoke last
	// extended ExpiresAt, so a poller of RevokedSince sees the extension.
	RevokedAt time.Time
}

// Revocations keeps revoked token ids (jti) until the token would have
// expired anyway.
type Revocations interface {
	// Revoke records jti as revoked at now until expiresAt. Revoking
	// twice is not an error and keeps the later expiry: a second call
	// with a later expiresAt extends it and sets RevokedAt to the later of
	// the two nows; one with the same or an earlier expiry changes
	// nothing (shortening would let a revoked token back in early).
	Revoke(ctx context.Context, jti string, expiresAt, now time.Time) error
	// Revoked reports whether jti is revoked.
	Revoked(ctx context.Context, jti string) (bool, error)
	// RevokedSince returns the revocations whose RevokedAt >= since,
	// oldest RevokedAt first (ties by ID). A process loads the list at
	// start (since the zero time) and then polls for new entries with
	// overlapping windows, which also absorbs clock skew between
	// replicas (SPEC §9).
	RevokedSince(ctx context.Context, since time.Time) ([]Revocation, error)
	// DeleteExpiredRevocations forgets revocations whose ExpiresAt is
	// before now (one expiring exactly at now is kept).
	DeleteExpiredRevocations(ctx context.Context, now time.Time) error
}

// Backend is a whole store: what cmd/erpgate opens and hands to the
// gateway (gateway.Config.Store), which shares it among the issuer, the
// proxy and the rest, and what store/storetest checks.
type Backend interface {
	Keys
	Sessions
	Revocations
	Grants
	Registry
	SessionClients
	FederatedLinks
	Factors
	Passkeys
	// Ping reports whether the store is reachable (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}
