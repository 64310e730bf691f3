package backchannel

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"
)

// TokenType is the logout token's JWS "typ" (§2.4: explicit typing, so a
// logout token cannot be taken for an ID token, RFC 8725 §3.11).
const TokenType = "logout+jwt"

// EventType is the member of the events claim that makes a JWT a logout
// token (§2.4).
const EventType = "http://schemas.openid.net/event/backchannel-logout"

// DefaultTokenTTL is how long a logout token is valid: long enough for
// its delivery and clock skew, short enough that a captured one is soon
// useless (§2.4 "exp … SHOULD be short"; §4 replay).
const DefaultTokenTTL = 2 * time.Minute

// Claims are a logout token's claims (§2.4). There is no nonce: §2.4
// forbids it, so a logout token can never pass as an ID token.
type Claims struct {
	Issuer    string              `json:"iss"`
	Audience  string              `json:"aud"` // the app's client_id
	IssuedAt  int64               `json:"iat"`
	Expiry    int64               `json:"exp"`
	ID        string              `json:"jti"`
	Subject   string              `json:"sub,omitempty"`
	SessionID string              `json:"sid,omitempty"`
	Events    map[string]struct{} `json:"events"`
}

// Signer signs a JWT with the issuer's current key (*signing.Keyring).
type Signer interface {
	Sign(typ string, claims any) (string, error)
}

// Logout is what one logout token says: to whom, about which session.
type Logout struct {
	ClientID string
	// SessionRequired is the app's backchannel_logout_session_required:
	// a token without a sid must then not be sent (§2.2).
	SessionRequired bool
	SessionID       string
	Subject         string // the user's login, the sub of the app's tokens
}

// Errors of NewClaims.
var (
	ErrNoSession = errors.New("backchannel: the app requires a sid and the session has none")
	ErrNoSubject = errors.New("backchannel: a logout token needs a sub or a sid")
)

// NewClaims returns the claims of a fresh logout token for l from issuer
// at now, valid for ttl.
func NewClaims(issuer string, l Logout, now time.Time, ttl time.Duration) (Claims, error) {
	switch {
	case l.SessionRequired && l.SessionID == "":
		return Claims{}, ErrNoSession
	case l.SessionID == "" && l.Subject == "":
		return Claims{}, ErrNoSubject // §2.4: at least one of them
	}
	return Claims{
		Issuer: issuer, Audience: l.ClientID, IssuedAt: now.Unix(), Expiry: now.Add(ttl).Unix(),
		ID: newJTI(), Subject: l.Subject, SessionID: l.SessionID,
		Events: map[string]struct{}{EventType: {}},
	}, nil
}

// newJTI is a random token id (§2.4 jti), 128 bits.
func newJTI() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
