package federation

import (
	"context"
	"errors"
)

// Identity is what a provider asserts about the person who signed in
// there.
type Identity struct {
	// Provider is the provider's id (config identity_providers[].id); it
	// becomes the tokens' idp claim.
	Provider string
	// Subject is the provider's stable id of the person: an OpenID
	// provider's sub, an LDAP entry's DN. (Provider, Subject) is the key
	// of the stored link to a local user.
	Subject string
	// Tenant is Microsoft Entra ID's tid; "" for other providers.
	Tenant        string
	Login         string // the login the person is known by there
	Name          string
	Email         string
	EmailVerified bool
	Groups        []string
	// Methods is how the provider authenticated the person (the amr
	// values of RFC 8176): an OpenID provider's amr claim, "pwd" for an
	// LDAP bind.
	Methods []string
}

// Errors a provider returns.
var (
	// ErrWrongCredentials: the login is unknown or the password wrong.
	// A provider gives it for both, after the same work, so neither its
	// answer nor its timing says whether a login exists.
	ErrWrongCredentials = errors.New("federation: wrong login or password")
	// ErrUnavailable: the provider could not be reached or answered
	// something other than a verdict.
	ErrUnavailable = errors.New("federation: identity provider unavailable")
)

// PasswordProvider checks a login and password typed into erpgate's own
// login form against a directory the provider reads (LDAP / Active
// Directory).
type PasswordProvider interface {
	// ID is the provider's id (config identity_providers[].id).
	ID() string
	// Authenticate returns the identity of login when password is its
	// password; ErrWrongCredentials otherwise, ErrUnavailable (wrapped)
	// when the directory cannot answer. Bounded by ctx.
	Authenticate(ctx context.Context, login, password string) (Identity, error)
}
