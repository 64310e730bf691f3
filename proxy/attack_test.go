package proxy

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/erpgate/erpgate/reftoken"
)

// Attack suite for the edge: each test tries one attack and expects a
// refusal with the upstream never reached.

// forgeRS256 signs payload (base64url) with key under header.
func forgeRS256(t *testing.T, header map[string]any, payload string, key *rsa.PrivateKey) string {
	t.Helper()
	h, _ := json.Marshal(header)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + payload
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// RFC 8725 §3.10 / RFC 7515 §4.1.2-5: keys named by the token itself
// (jku, x5u, jwk) are never used or fetched; verification uses the
// issuer's keyring only.
func TestAttackJWTHeaderKeyReferences(t *testing.T) {
	f := newFixture(t, nil)
	var fetched atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		http.NotFound(w, r)
	}))
	t.Cleanup(evil.Close)
	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	kid := f.keys.ActiveKeyID()
	payload := strings.Split(f.sign(t, claimsFor("read")), ".")[1]
	jwk := map[string]any{"kty": "RSA", "kid": kid, "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(attacker.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(attacker.E)).Bytes())}
	for _, tc := range []struct {
		name string
		hdr  map[string]any
	}{
		{"jku", map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": kid, "jku": evil.URL + "/jwks"}},
		{"jku only", map[string]any{"alg": "RS256", "typ": "at+jwt", "jku": evil.URL + "/jwks"}},
		{"x5u", map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": kid, "x5u": evil.URL + "/cert.pem"}},
		{"jwk", map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": kid, "jwk": jwk}},
		{"jwk only", map[string]any{"alg": "RS256", "typ": "at+jwt", "jwk": jwk}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do("GET", "/api/domain/x", bearer(forgeRS256(t, tc.hdr, payload, attacker)))
			if rec.Code != http.StatusUnauthorized || errorOf(t, rec) != "invalid_token" {
				t.Fatalf("forged token: %d %s", rec.Code, rec.Body)
			}
		})
	}
	if f.upstream.lastRequest() != nil {
		t.Error("a forged token reached the upstream")
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("the proxy fetched the attacker's URL %d times", n)
	}
}

// A bearer token of 64 KiB (in-process, so no header limit applies) is
// refused like any invalid token: no crash, no upstream call.
func TestAttackOversizedBearer(t *testing.T) {
	f := newFixture(t, nil)
	for _, tok := range []string{
		strings.Repeat("a", 64<<10),
		strings.Repeat("a", 32<<10) + "." + strings.Repeat("b", 32<<10) + "." + strings.Repeat("c", 512),
		reftoken.Prefix + strings.Repeat("0", 64<<10),
	} {
		rec := f.do("GET", "/api/domain/x", bearer(tok))
		if rec.Code != http.StatusUnauthorized && rec.Code != http.StatusBadRequest {
			t.Fatalf("%d-byte bearer: %d %s", len(tok), rec.Code, rec.Body)
		}
	}
	if f.upstream.lastRequest() != nil {
		t.Error("an oversized token reached the upstream")
	}
}
