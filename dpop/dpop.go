package dpop

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/erpgate/erpgate/signing"
)

// HeaderName is the request header a proof comes in (RFC 9449 §4.1).
const HeaderName = "DPoP"

// TokenType is the token_type of a bound access token (RFC 9449 §5) and
// the Authorization scheme it is presented with (§7.1).
const TokenType = "DPoP"

// Algorithms are the JWS algorithms a proof may be signed with:
// asymmetric ones only (RFC 9449 §4.3 check 5: never "none", never a
// MAC, whose key the server would have to know). Discovery advertises
// them as dpop_signing_alg_values_supported.
var Algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.PS256, jose.EdDSA}

// AlgorithmNames are Algorithms as strings.
func AlgorithmNames() []string {
	out := make([]string, len(Algorithms))
	for i, a := range Algorithms {
		out[i] = string(a)
	}
	return out
}

// Bounds of a proof.
const (
	// DefaultMaxAge is how old a proof may be (its iat), and how long its
	// jti is remembered: proofs are made for one request, just before it.
	DefaultMaxAge = 60 * time.Second
	// DefaultLeeway is how far in the future a proof's iat may be, for
	// clocks that run a little ahead.
	DefaultLeeway = 5 * time.Second
	// DefaultReplayCapacity bounds the proofs remembered at once.
	DefaultReplayCapacity = 100_000
	// maxProofBytes bounds a proof: a JWS with an RSA jwk is under 2 KiB.
	maxProofBytes = 8 << 10
	// maxJTI bounds the jti kept in the replay cache.
	maxJTI = 256
)

// Config configures a Checker; zero values take the defaults.
type Config struct {
	MaxAge         time.Duration
	Leeway         time.Duration
	ReplayCapacity int
	// Nonces, when set, makes every proof carry a nonce it handed out
	// (RFC 9449 §8, §9); nil: nonces are not asked for.
	Nonces *Nonces
	Clock  func() time.Time // required
}

// Checker verifies proofs; safe for concurrent use.
type Checker struct {
	maxAge, leeway time.Duration
	clock          func() time.Time
	nonces         *Nonces

	mu       sync.Mutex
	seen     map[string]time.Time // jkt NUL jti → when it may be forgotten
	capacity int
}

// New returns a Checker.
func New(cfg Config) *Checker {
	c := &Checker{maxAge: cfg.MaxAge, leeway: cfg.Leeway, clock: cfg.Clock, capacity: cfg.ReplayCapacity,
		seen: map[string]time.Time{}, nonces: cfg.Nonces}
	if c.maxAge <= 0 {
		c.maxAge = DefaultMaxAge
	}
	if c.leeway <= 0 {
		c.leeway = DefaultLeeway
	}
	if c.capacity <= 0 {
		c.capacity = DefaultReplayCapacity
	}
	return c
}

// Request is what a proof must match.
type Request struct {
	Method string // htm
	// URL is the URL the client sent the request to (htu): scheme, host
	// and path as the client sees them; a query or fragment is ignored.
	URL string
	// AccessToken is the token presented with the proof at a protected
	// resource, whose hash the proof must carry (ath, RFC 9449 §4.3 check
	// 12); "" at the token endpoint.
	AccessToken string
}

// Proof is what a verified proof says.
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof's key,
	// base64url: what a bound token's cnf.jkt names.
	JKT      string
	ID       string // jti
	IssuedAt time.Time
}

// Error is a refused proof: the token endpoint answers invalid_dpop_proof
// (400), a protected resource 401 with a DPoP challenge carrying it (RFC
// 9449 §7.1). Reason says why, for logs and the error description.
// UseNonce says the proof lacked a current server nonce: the answer is
// use_dpop_nonce with a fresh one (§8, §9), which the client retries
// with.
type Error struct {
	Reason   string
	UseNonce bool
}

func (e *Error) Error() string { return "dpop: " + e.Reason }

func refuse(format string, args ...any) error { return &Error{Reason: fmt.Sprintf(format, args...)} }

// Nonce is the server nonce to hand out now; "" when nonces are not
// asked for.
func (c *Checker) Nonce() string {
	if c.nonces == nil {
		return ""
	}
	return c.nonces.Current()
}

// IsInvalid reports whether err is a refused proof.
func IsInvalid(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// payload is a proof's claims (RFC 9449 §4.2).
type payload struct {
	JTI   string          `json:"jti"`
	HTM   string          `json:"htm"`
	HTU   string          `json:"htu"`
	IAT   json.RawMessage `json:"iat"`
	ATH   string          `json:"ath"`
	Nonce string          `json:"nonce"`
}

// Check verifies the proof in headers (the request's DPoP header
// values) against req, with the checks of RFC 9449 §4.3 in order, and
// remembers its jti: the same proof is refused the next time within the
// window (§11.1).
func (c *Checker) Check(headers []string, req Request) (Proof, error) {
	// 1, 2: exactly one header, one compact JWS.
	if len(headers) != 1 {
		return Proof{}, refuse("want exactly one DPoP header, got %d", len(headers))
	}
	raw := strings.TrimSpace(headers[0])
	if raw == "" || len(raw) > maxProofBytes {
		return Proof{}, refuse("the proof is empty or longer than %d bytes", maxProofBytes)
	}
	// 4, 5: typ dpop+jwt, an asymmetric alg (signing.Parse refuses any
	// other alg, and the JSON serialisation).
	jws, err := signing.Parse(raw, "dpop+jwt", Algorithms)
	if err != nil {
		return Proof{}, refuse("not a DPoP proof: %v", err)
	}
	// 6, 7: signed by the public key it carries.
	jwk := jws.Signatures[0].Header.JSONWebKey
	if jwk == nil {
		return Proof{}, refuse("the proof has no jwk header")
	}
	if !jwk.IsPublic() {
		return Proof{}, refuse("the proof's jwk holds a private key")
	}
	body, err := jws.Verify(jwk)
	if err != nil {
		return Proof{}, refuse("the proof's signature does not verify with its jwk")
	}
	// 3: the claims.
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return Proof{}, refuse("the proof's claims are not a JSON object")
	}
	iat, ok := seconds(p.IAT)
	switch {
	case p.JTI == "" || len(p.JTI) > maxJTI:
		return Proof{}, refuse("the proof needs a jti of at most %d characters", maxJTI)
	case p.HTM == "" || p.HTU == "" || !ok:
		return Proof{}, refuse("the proof needs htm, htu and a numeric iat")
	}
	// 8, 9: this request.
	if p.HTM != req.Method {
		return Proof{}, refuse("the proof is for %.16q, not %s", p.HTM, req.Method)
	}
	want, err := NormalizeURL(req.URL)
	if err != nil {
		return Proof{}, refuse("the request URL: %v", err)
	}
	if got, err := NormalizeURL(p.HTU); err != nil || got != want {
		return Proof{}, refuse("the proof's htu is not this request's URL %s", want)
	}
	// 10: a nonce this server handed out lately.
	if c.nonces != nil && !c.nonces.Valid(p.Nonce) {
		return Proof{}, &Error{Reason: "the proof needs a current server nonce (DPoP-Nonce)", UseNonce: true}
	}
	// 11: fresh.
	now := c.clock()
	issued := time.Unix(iat, 0)
	if issued.Before(now.Add(-c.maxAge)) || issued.After(now.Add(c.leeway)) {
		return Proof{}, refuse("the proof's iat is outside [now-%s, now+%s]", c.maxAge, c.leeway)
	}
	// 12: the token it is presented with.
	if req.AccessToken != "" && p.ATH != TokenHash(req.AccessToken) {
		return Proof{}, refuse("the proof's ath is not the hash of the access token")
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return Proof{}, refuse("the proof's jwk has no thumbprint: %v", err)
	}
	proof := Proof{JKT: base64.RawURLEncoding.EncodeToString(tp), ID: p.JTI, IssuedAt: issued}
	// §11.1: not seen before. Last, so only signed, fresh proofs for this
	// request take room in the cache.
	if err := c.remember(proof.JKT+"\x00"+proof.ID, now, issued.Add(c.maxAge+c.leeway)); err != nil {
		return Proof{}, err
	}
	return proof, nil
}

// remember records key until forget; a key already held is a replay.
func (c *Checker) remember(key string, now, forget time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if until, ok := c.seen[key]; ok && now.Before(until) {
		return refuse("the proof was used before (jti replayed)")
	}
	if len(c.seen) >= c.capacity {
		for k, until := range c.seen {
			if !now.Before(until) {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= c.capacity {
			// Fail closed: forgetting a live jti would let its proof be
			// replayed.
			return refuse("too many proofs within the window; try again shortly")
		}
	}
	c.seen[key] = forget
	return nil
}

// seconds reads a NumericDate (RFC 7519 §2): a JSON number, fractions
// allowed and dropped.
func seconds(raw json.RawMessage) (int64, bool) {
	var f float64
	if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &f) != nil || f < 0 || f > 1<<40 {
		return 0, false
	}
	return int64(f), true
}

// TokenHash is the ath of a proof presented with token: base64url of its
// SHA-256 (RFC 9449 §4.2).
func TokenHash(token string) string {
	s := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(s[:])
}
