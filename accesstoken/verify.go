package accesstoken

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/signing"
)

// Verifier checks JWT access tokens in-process: go-oidc verifies the
// signature against the issuer's key set (alg allow-list, kid) and the
// issuer; this type adds the RFC 9068 "typ" check and exp/nbf with a small
// leeway, and caches verified claims until the token expires, so the
// signature is checked once per token rather than once per request.
// Revocation is not its business: callers check the jti and sid.
type Verifier struct {
	oidc   *oidc.IDTokenVerifier
	clock  func() time.Time
	leeway time.Duration
	cache  *tokenCache
	intern *interner // shares repeated claim values between cached tokens
}

// Config configures a Verifier.
type Config struct {
	Issuer     string      // the only accepted "iss"
	KeySet     oidc.KeySet // verifies signatures (the issuer's *signing.Keyring)
	Algorithms []string    // JWS "alg" allow-list
	Clock      func() time.Time
	Leeway     time.Duration // clock skew tolerated on exp and nbf
	CacheSize  int           // verified tokens kept; 0 disables the cache
}

// New returns a Verifier.
func New(c Config) *Verifier {
	issuer, keys, algs, clock, leeway, cacheSize := c.Issuer, c.KeySet, c.Algorithms, c.Clock, c.Leeway, c.CacheSize
	return &Verifier{
		oidc: oidc.NewVerifier(issuer, keys, &oidc.Config{
			SkipClientIDCheck:    true, // the route's audience is checked by policy
			SkipExpiryCheck:      true, // checked below with our leeway, on cache hits too
			SupportedSigningAlgs: algs,
		}),
		clock:  clock,
		leeway: leeway,
		cache:  newTokenCache(cacheSize),
		intern: newInterner(),
	}
}

// Verify returns the claims of a valid access token. The claims may be
// shared with other callers and must not be modified.
func (v *Verifier) Verify(ctx context.Context, raw string) (*claims.Access, error) {
	key := cacheKey(raw)
	c, ok := v.cache.get(key)
	if !ok {
		var err error
		if c, err = v.verifySlow(ctx, raw); err != nil {
			return nil, err
		}
		v.cache.put(key, c, v.clock().Unix())
	}
	now := v.clock()
	if now.After(time.Unix(c.Expiry, 0).Add(v.leeway)) {
		return nil, errors.New("token expired")
	}
	if now.Add(v.leeway).Before(time.Unix(c.NotBefore, 0)) {
		return nil, errors.New("token not yet valid")
	}
	return c, nil
}

func (v *Verifier) verifySlow(ctx context.Context, raw string) (*claims.Access, error) {
	// RFC 9068 §4: reject tokens whose typ is not at+jwt (ID tokens).
	if err := signing.CheckType(raw, signing.TypeAccessToken); err != nil {
		return nil, err
	}
	tok, err := v.oidc.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	c := new(claims.Access)
	if err := tok.Claims(c); err != nil {
		return nil, fmt.Errorf("decode claims: %w", err)
	}
	if c.Expiry == 0 || c.ID == "" || c.ClientID == "" || c.SessionID == "" {
		return nil, errors.New("token lacks exp, jti, client_id or sid")
	}
	v.intern.claims(c)
	c.Prepare()
	return c, nil
}

// tokenKey identifies a raw token in the cache: its SHA-256. A hit stands
// in for the signature check, so the digest must be collision resistant:
// no other string may share a cached token's key. Keeping 32 bytes
// rather than the token (600 to 900 bytes) saves most of what the cache
// held per token.
type tokenKey [sha256.Size]byte

// cacheKey hashes raw in place: Sum256 only reads its input, and copying
// the token to a []byte would allocate on every request (the argument
// escapes).
func cacheKey(raw string) tokenKey {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
}

// tokenCache maps a raw token's key to its verified claims. It is
// bounded: when full, an arbitrary entry is evicted (expired ones first,
// as found). A hit is only a shortcut for the signature check; expiry and
// revocation are still checked on every request.
type tokenCache struct {
	mu      sync.RWMutex
	max     int
	entries map[tokenKey]*claims.Access
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, entries: make(map[tokenKey]*claims.Access)}
}

func (c *tokenCache) get(k tokenKey) (*claims.Access, bool) {
	c.mu.RLock()
	a, ok := c.entries[k]
	c.mu.RUnlock()
	return a, ok
}

func (c *tokenCache) put(k tokenKey, a *claims.Access, now int64) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		evicted := 0
		for k, v := range c.entries {
			if v.Expiry < now || evicted == 0 {
				delete(c.entries, k)
				evicted++
			}
			if evicted >= c.max/16+1 {
				break
			}
		}
	}
	c.entries[k] = a
}
