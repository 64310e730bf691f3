package directory

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"time"
)

// User types (config users[].type).
const (
	TypeInternal  = "internal"  // an employee
	TypeCommunity = "community" // a customer or partner (ERP.net external user)
	TypeSystem    = "system"    // a service identity client credentials act as
)

// Claim values of user_type and client_system_user_type: the names
// ERP.net issues, because the token is forwarded to ERP APIs written for
// ERP.net tokens (SPEC §3).
const (
	ClaimInternalUser  = "InternalUser"
	ClaimCommunityUser = "ExternalCommunityUser"
	ClaimSystemUser    = "SystemUserNoLogin"
)

// ClaimType is the ERP.net claim value of a user type; an unknown type
// is passed through unchanged.
func ClaimType(userType string) string {
	switch userType {
	case TypeInternal:
		return ClaimInternalUser
	case TypeCommunity:
		return ClaimCommunityUser
	case TypeSystem:
		return ClaimSystemUser
	}
	return userType
}

// IsCommunityClaim reports whether a user_type claim value names a
// community (external) user. The short config form is accepted too, for
// tokens issued before the claim took ERP.net's names.
func IsCommunityClaim(v string) bool { return v == ClaimCommunityUser || v == TypeCommunity }

// Reference-token policies of an app (apps[].reference_tokens, SPEC §6).
const (
	ReferenceTokensNone               = "none"
	ReferenceTokensAuthenticatedUsers = "authenticated_users"
	ReferenceTokensAdministratorsOnly = "administrators_only"
)

// Scopes every app may request without listing them (SPEC §3).
var alwaysAllowed = []string{"openid", "profile", "offline_access"}

// AlwaysAllowed reports whether scope is one every app may request.
func AlwaysAllowed(scope string) bool { return slices.Contains(alwaysAllowed, scope) }

// App is a Trusted Application: a registered OAuth client whose
// client_id is its ApplicationUri. Records handed out by Table are shared
// and must not be modified.
type App struct {
	ID         string // client_id (ERP.net ApplicationUri)
	Name       string
	Public     bool   // public apps have no secret
	SecretHash []byte // SHA-256 of the secret; nil for public apps
	// SystemUser, when set, allows client credentials acting as that user.
	SystemUser             string
	Scopes                 []string // read, update, sec: what the app may be granted
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	AllowInternalUsers     bool
	AllowCommunityUsers    bool
	ReferenceTokens        string // one of the ReferenceTokens* policies
	RequirePKCE            bool
	// ConsentRequired asks users on a consent page before the app gets
	// their scopes (config apps[].consent: required).
	ConsentRequired bool
	// DPoPRequired refuses the app's token requests without a DPoP
	// proof (config apps[].dpop: required, RFC 9449): every token it
	// gets is bound to its key.
	DPoPRequired bool
	// BackchannelLogoutURI receives a logout token when a session the app
	// got tokens for ends (OpenID Connect Back-Channel Logout 1.0); "" for
	// none. BackchannelLogoutSID asks for the sid in every token
	// (backchannel_logout_session_required).
	BackchannelLogoutURI string
	BackchannelLogoutSID bool
	// TokenExchange allows the app RFC 8693 token exchange at the token
	// endpoint (config apps[].token_exchange).
	TokenExchange bool
	// IdentityProviders are the ids of the external identity providers
	// the app's login page offers (config apps[].identity_providers,
	// SPEC §10), in order.
	IdentityProviders []string
	// NoLocalPasswords refuses erpgate's own passwords on the app's
	// login form (config and admin API apps[].local_passwords: false):
	// its users sign in through IdentityProviders only. The zero value
	// allows them, so an app stored before the field existed keeps the
	// password form.
	NoLocalPasswords bool
	// MFARequired asks every user of the app for a second factor
	// (config and admin API apps[].mfa: required, issue 20): a user
	// without one enrols at sign-in. The zero value is "optional".
	MFARequired bool
	// Enabled false is ERP.net's IsEnabled kill switch: the app's
	// sessions end and its tokens are refused everywhere (SPEC §5).
	Enabled bool
	// CreatedAt and UpdatedAt are set on apps created at run time; an
	// update drives the store's AppsChangedSince.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Grants reports whether the app may be granted scope now: one it lists,
// or one every app may request.
func (a *App) Grants(scope string) bool {
	return AlwaysAllowed(scope) || slices.Contains(a.Scopes, scope)
}

// AllowsUserType reports whether users of type t may use the app: the
// app's allow_internal_users / allow_community_users. System users act
// only through client credentials and SATs, which check SystemUser.
func (a *App) AllowsUserType(t string) bool {
	switch t {
	case TypeInternal:
		return a.AllowInternalUsers
	case TypeCommunity:
		return a.AllowCommunityUsers
	}
	return false
}

// AllowsReferenceTokens reports whether the app's policy lets reference
// tokens exist at all (administrators_only also requires an admin issuer,
// which is checked at issue).
func (a *App) AllowsReferenceTokens() bool {
	return a.ReferenceTokens == ReferenceTokensAuthenticatedUsers || a.ReferenceTokens == ReferenceTokensAdministratorsOnly
}

// User is an account of the instance.
type User struct {
	Login         string // the user name typed at login, and the sub claim
	ID            string // stable opaque id (the "id" claim)
	Name          string
	Email         string
	EmailVerified bool
	Locale        string // BCP 47, e.g. bg-BG; "" when unknown
	Type          string // TypeInternal, TypeCommunity or TypeSystem
	Admin         bool
	PasswordHash  string // argon2id PHC string; "" for system users
	// MFARequired asks the user for a second factor at every sign-in
	// (config and admin API users[].mfa_required): a user without one
	// enrols at the next sign-in.
	MFARequired bool
	// Disabled keeps the record but refuses the user everywhere: Table
	// does not hand out disabled users, so every door sees none.
	Disabled bool
	// CreatedAt and UpdatedAt are set on users created at run time; an
	// update drives the store's UsersChangedSince.
	CreatedAt time.Time
	UpdatedAt time.Time
	// DeletedAt is set on the tombstone a deleted stored user leaves in
	// the store; Table never hands one out.
	DeletedAt time.Time
}

// ClaimType is the user's user_type claim value (ERP.net's names).
func (u *User) ClaimType() string { return ClaimType(u.Type) }

// StableUserID is the "id" claim of a declarative user: a UUID-shaped
// SHA-256 prefix of the login, so it survives restarts and is the same
// on every replica.
func StableUserID(login string) string {
	s := sha256.Sum256([]byte("erpgate/user/" + login))
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// PasswordChange is a password a user set themselves on the account page
// (SPEC §10), replacing Replaces: the PasswordHash the config file gave
// the user then. The store keeps one per login; Table applies it to the
// config user only while the file still has Replaces, so an operator who
// later writes another password_hash into the file resets the password.
type PasswordChange struct {
	Login     string
	Hash      string // argon2id PHC string of the new password
	Replaces  string // the config file's PasswordHash when the user changed it
	ChangedAt time.Time
}
