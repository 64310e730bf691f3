package issuer

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"slices"
	"strings"
	"time"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/signing"
)

// userGrant is what a user token response is built from: the
// authorization code's or the refresh token's record, or for the hybrid
// flow's ID token the authorization request.
type userGrant struct {
	app      *directory.App
	user     *directory.User
	scopes   []string
	sid      string
	authTime time.Time
	nonce    string // only for a code: its exchange and the hybrid response (OIDC Core §3.1.3.6, §3.3.2.11)
}

// issued is a signed user token set, before the refresh token (if any)
// is stored.
type issued struct {
	resp      tokenResponse
	jti       string
	accessExp time.Time
}

// issueUserTokens signs the access token (user claims, SPEC §3) and, when
// openid was granted, the ID token; refresh is the refresh token to hand
// out with them ("" for none); jti, when set, is the access token's id.
func (s *Server) issueUserTokens(g userGrant, refresh, jti string) (issued, error) {
	now := s.cfg.Clock()
	c := s.accessClaims(now, g.app, g.scopes, g.sid)
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
	at, err := s.signAccessToken(c)
	if err != nil {
		return issued{}, ErrServerError.WithCause(err)
	}
	resp := tokenResponse{
		AccessToken:  at,
		TokenType:    "Bearer",
		ExpiresIn:    int64(s.cfg.AccessTokenTTL.Seconds()),
		Scope:        strings.Join(g.scopes, " "),
		RefreshToken: refresh,
	}
	if slices.Contains(g.scopes, "openid") {
		if resp.IDToken, err = s.signIDToken(now, g, at, ""); err != nil {
			return issued{}, ErrServerError.WithCause(err)
		}
	}
	return issued{resp: resp, jti: c.ID, accessExp: time.Unix(c.Expiry, 0)}, nil
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
