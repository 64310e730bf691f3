package accesstoken

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/go-jose/go-jose/v4"

	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/signing"
)

// Verifier checks JWT access tokens in-process, parsing each once: the
// compact form, the alg allow-list and the RFC 9068 "typ" (signing.Parse),
// the signature against the issuer's key set (kid, that key's algorithm),
// then the claims: the issuer, the ones every token carries, and exp/nbf
// with a small leeway. It caches verified claims until the token expires,
// so the signature is checked once per token rather than once per
// request. Revocation is not its business: callers check the jti and sid.
type Verifier struct {
	issuer string
	keys   KeySet
	algs   []jose.SignatureAlgorithm
	clock  func() time.Time
	leeway time.Duration
	cache  *tokenCache
	recent *recentTokens // in front of cache: the hot tokens, by their text
	intern *interner     // shares repeated claim values between cached tokens
}

// KeySet checks the signature of a token signing.Parse parsed against
// the issuer's published keys (*signing.Keyring).
type KeySet interface {
	VerifyJWS(jws *jose.JSONWebSignature) ([]byte, error)
}

// Config configures a Verifier.
type Config struct {
	Issuer     string   // the only accepted "iss"
	KeySet     KeySet   // verifies signatures (the issuer's *signing.Keyring)
	Algorithms []string // JWS "alg" allow-list; empty: RS256 only
	Clock      func() time.Time
	Leeway     time.Duration // clock skew tolerated on exp and nbf
	CacheSize  int           // verified tokens kept; 0 disables the cache
}

// New returns a Verifier.
func New(c Config) *Verifier {
	algs := []jose.SignatureAlgorithm{jose.RS256}
	if len(c.Algorithms) > 0 {
		algs = make([]jose.SignatureAlgorithm, len(c.Algorithms))
		for i, a := range c.Algorithms {
			algs[i] = jose.SignatureAlgorithm(a)
		}
	}
	return &Verifier{
		issuer: c.Issuer,
		keys:   c.KeySet,
		algs:   algs,
		clock:  c.Clock,
		leeway: c.Leeway,
		cache:  newTokenCache(c.CacheSize),
		recent: newRecentTokens(c.CacheSize),
		intern: newInterner(),
	}
}

// Verify returns the claims of a valid access token. The claims may be
// shared with other callers and must not be modified.
func (v *Verifier) Verify(_ context.Context, raw string) (*claims.Access, error) {
	c := v.recent.get(raw)
	if c == nil {
		key := cacheKey(raw)
		var ok bool
		if c, ok = v.cache.get(key); !ok {
			var err error
			if c, err = v.verifySlow(raw); err != nil {
				return nil, err
			}
			v.cache.put(key, c, v.clock().Unix())
		}
		v.recent.put(raw, c)
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

// verifySlow judges a token not in the cache, from one parse: the form,
// alg and typ (RFC 9068 §4: an ID token is not an access token), the
// signature, then the claims; exp and nbf are Verify's, on cache hits
// too. The audience is not checked here: policy checks the route's.
func (v *Verifier) verifySlow(raw string) (*claims.Access, error) {
	jws, err := signing.Parse(raw, signing.TypeAccessToken, v.algs)
	if err != nil {
		return nil, err
	}
	payload, err := v.keys.VerifyJWS(jws)
	if err != nil {
		return nil, fmt.Errorf("verify signature: %w", err)
	}
	c := new(claims.Access)
	if err := json.Unmarshal(payload, c); err != nil {
		return nil, fmt.Errorf("decode claims: %w", err)
	}
	if c.Issuer != v.issuer {
		return nil, fmt.Errorf("token issued by %q, not %q", c.Issuer, v.issuer)
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
	return sha256.Sum256(bytesOf(raw))
}

// recentSlots is how many tokens recentTokens holds at most: the hot
// ones of a busy gateway (services calling all day with one token each,
// users' browsers), at most about a megabyte of token text.
const recentSlots = 1024

// recentTokens is a small front for the token cache, holding verified
// tokens by their text: a hit costs a seeded hash and a constant-time
// comparison of the whole token (0.3 µs for an 860-byte token on the test
// machine) where the cache's key costs a SHA-256 of it (0.6 µs). A token
// is found only if it is the very text stored, so a hash collision,
// however made, costs a cache lookup and never lets another token
// through; the seed is random per process, so collisions cannot be aimed
// at a slot either. Entries are immutable and replaced whole; like the
// cache's, a hit stands in for the signature check only.
type recentTokens struct {
	seed  maphash.Seed
	slots []atomic.Pointer[recentToken] // nil: the cache is off, so is this
}

type recentToken struct {
	raw    string
	claims *claims.Access
}

func newRecentTokens(cacheSize int) *recentTokens {
	r := &recentTokens{seed: maphash.MakeSeed()}
	if cacheSize > 0 {
		r.slots = make([]atomic.Pointer[recentToken], recentSlots)
	}
	return r
}

func (r *recentTokens) slot(raw string) *atomic.Pointer[recentToken] {
	return &r.slots[maphash.String(r.seed, raw)%recentSlots]
}

// get returns the claims of raw if raw is the token its slot holds.
func (r *recentTokens) get(raw string) *claims.Access {
	if r.slots == nil {
		return nil
	}
	e := r.slot(raw).Load()
	// ConstantTimeCompare returns at once on a length mismatch: the
	// length of a token is no secret.
	if e == nil || subtle.ConstantTimeCompare(bytesOf(e.raw), bytesOf(raw)) != 1 {
		return nil
	}
	return e.claims
}

// put makes raw, verified with claims c, its slot's token.
func (r *recentTokens) put(raw string, c *claims.Access) {
	if r.slots != nil {
		r.slot(raw).Store(&recentToken{raw: raw, claims: c})
	}
}

// bytesOf is s's bytes, not copied: the comparison only reads them.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

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
