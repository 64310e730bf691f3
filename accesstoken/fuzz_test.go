package accesstoken

import (
	"context"
	"encoding/base64"
	"testing"
)

// FuzzVerify: arbitrary strings, and arbitrary headers on a real
// signature, never panic and are never accepted.
func FuzzVerify(f *testing.F) {
	v, keys, _ := setup(f, 0)
	good := token(f, keys, "at+jwt", nil)
	f.Add("", "")
	f.Add(good, "")
	f.Add("a.b.c", `{"alg":"none","typ":"at+jwt"}`)
	f.Add("", `{"alg":"HS256","typ":"at+jwt","kid":"x"}`)
	f.Add("", `{"alg":"RS256","typ":"at+jwt","jku":"https://evil.example/jwks","kid":"evil"}`)
	f.Add("", `{"alg":"RS256","typ":"at+jwt","x5u":"https://evil.example/cert"}`)
	f.Fuzz(func(t *testing.T, raw, header string) {
		if header != "" {
			// Put the fuzzed header on the good token's payload and signature.
			parts := [3]string{}
			copy(parts[:], splitN(good))
			raw = base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + parts[1] + "." + parts[2]
		}
		if raw == good {
			return
		}
		if _, err := v.Verify(context.Background(), raw); err == nil {
			t.Fatalf("accepted %q", raw)
		}
	})
}

func splitN(tok string) []string {
	var out []string
	start := 0
	for i := 0; i < len(tok); i++ {
		if tok[i] == '.' {
			out = append(out, tok[start:i])
			start = i + 1
		}
	}
	return append(out, tok[start:])
}
