package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// NewClientSecret is 256 random bits, URL-safe: the secret of an app
// created or rotated through the admin API, and of `erpgate new-secret`.
func NewClientSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SecretHash is how a client secret is kept in apps[].secret_hash:
// base64(sha256(secret)).
func SecretHash(secret string) string {
	return base64.StdEncoding.EncodeToString(rawSecretHash(secret))
}

// rawSecretHash is sha256(secret), as apps keep it.
func rawSecretHash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}
