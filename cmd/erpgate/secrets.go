package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	gw "github.com/erpgate/erpgate/gateway"
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

func cmdHashSecret(e env) error {
	s, err := readSecret(e.stdin)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, gw.SecretHash(s))
	return nil
}

// cmdNewSecret prints a fresh secret and its hash.
func cmdNewSecret(e env) error {
	s := gw.NewClientSecret()
	fmt.Fprintf(e.stdout, "secret:      %s\nsecret_hash: %s\n", s, gw.SecretHash(s))
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
