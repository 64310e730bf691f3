package mfa

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"strings"
	"time"
)

// Period is the time step X of RFC 6238 §4.1 (30 s, its recommended
// default) and Digits the length of a code: what every authenticator app
// uses when the key URI says nothing else.
const (
	Period = 30 * time.Second
	Digits = 6
)

// SecretBytes is the length of a generated secret: 160 bits, RFC 4226 §4
// R6's recommendation ("We RECOMMEND a shared secret length of 160 bits").
const SecretBytes = 20

// encoding is base32 without padding, as authenticator apps expect in
// the key URI's secret parameter.
var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Algorithm is the HMAC hash of RFC 6238 §1.2: SHA-1 for the codes erpgate
// issues (the only one authenticator apps agree on), SHA-256 and SHA-512
// for the RFC's test vectors and keys made elsewhere.
type Algorithm func() hash.Hash

// The algorithms of RFC 6238 §1.2.
var (
	SHA1   Algorithm = sha1.New
	SHA256 Algorithm = sha256.New
	SHA512 Algorithm = sha512.New
)

// NewSecret returns a fresh 160-bit secret from crypto/rand, base32
// without padding.
func NewSecret() string {
	b := make([]byte, SecretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return encoding.EncodeToString(b)
}

// DecodeSecret reads a base32 secret as people type it: case and spaces
// and padding do not matter.
func DecodeSecret(secret string) ([]byte, error) {
	s := strings.ToUpper(strings.NewReplacer(" ", "", "-", "", "=", "").Replace(secret))
	key, err := encoding.DecodeString(s)
	if err != nil || len(key) == 0 {
		return nil, errors.New("mfa: the secret is not base32")
	}
	return key, nil
}

// Step is the time step counter T of RFC 6238 §4.2 at t: the number of
// whole periods since the Unix epoch (T0 = 0).
func Step(t time.Time) int64 {
	return t.Unix() / int64(Period/time.Second)
}

// HOTP is RFC 4226 §5.3: the HMAC of the 8-byte big-endian counter,
// dynamic truncation to 31 bits, the low digits decimal digits, with
// leading zeros.
func HOTP(alg Algorithm, key []byte, counter int64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	mac := hmac.New(alg, key)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	// RFC 4226 §5.3: "Let OffsetBits be the low-order 4 bits of
	// String[19]" — of the last byte, for every hash length (RFC 6238 §1.2).
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

// TOTP is RFC 6238 §4.2's TOTP = HOTP(K, T) for the step of t.
func TOTP(alg Algorithm, key []byte, t time.Time, digits int) string {
	return HOTP(alg, key, Step(t), digits)
}

// Code is the 6-digit SHA-1 code of secret at t: what an authenticator
// app shows.
func Code(secret string, t time.Time) (string, error) {
	key, err := DecodeSecret(secret)
	if err != nil {
		return "", err
	}
	return TOTP(SHA1, key, t, Digits), nil
}

// Window is how many steps either side of now a code may be from (RFC
// 6238 §5.2: "We RECOMMEND that at most one time step is allowed as the
// network delay"), for clocks a little apart.
const Window = 1

// Verify checks a 6-digit SHA-1 code against secret at now, accepting the
// steps now-1 .. now+1 (Window) but only those after lastStep: RFC 6238
// §5.2, "the verifier MUST NOT accept the second attempt of the OTP after
// the successful validation has been issued for the first OTP". It
// returns the step the code matched, which the caller records (atomically,
// store.Factors.UseTOTPStep) as the new lastStep. Every candidate is
// compared in constant time, so the time taken says nothing about how
// close a guess was.
func Verify(secret, code string, now time.Time, lastStep int64) (step int64, ok bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	key, err := DecodeSecret(secret)
	if err != nil || len(code) != Digits {
		return 0, false
	}
	cur := Step(now)
	for s := cur - Window; s <= cur+Window; s++ {
		want := HOTP(SHA1, key, s, Digits)
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && s > lastStep && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}

// KeyURI is the otpauth:// URI authenticator apps read from the QR code
// (Google Authenticator's Key Uri Format):
// otpauth://totp/<issuer>:<login>?secret=…&issuer=…, with the defaults
// (SHA-1, 6 digits, 30 s) left implicit as apps expect.
func KeyURI(issuer, login, secret string) string {
	label := url.PathEscape(issuer) + ":" + url.PathEscape(login)
	q := url.Values{"secret": {secret}, "issuer": {issuer}}
	return "otpauth://totp/" + label + "?" + q.Encode()
}
