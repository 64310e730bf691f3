package store

import (
	"context"
	"time"
)

// Authentication is how the user of a sign-in authenticated (SPEC §3,
// §10): it travels from the identity session to every code and refresh
// token issued under it, and from them into the tokens' idp, tid and amr
// claims. Issue 20 (second factors) adds to this one record.
type Authentication struct {
	// Provider is the external identity provider's id
	// (identity_providers[].id, the idp claim); "" for erpgate's own
	// password check.
	Provider string
	// Tenant is the Microsoft Entra ID tenant (the tid claim); "" for
	// other providers.
	Tenant string
	// Methods are the amr values (RFC 8176): "pwd" for erpgate's own
	// password, an external provider's amr as it asserted it (none when
	// it asserted none); a second factor adds its own ("otp") and "mfa"
	// (issue 20).
	Methods []string
	// ACR is the acr claim (OIDC Core §2): "mfa" when a second factor
	// passed or the provider asserted more than one factor, "pwd" for any
	// single-factor sign-in; "" for records made before issue 20 (read
	// as "pwd").
	ACR string
}

// FederatedLink ties a person at an external identity provider (the
// provider's id and its subject for them) to a local user.
type FederatedLink struct {
	Provider   string // identity_providers[].id
	Subject    string // the provider's sub, or the LDAP entry's DN
	Login      string // the local user
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// FederatedLinks keeps the links from external identities to local
// users (SPEC §10). A user's links go when the user is deleted, so a
// login created again later is not reached by the old identity.
type FederatedLinks interface {
	// FederatedLink returns the link of (provider, subject); ErrNotFound.
	FederatedLink(ctx context.Context, provider, subject string) (FederatedLink, error)
	// SaveFederatedLink stores l. If (Provider, Subject) is linked to
	// l.Login already, only LastUsedAt changes, to the later of the two;
	// linked to another login it is ErrConflict and nothing changes.
	SaveFederatedLink(ctx context.Context, l FederatedLink) error
	// FederatedLinksOf lists the links of login, sorted by Provider and
	// then Subject (byte order); none is not an error.
	FederatedLinksOf(ctx context.Context, login string) ([]FederatedLink, error)
	// DeleteFederatedLinks forgets every link of login; none is not an
	// error.
	DeleteFederatedLinks(ctx context.Context, login string) error
}
