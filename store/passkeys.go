package store

import (
	"context"
	"time"
)

// Passkey is one WebAuthn credential a user registered (issue 20): what
// the relying party keeps of it to verify later assertions (WebAuthn
// Level 3 §4, "credential record").
type Passkey struct {
	// CredentialID is the authenticator's credential id; unique across
	// users, as the discoverable sign-in finds the passkey by it alone.
	CredentialID []byte
	Login        string
	// UserHandle is the WebAuthn user handle the credential was created
	// for: random and stable per user, never the login (WebAuthn §14.6.1:
	// it must not carry personal information). Every passkey of a login
	// carries the same one.
	UserHandle []byte
	PublicKey  []byte // COSE_Key
	// SignCount is the authenticator's signature counter at the last
	// accepted assertion (WebAuthn §6.1.1); 0 when it keeps none.
	SignCount  uint32
	AAGUID     []byte
	Transports []string
	// BackupEligible and BackupState are the BE and BS flags (WebAuthn
	// §6.1): an eligible credential is a synced passkey, not bound to one
	// device.
	BackupEligible, BackupState bool
	// UserVerified says the registration verified the user (UV): only
	// such a passkey signs in without a password.
	UserVerified bool
	Name         string
	CreatedAt    time.Time
	LastUsedAt   time.Time // zero until the first sign-in with it
}

// Passkeys keeps the users' WebAuthn credentials. Factors.DeleteFactors
// deletes a login's passkeys with its other factors, so an operator's
// reset and a deleted user take them too.
type Passkeys interface {
	// SavePasskey stores a new passkey; ErrConflict if its credential id
	// is registered (to anyone).
	SavePasskey(ctx context.Context, p Passkey) error
	// Passkeys lists login's passkeys, oldest first; none is not an
	// error.
	Passkeys(ctx context.Context, login string) ([]Passkey, error)
	// PasskeyByCredentialID returns the passkey with id; ErrNotFound.
	PasskeyByCredentialID(ctx context.Context, id []byte) (Passkey, error)
	// UpdatePasskeyUse records an accepted assertion at at with the
	// authenticator's signCount, in one compare-and-set: the stored count
	// must be below signCount, or both zero (an authenticator without a
	// counter). A count that did not grow (a cloned authenticator, or a
	// replayed assertion, WebAuthn §6.1.1) changes nothing: ErrConflict.
	// ErrNotFound when there is no such passkey.
	UpdatePasskeyUse(ctx context.Context, id []byte, signCount uint32, at time.Time) error
	// RenamePasskey names login's passkey id; ErrNotFound when login has
	// no such passkey.
	RenamePasskey(ctx context.Context, login string, id []byte, name string) error
	// DeletePasskey removes login's passkey id; ErrNotFound when login
	// has no such passkey.
	DeletePasskey(ctx context.Context, login string, id []byte) error
}
