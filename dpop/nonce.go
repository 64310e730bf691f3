package dpop

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// NonceHeader is the response header a server nonce comes in (RFC 9449
// §8.1, §9).
const NonceHeader = "DPoP-Nonce"

// DefaultNonceWindow is how long a nonce is handed out before the next;
// each is accepted for its window and the next.
const DefaultNonceWindow = 30 * time.Second

// Nonces are server-provided nonces (RFC 9449 §8, §9): a proof must carry
// one the server handed out lately, so a proof made in advance (by an
// attacker who briefly had the key, §11.2) stops working. A nonce is the
// number of its time window and an HMAC of it: nothing is stored, and
// every replica with the same secret accepts every replica's nonces.
type Nonces struct {
	key    []byte
	window time.Duration
	clock  func() time.Time
}

// NewNonces derives the nonce key from secret (the operator's, shared by
// every replica).
func NewNonces(secret []byte, window time.Duration, clock func() time.Time) (*Nonces, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, "erpgate dpop nonce", 32)
	if err != nil {
		return nil, err
	}
	if window <= 0 {
		window = DefaultNonceWindow
	}
	return &Nonces{key: key, window: window, clock: clock}, nil
}

// Current is the nonce to hand out now.
func (n *Nonces) Current() string { return n.at(n.index(n.clock())) }

// Valid reports whether s is the nonce of this window or the last.
func (n *Nonces) Valid(s string) bool {
	now := n.index(n.clock())
	return hmac.Equal([]byte(s), []byte(n.at(now))) || hmac.Equal([]byte(s), []byte(n.at(now-1)))
}

func (n *Nonces) index(t time.Time) uint64 { return uint64(t.UnixNano() / int64(n.window)) }

// at is the nonce of window i: base64url of i and 16 bytes of its HMAC.
func (n *Nonces) at(i uint64) string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], i)
	m := hmac.New(sha256.New, n.key)
	m.Write(b[:8])
	copy(b[8:], m.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(b[:])
}
