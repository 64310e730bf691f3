package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/erpgate/erpgate/password"
)

// readSecret reads one line from stdin (a trailing newline is not part of
// the secret).
func readSecret(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	s := strings.TrimRight(line, "\r\n")
	if s == "" {
		return "", errors.New("nothing on standard input")
	}
	return s, nil
}

// secretHash is how a client secret is stored in apps[].secret_hash.
func secretHash(secret string) string {
	return base64.StdEncoding.EncodeToString(rawSecretHash(secret))
}

// newClientSecret is 256 random bits, URL-safe.
func newClientSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func cmdHashSecret(e env) error {
	s, err := readSecret(e.stdin)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, secretHash(s))
	return nil
}

// cmdNewSecret prints a fresh secret and its hash.
func cmdNewSecret(e env) error {
	s := newClientSecret()
	fmt.Fprintf(e.stdout, "secret:      %s\nsecret_hash: %s\n", s, secretHash(s))
	return nil
}

func cmdHashPassword(e env) error {
	s, err := readSecret(e.stdin)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, password.Hash(s, password.Default))
	return nil
}

// rawSecretHash is sha256(secret), as apps keep it.
func rawSecretHash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}
