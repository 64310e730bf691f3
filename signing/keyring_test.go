package signing

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func open(t *testing.T, st KeyStore, c *clock, alg string) *Keyring {
	t.Helper()
	k, err := Open(context.Background(), Config{
		Algorithm: alg, RotateEvery: 24 * time.Hour, MaxTokenTTL: time.Hour,
		Store: st, Clock: c.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return k
}

func jwksKids(t *testing.T, k *Keyring) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(k.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, key := range set.Keys {
		if !key.IsPublic() {
			t.Fatalf("JWKS publishes a private key: %s", key.KeyID)
		}
		kids = append(kids, key.KeyID)
	}
	return kids
}

func TestSignVerifyEachAlgorithm(t *testing.T) {
	for _, alg := range Algorithms {
		t.Run(alg, func(t *testing.T) {
			k := open(t, memory.New(), &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, alg)
			tok, err := k.Sign(TypeAccessToken, map[string]any{"sub": "alice"})
			if err != nil {
				t.Fatal(err)
			}
			payload, err := k.VerifySignature(context.Background(), tok)
			if err != nil {
				t.Fatalf("VerifySignature: %v", err)
			}
			if string(payload) != `{"sub":"alice"}` {
				t.Errorf("payload = %s", payload)
			}
			if payload, err := k.Verify(tok, TypeAccessToken); err != nil || string(payload) != `{"sub":"alice"}` {
				t.Errorf("Verify as an access token = %s, %v", payload, err)
			}
			if _, err := k.Verify(tok, TypeIDToken); err == nil {
				t.Error("an access token verified as an ID token")
			}
			hdr := header(t, tok)
			if hdr["typ"] != "at+jwt" || hdr["kid"] != k.ActiveKeyID() || hdr["alg"] != alg {
				t.Errorf("header = %v", hdr)
			}
		})
	}
}

func TestRestartKeepsKey(t *testing.T) {
	st := memory.New()
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	k1 := open(t, st, c, "RS256")
	tok, _ := k1.Sign(TypeAccessToken, map[string]string{"a": "b"})
	k2 := open(t, st, c, "RS256")
	if k1.ActiveKeyID() != k2.ActiveKeyID() {
		t.Fatalf("restart generated a new key: %s != %s", k1.ActiveKeyID(), k2.ActiveKeyID())
	}
	if _, err := k2.VerifySignature(context.Background(), tok); err != nil {
		t.Fatalf("token from before the restart: %v", err)
	}
}

func TestRotation(t *testing.T) {
	st := memory.New()
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	k := open(t, st, c, "ES256")
	first := k.ActiveKeyID()
	old, _ := k.Sign(TypeAccessToken, map[string]string{"a": "b"})

	c.now = c.now.Add(24*time.Hour + time.Second) // past RetireAt
	if err := k.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if k.ActiveKeyID() == first {
		t.Fatal("key not rotated after RotateEvery")
	}
	if kids := jwksKids(t, k); len(kids) != 2 {
		t.Fatalf("JWKS during overlap = %v, want old and new", kids)
	}
	if _, err := k.VerifySignature(context.Background(), old); err != nil {
		t.Fatalf("token of the retired key within its lifetime: %v", err)
	}

	c.now = c.now.Add(time.Hour) // past the old key's ExpiresAt
	if err := k.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if kids := jwksKids(t, k); len(kids) != 1 || kids[0] == first {
		t.Fatalf("JWKS after expiry = %v, want only the new key", kids)
	}
	if _, err := k.VerifySignature(context.Background(), old); err == nil {
		t.Fatal("token of an expired key still verifies")
	}
}

func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestVerifyRefusesForgeries tries the classic JWS attacks against a keyring.
func TestVerifyRefusesForgeries(t *testing.T) {
	k := open(t, memory.New(), &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, "RS256")
	good, _ := k.Sign(TypeAccessToken, map[string]string{"sub": "alice"})
	parts := strings.Split(good, ".")
	kid := k.ActiveKeyID()
	payload := b64(map[string]string{"sub": "admin"})

	// HS256 keyed with the public key's JWK bytes: key confusion.
	var set jose.JSONWebKeySet
	_ = json.Unmarshal(k.JWKS(), &set)
	pub, _ := json.Marshal(set.Keys[0])
	hsInput := b64(map[string]string{"alg": "HS256", "kid": kid, "typ": "at+jwt"}) + "." + payload
	mac := hmac.New(sha256.New, pub)
	mac.Write([]byte(hsInput))
	hs := hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	// The same, validly signed token in the JWS JSON serialisation: a JWT
	// is compact only (RFC 7519 §1), so it is refused.
	jsonSerialised, _ := json.Marshal(map[string]string{"protected": parts[0], "payload": parts[1], "signature": parts[2]})

	for name, tok := range map[string]string{
		"json serialisation": string(jsonSerialised),
		"alg none":           b64(map[string]string{"alg": "none", "kid": kid}) + "." + payload + ".",
		"hs256 confusion":    hs,
		"unknown kid":        b64(map[string]string{"alg": "RS256", "kid": "nope", "typ": "at+jwt"}) + "." + parts[1] + "." + parts[2],
		"tampered":           parts[0] + "." + payload + "." + parts[2],
		"garbage":            "not.a.jwt",
		"empty":              "",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := k.VerifySignature(context.Background(), tok); err == nil {
				t.Fatal("forged token verified")
			}
			if _, err := k.Verify(tok, TypeAccessToken); err == nil {
				t.Fatal("forged token verified by Verify")
			}
			// Parsed leniently (any alg), the signature check still refuses it.
			if jws, err := Parse(tok, TypeAccessToken, []jose.SignatureAlgorithm{jose.RS256, jose.HS256, "none"}); err == nil {
				if _, err := k.VerifyJWS(jws); err == nil {
					t.Fatal("forged token verified by VerifyJWS")
				}
			}
		})
	}
}

// refusingAdds is a key store that stores no new key, as a database that
// went read-only would.
type refusingAdds struct{ KeyStore }

func (refusingAdds) AddSigningKey(context.Context, store.SigningKey) error {
	return errors.New("read-only")
}

// TestActiveAge: the active key's age grows with the clock, drops back
// when the key rotates, and goes on growing when rotation fails.
func TestActiveAge(t *testing.T) {
	st := memory.New()
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	k := open(t, st, c, "ES256")
	if got := k.ActiveAge(); got != 0 {
		t.Errorf("age of a new key = %v, want 0", got)
	}
	c.now = c.now.Add(5 * time.Hour)
	if got := k.ActiveAge(); got != 5*time.Hour {
		t.Errorf("age after 5h = %v, want 5h", got)
	}

	c.now = c.now.Add(20 * time.Hour) // past RetireAt (24h)
	if err := k.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := k.ActiveAge(); got != 0 {
		t.Errorf("age right after rotation = %v, want 0", got)
	}

	stuck, err := Open(context.Background(), Config{
		Algorithm: "ES256", RotateEvery: 24 * time.Hour, MaxTokenTTL: time.Hour,
		Store: refusingAdds{st}, Clock: c.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.now = c.now.Add(25 * time.Hour) // the next rotation is due and fails
	if err := stuck.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh stored a key in a store that refuses them")
	}
	if got := stuck.ActiveAge(); got != 25*time.Hour {
		t.Errorf("age while rotation fails = %v, want 25h", got)
	}
}
