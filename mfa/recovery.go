package mfa

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// RecoveryCodes is how many recovery codes a user gets at a time.
const RecoveryCodes = 10

// recoveryAlphabet is Crockford-free lowercase base32 without the
// letters people confuse (i, l, o, u are left out, as in Crockford's
// base32): 32 symbols, 5 bits each.
const recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// NewRecoveryCodes returns RecoveryCodes fresh codes of the form
// xxxx-xxxx-xxxx: 12 symbols of 5 bits, 60 bits from crypto/rand each.
func NewRecoveryCodes() []string {
	codes := make([]string, RecoveryCodes)
	for i := range codes {
		var b [12]byte
		_, _ = rand.Read(b[:])
		var sb strings.Builder
		for j, c := range b {
			if j > 0 && j%4 == 0 {
				sb.WriteByte('-')
			}
			sb.WriteByte(recoveryAlphabet[c&31]) // 256 is a multiple of 32: no bias
		}
		codes[i] = sb.String()
	}
	return codes
}

// NormalizeRecoveryCode is the code as stored: lower case, without
// spaces and dashes, with the look-alikes people type for the missing
// letters read as digits (Crockford: i, l → 1; o → 0).
func NormalizeRecoveryCode(code string) string {
	code = strings.ToLower(strings.TrimSpace(code))
	return strings.NewReplacer(" ", "", "-", "", "i", "1", "l", "1", "o", "0").Replace(code)
}

// HashRecoveryCode is how a recovery code is stored: the SHA-256 (hex) of
// its normalised form. A fast hash is enough here: a code carries 60
// random bits, far beyond what a guessing attack over a stolen table
// could cover, unlike a password, which needs argon2id.
func HashRecoveryCode(code string) string {
	sum := sha256.Sum256([]byte(NormalizeRecoveryCode(code)))
	return hex.EncodeToString(sum[:])
}

// LooksLikeRecoveryCode reports whether code has a recovery code's shape
// (12 symbols of the alphabet after normalising), to tell it from a
// 6-digit TOTP code typed into the same field.
func LooksLikeRecoveryCode(code string) bool {
	n := NormalizeRecoveryCode(code)
	if len(n) != 12 {
		return false
	}
	for _, c := range n {
		if !strings.ContainsRune(recoveryAlphabet, c) {
			return false
		}
	}
	return true
}

// MatchRecoveryCode returns the index of code's hash in hashes, comparing
// with every stored hash in constant time; -1 when none matches.
func MatchRecoveryCode(hashes []string, code string) int {
	h := []byte(HashRecoveryCode(code))
	found := -1
	for i, stored := range hashes {
		if subtle.ConstantTimeCompare([]byte(stored), h) == 1 && found < 0 {
			found = i
		}
	}
	return found
}
