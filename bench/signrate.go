package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// rawSignRate signs access-token-shaped claims with go-jose in a loop on
// GOMAXPROCS goroutines for d. With a key from newRawSigner it is the
// ceiling the token endpoint could reach if signing were all it did.
func rawSignRate(ctx context.Context, signer jose.Signer, d time.Duration) *result {
	var stop atomic.Bool
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	n := runtime.GOMAXPROCS(0)
	hs := make([]histogram, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			c := sampleClaims()
			for !stop.Load() && ctx.Err() == nil {
				began := time.Now()
				c.ID = newNonce() // a new jti each time, as the issuer does
				payload, err := json.Marshal(c)
				if err == nil {
					var jws *jose.JSONWebSignature
					if jws, err = signer.Sign(payload); err == nil {
						_, err = jws.CompactSerialize()
					}
				}
				if err != nil {
					errs[i] = err
					return
				}
				hs[i].record(time.Since(began))
			}
		})
	}
	wg.Wait()
	r := &result{elapsed: time.Since(start), errs: map[string]uint64{}}
	for i := range hs {
		r.lat.merge(&hs[i])
		if errs[i] != nil {
			r.err = fmt.Errorf("sign: %w", errs[i])
		}
	}
	r.ok = r.lat.n
	if ctx.Err() != nil {
		r.err = ctx.Err()
	}
	return r
}

// newRawSigner makes a signer with a fresh key of alg's type and size, as
// the keyring generates them: RSA 2048, P-256, Ed25519.
func newRawSigner(alg string) (jose.Signer, error) {
	var key crypto.Signer
	var err error
	switch alg {
	case "RS256":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("raw signing: no key type for %s", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("raw signing: generate %s key: %w", alg, err)
	}
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "bench")
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("raw signing: new %s signer: %w", alg, err)
	}
	return s, nil
}

// rawClaims has the shape and size of a client-credentials access token's
// claims (see package claims); the values are placeholders.
type rawClaims struct {
	Issuer         string   `json:"iss"`
	Audience       []string `json:"aud"`
	IssuedAt       int64    `json:"iat"`
	NotBefore      int64    `json:"nbf"`
	Expiry         int64    `json:"exp"`
	ID             string   `json:"jti"`
	Scope          []string `json:"scope"`
	ClientID       string   `json:"client_id"`
	SessionID      string   `json:"sid"`
	SystemUser     string   `json:"client_system_user"`
	SystemUserType string   `json:"client_system_user_type"`
	SystemUserID   string   `json:"client_system_user_id"`
}

func sampleClaims() rawClaims {
	now := time.Now().Unix()
	return rawClaims{
		Issuer: "http://127.0.0.1:8080/id", Audience: []string{"DomainAPI", "TableAPI"},
		IssuedAt: now, NotBefore: now, Expiry: now + 3600,
		Scope: []string{"read", "update"}, ClientID: benchClientID, SessionID: newNonce(),
		// The claims the issuer signs for client credentials (SPEC §3).
		SystemUser: benchSystemUser, SystemUserType: "SystemUserNoLogin",
		SystemUserID: "2b3c4d5e-6f70-8192-a3b4-c5d6e7f8a9b0",
	}
}
