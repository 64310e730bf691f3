package mfa

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// RFC 6238 Appendix B: "The test token shared secret uses the ASCII string
// value "12345678901234567890"" for SHA-1, extended to 32 and 64 bytes
// for SHA-256 and SHA-512 (the reference code's seed32 / seed64).
var (
	seed20 = []byte("12345678901234567890")
	seed32 = []byte("12345678901234567890123456789012")
	seed64 = []byte("1234567890123456789012345678901234567890123456789012345678901234")
)

func TestRFC6238Vectors(t *testing.T) {
	tests := []struct {
		unix                 int64
		sha1, sha256, sha512 string
	}{
		{59, "94287082", "46119246", "90693936"},
		{1111111109, "07081804", "68084774", "25091201"},
		{1111111111, "14050471", "67062674", "99943326"},
		{1234567890, "89005924", "91819424", "93441116"},
		{2000000000, "69279037", "90698825", "38618901"},
		{20000000000, "65353130", "77737706", "47863826"},
	}
	for _, tt := range tests {
		at := time.Unix(tt.unix, 0).UTC()
		for _, c := range []struct {
			name string
			alg  Algorithm
			key  []byte
			want string
		}{{"SHA1", SHA1, seed20, tt.sha1}, {"SHA256", SHA256, seed32, tt.sha256}, {"SHA512", SHA512, seed64, tt.sha512}} {
			if got := TOTP(c.alg, c.key, at, 8); got != c.want {
				t.Errorf("%s at %d: TOTP = %s, want %s", c.name, tt.unix, got, c.want)
			}
		}
	}
}

// The 6-digit code is the low six digits of the same truncation.
func TestVerifyRFCSecret(t *testing.T) {
	secret := encoding.EncodeToString(seed20)
	at := time.Unix(1111111109, 0)
	if step, ok := Verify(secret, "081804", at, 0); !ok || step != Step(at) {
		t.Fatalf("Verify(RFC vector) = %d, %v", step, ok)
	}
}

func TestVerifyWindowAndReplay(t *testing.T) {
	secret := NewSecret()
	now := time.Date(2026, 12, 3, 10, 0, 15, 0, time.UTC)
	cur := Step(now)
	code := func(d time.Duration) string {
		c, err := Code(secret, now.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tt := range []struct {
		name     string
		code     string
		lastStep int64
		want     int64
		ok       bool
	}{
		{"current", code(0), 0, cur, true},
		{"previous step", code(-Period), 0, cur - 1, true},
		{"next step", code(Period), 0, cur + 1, true},
		{"two steps back", code(-2 * Period), 0, 0, false},
		{"two steps ahead", code(2 * Period), 0, 0, false},
		{"replay of the same step", code(0), cur, 0, false},
		{"earlier step after a later one", code(-Period), cur, 0, false},
		{"later step after an earlier one", code(Period), cur, cur + 1, true},
		{"wrong digits", "12345", 0, 0, false},
		{"not digits", "abcdef", 0, 0, false},
		{"spaces are fine", code(0)[:3] + " " + code(0)[3:], 0, cur, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			step, ok := Verify(secret, tt.code, now, tt.lastStep)
			if ok != tt.ok || (ok && step != tt.want) {
				t.Errorf("Verify = %d, %v; want %d, %v", step, ok, tt.want, tt.ok)
			}
		})
	}
	if _, ok := Verify("not base32!", code(0), now, 0); ok {
		t.Error("a broken secret verified")
	}
}

func TestSecretAndKeyURI(t *testing.T) {
	s := NewSecret()
	key, err := DecodeSecret(strings.ToLower(s))
	if err != nil || len(key) != SecretBytes || strings.Contains(s, "=") {
		t.Fatalf("secret %q: %d bytes, %v", s, len(key), err)
	}
	if NewSecret() == s {
		t.Fatal("two secrets alike")
	}
	u, err := url.Parse(KeyURI("Acme ERP", "alice@example.com", s))
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Acme ERP:alice@example.com" ||
		u.Query().Get("secret") != s || u.Query().Get("issuer") != "Acme ERP" {
		t.Errorf("key URI %s", u)
	}
}

func TestQRSVG(t *testing.T) {
	svg, err := QRSVG(KeyURI("erpgate", "alice", NewSecret()), `QR "code"`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(svg, "<svg ") || !strings.HasSuffix(svg, "</svg>") || !strings.Contains(svg, `aria-label="QR &quot;code&quot;"`) || !strings.Contains(svg, "M") {
		t.Errorf("svg: %.200s", svg)
	}
}
