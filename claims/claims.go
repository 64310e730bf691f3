package claims

import (
	"encoding/json"
	"errors"
	"strings"
)

// Access is the claim set of an access token (SPEC §3).
type Access struct {
	Issuer    string   `json:"iss"`
	Audience  []string `json:"aud"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	Expiry    int64    `json:"exp"`
	ID        string   `json:"jti"`
	Scope     Scopes   `json:"scope"`
	ClientID  string   `json:"client_id"`
	SessionID string   `json:"sid"`

	// User tokens (authorization code, refresh).
	Subject string `json:"sub,omitempty"` // the user's login
	UserID  string `json:"id,omitempty"`
	Name    string `json:"name,omitempty"`
	Email   string `json:"email,omitempty"`
	// EmailVerified is set whenever Email is.
	EmailVerified *bool  `json:"email_verified,omitempty"`
	Locale        string `json:"locale,omitempty"` // BCP 47, e.g. bg-BG
	// UserType is ERP.net's name of the user's type: InternalUser,
	// ExternalCommunityUser or SystemUserNoLogin (directory.ClaimType).
	UserType string `json:"user_type,omitempty"`
	IsAdmin  *bool  `json:"is_admin,omitempty"`
	// Database is the instance's database (config instance.database).
	Database string `json:"db,omitempty"`
	// How the user authenticated (SPEC §3, §10): IdentityProvider is
	// the external provider's id (identity_providers[].id) for a sign-in
	// through one, TenantID the Entra ID tenant, AuthMethods the
	// RFC 8176 amr values ("pwd" for erpgate's own password).
	IdentityProvider string   `json:"idp,omitempty"`
	TenantID         string   `json:"tid,omitempty"`
	AuthMethods      []string `json:"amr,omitempty"`
	// ACR is the authentication context class (OIDC Core §2): "mfa"
	// after a second factor (or a provider's multi-factor sign-in),
	// "pwd" for a single factor. AuthTime is the sign-in's time, Unix
	// seconds. A route's require_auth judges both (RFC 9470).
	ACR      string `json:"acr,omitempty"`
	AuthTime int64  `json:"auth_time,omitempty"`

	// Client-credentials tokens act as the app's system user.
	ClientSystemUser     string `json:"client_system_user,omitempty"`    // its login
	ClientSystemUserID   string `json:"client_system_user_id,omitempty"` // its stable id
	ClientSystemUserType string `json:"client_system_user_type,omitempty"`
	// ClientDatabase is Database's name in client-credentials tokens.
	ClientDatabase string `json:"client_db,omitempty"`

	// Confirmation, when set, binds the token to a key (RFC 7800 §3.1):
	// a DPoP-bound token names its key's thumbprint (RFC 9449 §6.1), and
	// is honoured only with a proof made by that key.
	Confirmation *Confirmation `json:"cnf,omitempty"`

	// Actor, when set, names who acts for the subject (RFC 8693 §4.1):
	// the client that exchanged the token, or the gateway for a token it
	// exchanged for an upstream (GatewayActor).
	Actor *Actor `json:"act,omitempty"`
	// ExchangedFrom are the jti of the tokens this one was exchanged
	// from, nearest first (erpgate's own claim): revoking any of them
	// revokes this one too.
	ExchangedFrom []string `json:"exchanged_from,omitempty"`

	scopeString string // set by Prepare
}

// Confirmation is the cnf claim of a bound token.
type Confirmation struct {
	JKT string `json:"jkt"` // RFC 9449 §6.1: the RFC 7638 SHA-256 thumbprint, base64url
}

// Actor is the act claim of an exchanged token (RFC 8693 §4.1). Sub is
// the current actor; Actor, when set, the one before it, whose token was
// exchanged: "informational only", not for access control (§4.1).
type Actor struct {
	Subject string `json:"sub"`
	Actor   *Actor `json:"act,omitempty"`
}

// GatewayActor is the act.sub of the tokens the gateway exchanges for an
// upstream itself (a route's upstream_token). No app may exchange
// tokens under this id (issuer refuses it), so it always names the
// gateway.
const GatewayActor = "erpgate"

// BoundKey is the thumbprint of the DPoP key the token is bound to, or
// "" for a bearer token.
func (a *Access) BoundKey() string {
	if a.Confirmation == nil {
		return ""
	}
	return a.Confirmation.JKT
}

// Prepare precomputes what every proxied request of this token needs.
// Call it once, before the claims are shared between goroutines.
func (a *Access) Prepare() { a.scopeString = strings.Join(a.Scope.Values, " ") }

// ScopeString is the scopes space-delimited (RFC 6749 §3.3).
func (a *Access) ScopeString() string {
	if a.scopeString != "" || len(a.Scope.Values) == 0 {
		return a.scopeString
	}
	return strings.Join(a.Scope.Values, " ")
}

// Principal is who the token acts for: the user's login, or the system
// user of a client-credentials token.
func (a *Access) Principal() string {
	if a.Subject != "" {
		return a.Subject
	}
	return a.ClientSystemUser
}

// PrincipalType is the user type of Principal: the user_type or
// client_system_user_type claim, in ERP.net's names (InternalUser,
// ExternalCommunityUser, SystemUserNoLogin).
func (a *Access) PrincipalType() string {
	if a.Subject != "" {
		return a.UserType
	}
	return a.ClientSystemUserType
}

// Scopes is a list of scope values. It encodes as a JSON array (ERP.net)
// unless AsString is set, and decodes from either an array or an RFC 9068
// space-delimited string.
type Scopes struct {
	Values   []string
	AsString bool
}

// MarshalJSON implements json.Marshaler.
func (s Scopes) MarshalJSON() ([]byte, error) {
	if s.AsString {
		return json.Marshal(strings.Join(s.Values, " "))
	}
	if s.Values == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(s.Values)
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *Scopes) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		*s = Scopes{Values: strings.Fields(str), AsString: true}
		return nil
	}
	var vals []string
	if err := json.Unmarshal(b, &vals); err != nil {
		return errors.New("claims: scope must be a string or an array of strings")
	}
	*s = Scopes{Values: vals}
	return nil
}
