package issuer

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"github.com/erpgate/erpgate/store"
	"hash"
	"slices"
	"time"

	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/signing"
)

// The claims of every token the issuer signs: access tokens (RFC 9068,
// SPEC §3) for users and for apps' system users, and ID tokens (OIDC Core
// §2). The flows decide what is granted; this file says how it is put in
// a token.

// newID returns 128 random bits, base64url: token ids (jti) and sessions (sid).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// TokenClaims is what the configuration puts in every access token. The
// issuer's come from its Config; `erpgate admin token` builds its own, with
// its --ttl.
type TokenClaims struct {
	Issuer        string
	Audiences     []string
	TTL           time.Duration
	ScopeAsString bool
	Database      string // instance.database: the db / client_db claim
}

// tokenClaims is the issuer's TokenClaims.
func (s *Server) tokenClaims() TokenClaims {
	return TokenClaims{Issuer: s.cfg.Issuer, Audiences: s.cfg.Audiences, TTL: s.cfg.AccessTokenTTL,
		ScopeAsString: s.cfg.ScopeAsString, Database: s.cfg.Database}
}

// access fills the claims every access token has.
func (t TokenClaims) access(now time.Time, app *directory.App, scopes []string, sid string) claims.Access {
	return claims.Access{
		Issuer:    t.Issuer,
		Audience:  t.Audiences,
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		Expiry:    now.Add(t.TTL).Unix(),
		ID:        newID(),
		Scope:     claims.Scopes{Values: scopes, AsString: t.ScopeAsString},
		ClientID:  app.ID,
		SessionID: sid,
	}
}

// SystemAccess is a client-credentials token's claims (SPEC §3): under a
// session of its own, acting as app's system user.
func (t TokenClaims) SystemAccess(now time.Time, app *directory.App, scopes []string, user *directory.User) claims.Access {
	c := t.access(now, app, scopes, newID())
	c.ClientSystemUser = user.Login
	c.ClientSystemUserID = user.ID
	c.ClientSystemUserType = user.ClaimType()
	c.ClientDatabase = t.Database
	return c
}

// userAccessClaims is a user's access token (SPEC §3): TokenClaims.access under
// g's session, with the user's claims; jti, when set, is the token's id
// (an authorization code records it before the token exists).
func (s *Server) userAccessClaims(now time.Time, g userGrant, jti string) claims.Access {
	c := s.tokenClaims().access(now, g.app, g.scopes, g.sid)
	if jti != "" {
		c.ID = jti
	}
	c.Subject = g.user.Login
	c.UserID = g.user.ID
	c.Name = g.user.Name
	c.Email, c.EmailVerified = g.user.Email, emailVerified(g.user)
	c.Locale = g.user.Locale
	c.UserType = g.user.ClaimType()
	admin := g.user.Admin
	c.IsAdmin = &admin
	c.Database = s.cfg.Database
	c.IdentityProvider, c.TenantID, c.AuthMethods = g.auth.Provider, g.auth.Tenant, g.auth.Methods
	c.ACR, c.AuthTime = acrOf(g.auth), unixOrZero(g.authTime)
	c.Confirmation = confirmation(g.jkt)
	return c
}

func (s *Server) signAccessToken(c claims.Access) (string, error) {
	return s.cfg.Signer.Sign(signing.TypeAccessToken, c)
}

// idClaims is an ID token's claim set (OIDC Core §2).
type idClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	AuthTime int64    `json:"auth_time"`
	Nonce    string   `json:"nonce,omitempty"`
	AtHash   string   `json:"at_hash,omitempty"`
	CHash    string   `json:"c_hash,omitempty"`
	SID      string   `json:"sid"`
	AZP      string   `json:"azp"`
	// How the user authenticated, as in the access token.
	IDP string   `json:"idp,omitempty"`
	TID string   `json:"tid,omitempty"`
	AMR []string `json:"amr,omitempty"`
	ACR string   `json:"acr,omitempty"`
	// With scope profile (OIDC Core §5.4; erpgate has no separate email
	// scope, so profile carries email and email_verified too, as at
	// userinfo).
	Name          string `json:"name,omitempty"`
	Email         string `json:"email,omitempty"`
	EmailVerified *bool  `json:"email_verified,omitempty"` // set whenever Email is
	Locale        string `json:"locale,omitempty"`
}

// signIDToken signs g's ID token. accessToken is the access token issued
// with it, whose at_hash it carries (OIDC Core §3.1.3.6; "" at the
// authorization endpoint, which issues none); code is the authorization
// code issued with it, whose c_hash it carries (§3.3.2.11; "" at the
// token endpoint).
func (s *Server) signIDToken(now time.Time, g userGrant, accessToken, code string) (string, error) {
	alg := s.cfg.Signer.Algorithm()
	c := idClaims{
		Issuer: s.cfg.Issuer, Subject: g.user.Login, Audience: []string{g.app.ID},
		Expiry: now.Add(s.cfg.AccessTokenTTL).Unix(), IssuedAt: now.Unix(), AuthTime: g.authTime.Unix(),
		Nonce: g.nonce, SID: g.sid, AZP: g.app.ID,
		IDP: g.auth.Provider, TID: g.auth.Tenant, AMR: g.auth.Methods, ACR: acrOf(g.auth),
	}
	if accessToken != "" {
		c.AtHash = atHash(alg, accessToken)
	}
	if code != "" {
		c.CHash = atHash(alg, code) // c_hash is at_hash's construction over the code
	}
	if slices.Contains(g.scopes, "profile") {
		c.Name, c.Locale = g.user.Name, g.user.Locale
		c.Email, c.EmailVerified = g.user.Email, emailVerified(g.user)
	}
	return s.cfg.Signer.Sign(signing.TypeIDToken, c)
}

// acrOf is the acr claim of a sign-in: its ACR, and "pwd" for records
// made before second factors existed (every sign-in then was one
// factor).
func acrOf(a store.Authentication) string {
	if a.ACR == "" {
		return acrPassword
	}
	return a.ACR
}

// unixOrZero is t in Unix seconds; 0 (claim left out) for the zero time.
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// emailVerified is the email_verified claim of u: whether its email was
// verified, present only when it has one (OIDC Core §5.1).
func emailVerified(u *directory.User) *bool {
	if u.Email == "" {
		return nil
	}
	v := u.EmailVerified
	return &v
}

// atHash is OIDC Core §3.1.3.6's at_hash, and over a code §3.3.2.11's
// c_hash: the base64url of the left half of the value's hash, with the
// hash of the signing algorithm (SHA-256 for RS256 and ES256; SHA-512 for
// EdDSA, as go-oidc checks it).
func atHash(alg, token string) string {
	var h hash.Hash
	if alg == "EdDSA" {
		h = sha512.New()
	} else {
		h = sha256.New()
	}
	h.Write([]byte(token))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
