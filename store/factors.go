package store

import (
	"context"
	"time"
)

// TOTPFactor is a user's authenticator app (RFC 6238, issue 20): the
// shared secret, whether the user has confirmed it with a first code, and
// the last time step a code was accepted for (RFC 6238 §5.2: a code is
// accepted once).
//
// The secret is stored as is, as Keycloak stores it: the server needs it
// to compute codes, so it cannot be hashed, and erpgate has no key meant
// for sealing data at rest (the cookie keys are the gateway's, and are
// rotated away). Whoever can read the store can mint codes; the store is
// guarded like the password hashes beside it.
type TOTPFactor struct {
	Login  string
	Secret string // base32 without padding
	// CreatedAt is when the secret was generated (enrolment started).
	CreatedAt time.Time
	// ConfirmedAt is when the user proved the app with a first valid
	// code; zero while the enrolment is pending. Only a confirmed factor
	// is asked for at sign-in.
	ConfirmedAt time.Time
	// LastStep is the RFC 6238 time step of the last code accepted; a
	// code is accepted only for a later step.
	LastStep int64
}

// Factors keeps the users' second factors: at most one TOTP factor and
// one set of recovery codes per login. Deleting a user deletes them
// (DeleteFactors), so a login created again later does not inherit them.
type Factors interface {
	// TOTP returns login's TOTP factor, pending or confirmed;
	// ErrNotFound.
	TOTP(ctx context.Context, login string) (TOTPFactor, error)
	// SaveTOTP stores f as a pending enrolment (its ConfirmedAt and
	// LastStep are ignored: pending, step 0), replacing a pending one of
	// the same login whole. A confirmed factor is not replaced:
	// ErrConflict (removing it comes first).
	SaveTOTP(ctx context.Context, f TOTPFactor) error
	// ConfirmTOTP confirms login's pending factor at now, if its secret
	// is secret (an enrolment started again in another tab has another),
	// recording step as the first code's; ErrNotFound when there is no
	// such pending factor, nothing changed.
	ConfirmTOTP(ctx context.Context, login, secret string, step int64, now time.Time) error
	// UseTOTPStep records step as login's last accepted step, in one
	// atomic compare-and-set: only a confirmed factor whose LastStep is
	// before step changes. Otherwise (a replay, another replica that
	// accepted the same code first, no confirmed factor) it is
	// ErrConflict and nothing changes. Of any number of concurrent calls
	// for one step exactly one succeeds.
	UseTOTPStep(ctx context.Context, login string, step int64) error
	// SaveRecoveryCodes replaces login's recovery codes with hashes
	// (SHA-256 hex of each code, mfa.HashRecoveryCode) at now: the old
	// ones stop working at once, the new ones start at the same moment.
	SaveRecoveryCodes(ctx context.Context, login string, hashes []string, now time.Time) error
	// RecoveryCodes lists the hashes of login's unused recovery codes,
	// sorted; none is not an error.
	RecoveryCodes(ctx context.Context, login string) ([]string, error)
	// UseRecoveryCode uses up login's unused code with hash, atomically;
	// ErrNotFound when there is none (never issued, used before, or
	// replaced). Of any number of concurrent calls for one code exactly
	// one succeeds.
	UseRecoveryCode(ctx context.Context, login, hash string) error
	// DeleteFactors forgets every factor of login, TOTP and recovery
	// codes (the user removed them, an operator reset them, or the user
	// was deleted); none is not an error.
	DeleteFactors(ctx context.Context, login string) error
}
