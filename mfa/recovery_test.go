package mfa

import (
	"regexp"
	"testing"
)

func TestRecoveryCodes(t *testing.T) {
	codes := NewRecoveryCodes()
	if len(codes) != RecoveryCodes {
		t.Fatalf("%d codes", len(codes))
	}
	shape := regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$`)
	seen := map[string]bool{}
	var hashes []string
	for _, c := range codes {
		if !shape.MatchString(c) || seen[c] || !LooksLikeRecoveryCode(c) {
			t.Errorf("code %q: bad shape or repeated", c)
		}
		seen[c] = true
		hashes = append(hashes, HashRecoveryCode(c))
	}
	for i, c := range codes {
		if got := MatchRecoveryCode(hashes, c); got != i {
			t.Errorf("match %q = %d, want %d", c, got, i)
		}
	}
	// Typed in capitals, with spaces instead of dashes: the same code.
	typed := regexp.MustCompile(`-`).ReplaceAllString(codes[3], " ")
	if MatchRecoveryCode(hashes, "  "+typed+" ") != 3 {
		t.Error("a code typed with spaces did not match")
	}
	if MatchRecoveryCode(hashes, "0000-0000-0000") != -1 || MatchRecoveryCode(nil, codes[0]) != -1 {
		t.Error("an unknown code matched")
	}
	if LooksLikeRecoveryCode("123456") {
		t.Error("a TOTP code looks like a recovery code")
	}
	// Single use is the store's (UseRecoveryCode); a used hash is gone
	// from the list it matches against.
	rest := append(append([]string{}, hashes[:3]...), hashes[4:]...)
	if MatchRecoveryCode(rest, codes[3]) != -1 {
		t.Error("a used code matched")
	}
}
