// Package dpoptest is a DPoP client for tests (RFC 9449 §4): a key pair
// and the proofs it signs, so every door's tests send proofs the way a
// client does.
package dpoptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/erpgate/erpgate/dpop"
)

// Key is a client's DPoP key (ES256).
type Key struct {
	priv *ecdsa.PrivateKey
	t    testing.TB
}

// NewKey makes a fresh key.
func NewKey(t testing.TB) *Key {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{priv: k, t: t}
}

// JKT is the key's RFC 7638 thumbprint, base64url: what cnf.jkt of a
// token bound to it says.
func (k *Key) JKT() string {
	tp, err := (&jose.JSONWebKey{Key: &k.priv.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		k.t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// Proof is a fresh proof for method and url issued at iat, with the hash
// of accessToken (ath) unless it is "".
func (k *Key) Proof(method, url, accessToken string, iat time.Time) string {
	return k.ProofWithNonce(method, url, accessToken, "", iat)
}

// ProofWithNonce is Proof carrying the server nonce nonce (RFC 9449 §8)
// unless it is "".
func (k *Key) ProofWithNonce(method, url, accessToken, nonce string, iat time.Time) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	claims := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(b), "htm": method, "htu": url, "iat": iat.Unix()}
	if accessToken != "" {
		claims["ath"] = dpop.TokenHash(accessToken)
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	return k.Sign(claims)
}

// Sign signs claims as a proof (typ dpop+jwt, the public key as jwk),
// for tests that need a proof with odd claims.
func (k *Key) Sign(claims map[string]any) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		k.t.Fatal(err)
	}
	body, _ := json.Marshal(claims)
	jws, err := s.Sign(body)
	if err != nil {
		k.t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		k.t.Fatal(err)
	}
	return out
}
