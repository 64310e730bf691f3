package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

var t0 = time.Unix(1_800_000_000, 0)

const (
	tokenURL = "https://id.example.com/id/connect/token"
	apiURL   = "https://api.example.com/api/domain/odata/Persons"
)

// client is a DPoP client: a key and what it signs proofs with.
type client struct {
	key any
	alg jose.SignatureAlgorithm
}

func newClient(t *testing.T, alg jose.SignatureAlgorithm) *client {
	t.Helper()
	var key any
	switch alg {
	case jose.ES256:
		key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256, jose.PS256:
		key, _ = rsa.GenerateKey(rand.Reader, 2048)
	case jose.EdDSA:
		_, key, _ = ed25519.GenerateKey(rand.Reader)
	}
	return &client{key: key, alg: alg}
}

// proof signs claims as a DPoP proof: typ dpop+jwt and the public key
// in jwk, unless edit changes the header.
func (c *client) proof(t *testing.T, claims map[string]any, edit func(*jose.SignerOptions)) string {
	t.Helper()
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	if edit != nil {
		edit(opts)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: c.alg, Key: c.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(claims)
	jws, err := s.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func claimsFor(method, u string, iat time.Time) map[string]any {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return map[string]any{"jti": base64.RawURLEncoding.EncodeToString(b), "htm": method, "htu": u, "iat": iat.Unix()}
}

func checker(now *time.Time) *Checker { return New(Config{Clock: func() time.Time { return *now }}) }

// TestCheckAccepts: a proof by each algorithm, for this method and URL,
// is accepted, and its JKT is the key's RFC 7638 thumbprint.
func TestCheckAccepts(t *testing.T) {
	now := t0
	c := checker(&now)
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256, jose.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			cl := newClient(t, alg)
			p, err := c.Check([]string{cl.proof(t, claimsFor("POST", tokenURL, now), nil)}, Request{Method: "POST", URL: tokenURL})
			if err != nil {
				t.Fatal(err)
			}
			jwk := jose.JSONWebKey{Key: publicOf(cl.key)}
			tp, _ := jwk.Thumbprint(crypto.SHA256)
			if p.JKT != base64.RawURLEncoding.EncodeToString(tp) || p.ID == "" || !p.IssuedAt.Equal(now) {
				t.Errorf("proof %+v, want the key's thumbprint", p)
			}
		})
	}
}

// TestCheckRefuses tries each way RFC 9449 §4.3 and §11 say a proof can
// be wrong, and the attacks its security section names.
func TestCheckRefuses(t *testing.T) {
	now := t0
	cl := newClient(t, jose.ES256)
	other := newClient(t, jose.ES256)
	token := "eyJ.access.token"
	req := Request{Method: "GET", URL: apiURL, AccessToken: token}
	good := func() map[string]any {
		m := claimsFor("GET", apiURL, now)
		m["ath"] = TokenHash(token)
		return m
	}
	with := func(k string, v any) map[string]any {
		m := good()
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	hmacProof := func() string {
		key := make([]byte, 32)
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, (&jose.SignerOptions{}).WithType("dpop+jwt"))
		body, _ := json.Marshal(good())
		jws, _ := s.Sign(body)
		out, _ := jws.CompactSerialize()
		return out
	}
	// A proof signed by one key carrying another's public key.
	swapped := func() string {
		p := cl.proof(t, good(), nil)
		h, rest, _ := strings.Cut(p, ".")
		var hdr map[string]any
		raw, _ := base64.RawURLEncoding.DecodeString(h)
		_ = json.Unmarshal(raw, &hdr)
		ojwk, _ := json.Marshal(jose.JSONWebKey{Key: publicOf(other.key)})
		var m map[string]any
		_ = json.Unmarshal(ojwk, &m)
		hdr["jwk"] = m
		nh, _ := json.Marshal(hdr)
		return base64.RawURLEncoding.EncodeToString(nh) + "." + rest
	}
	privateJWK := func() string {
		// go-jose embeds only public keys; build the header by hand.
		k := cl.key.(*ecdsa.PrivateKey)
		jwk, _ := json.Marshal(jose.JSONWebKey{Key: k})
		hdr := `{"alg":"ES256","typ":"dpop+jwt","jwk":` + string(jwk) + `}`
		body, _ := json.Marshal(good())
		signing := base64.RawURLEncoding.EncodeToString([]byte(hdr)) + "." + base64.RawURLEncoding.EncodeToString(body)
		sig := signES256(t, k, signing)
		return signing + "." + sig
	}
	for _, tc := range []struct {
		name    string
		headers []string
		req     Request
		want    string
	}{
		{"no header", nil, req, "exactly one"},
		{"two headers", []string{cl.proof(t, good(), nil), cl.proof(t, good(), nil)}, req, "exactly one"},
		{"not a JWT", []string{"not-a-jwt"}, req, "not a DPoP proof"},
		{"oversized", []string{strings.Repeat("a", maxProofBytes+1)}, req, "longer than"},
		{"typ JWT", []string{cl.proof(t, good(), func(o *jose.SignerOptions) { o.WithType("JWT") })}, req, "not a DPoP proof"},
		{"typ at+jwt (an access token as a proof)", []string{cl.proof(t, good(), func(o *jose.SignerOptions) { o.WithType("at+jwt") })}, req, "not a DPoP proof"},
		{"alg HS256", []string{hmacProof()}, req, "not a DPoP proof"},
		{"alg none", []string{noneProof(good())}, req, "not a DPoP proof"},
		{"no jwk", []string{cl.proof(t, good(), func(o *jose.SignerOptions) { o.EmbedJWK = false })}, req, "no jwk"},
		{"jwk of another key", []string{swapped()}, req, "does not verify"},
		{"private key in jwk", []string{privateJWK()}, req, "private parameters"}, // go-jose refuses it when parsing
		{"no jti", []string{cl.proof(t, with("jti", nil), nil)}, req, "jti"},
		{"no htu", []string{cl.proof(t, with("htu", nil), nil)}, req, "htm, htu"},
		{"iat a string", []string{cl.proof(t, with("iat", "1800000000"), nil)}, req, "numeric iat"},
		{"another method", []string{cl.proof(t, with("htm", "POST"), nil)}, req, "not GET"},
		{"method in lower case", []string{cl.proof(t, with("htm", "get"), nil)}, req, "not GET"},
		{"another path", []string{cl.proof(t, with("htu", "https://api.example.com/api/domain/odata/Other"), nil)}, req, "htu"},
		{"another host", []string{cl.proof(t, with("htu", "https://evil.example.com/api/domain/odata/Persons"), nil)}, req, "htu"},
		{"http instead of https", []string{cl.proof(t, with("htu", "http://api.example.com/api/domain/odata/Persons"), nil)}, req, "htu"},
		{"an encoded slash is not a slash", []string{cl.proof(t, with("htu", "https://api.example.com/api%2Fdomain/odata/Persons"), nil)}, req, "htu"},
		{"too old", []string{cl.proof(t, with("iat", now.Add(-DefaultMaxAge-time.Second).Unix()), nil)}, req, "iat"},
		{"from the future", []string{cl.proof(t, with("iat", now.Add(DefaultLeeway+2*time.Second).Unix()), nil)}, req, "iat"},
		{"no ath", []string{cl.proof(t, with("ath", nil), nil)}, req, "ath"},
		{"ath of another token", []string{cl.proof(t, with("ath", TokenHash("another")), nil)}, req, "ath"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checker(&now).Check(tc.headers, tc.req)
			if err == nil || !IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check: %v, want a refusal saying %q", err, tc.want)
			}
		})
	}
}

// TestReplay: a proof is accepted once; within the window it is refused
// (RFC 9449 §11.1), also on another URL's check; a new proof with the
// same key passes. A full cache refuses rather than forget a live jti.
func TestReplay(t *testing.T) {
	now := t0
	c := checker(&now)
	cl := newClient(t, jose.ES256)
	req := Request{Method: "POST", URL: tokenURL}
	p := cl.proof(t, claimsFor("POST", tokenURL, now), nil)
	if _, err := c.Check([]string{p}, req); err != nil {
		t.Fatal(err)
	}
	now = now.Add(30 * time.Second)
	if _, err := c.Check([]string{p}, req); err == nil || !strings.Contains(err.Error(), "replayed") {
		t.Errorf("a replayed proof: %v", err)
	}
	if _, err := c.Check([]string{cl.proof(t, claimsFor("POST", tokenURL, now), nil)}, req); err != nil {
		t.Errorf("a new proof: %v", err)
	}

	small := New(Config{Clock: func() time.Time { return now }, ReplayCapacity: 2})
	for i := range 2 {
		if _, err := small.Check([]string{cl.proof(t, claimsFor("POST", tokenURL, now), nil)}, req); err != nil {
			t.Fatalf("proof %d: %v", i, err)
		}
	}
	if _, err := small.Check([]string{cl.proof(t, claimsFor("POST", tokenURL, now), nil)}, req); err == nil || !strings.Contains(err.Error(), "too many") {
		t.Errorf("a full cache: %v, want a refusal", err)
	}
	now = now.Add(DefaultMaxAge + DefaultLeeway + time.Second) // the two are forgotten
	if _, err := small.Check([]string{cl.proof(t, claimsFor("POST", tokenURL, now), nil)}, req); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

// TestNormalizeURL: the forms RFC 3986 §6.2.2 and §6.2.3 say are the
// same URL compare equal, query and fragment ignored; others do not.
func TestNormalizeURL(t *testing.T) {
	same := [][2]string{
		{"https://API.Example.com/a/b", "https://api.example.com/a/b"},
		{"HTTPS://api.example.com:443/a", "https://api.example.com/a"},
		{"http://api.example.com:80/a", "http://api.example.com/a"},
		{"https://api.example.com", "https://api.example.com/"},
		{"https://api.example.com/a%7eb", "https://api.example.com/a~b"},
		{"https://api.example.com/a%2fb", "https://api.example.com/a%2Fb"},
		{"https://api.example.com/a/./b/../c", "https://api.example.com/a/c"},
		{"https://api.example.com/a?x=1#f", "https://api.example.com/a"},
		{"https://api.example.com:/a", "https://api.example.com/a"},
	}
	for _, p := range same {
		a, err1 := NormalizeURL(p[0])
		b, err2 := NormalizeURL(p[1])
		if err1 != nil || err2 != nil || a != b {
			t.Errorf("%s and %s: %q %v, %q %v; want equal", p[0], p[1], a, err1, b, err2)
		}
	}
	differ := [][2]string{
		{"https://api.example.com/a/b", "https://api.example.com/a%2Fb"},
		{"https://api.example.com:8443/a", "https://api.example.com/a"},
		{"https://api.example.com/A", "https://api.example.com/a"},
		{"http://api.example.com/a", "https://api.example.com/a"},
	}
	for _, p := range differ {
		a, _ := NormalizeURL(p[0])
		b, _ := NormalizeURL(p[1])
		if a == b {
			t.Errorf("%s and %s normalise to the same %q", p[0], p[1], a)
		}
	}
	for _, bad := range []string{"/relative", "ftp://x/", "https://user@api.example.com/", "https://api.example.com/%zz", "mailto:a@b"} {
		if got, err := NormalizeURL(bad); err == nil {
			t.Errorf("%s: %q, want an error", bad, got)
		}
	}
}

// FuzzNormalizeURL: normalising never panics and is idempotent.
func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{apiURL, "https://a/./../b/%7e%2f?q#f", "http://A:80", "https://x/a/b/../../../c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeURL(s)
		if err != nil {
			return
		}
		if again, err := NormalizeURL(n); err != nil || again != n {
			t.Errorf("NormalizeURL(%q) = %q, then %q %v", s, n, again, err)
		}
	})
}

func publicOf(k any) any {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return &k.PublicKey
	case *rsa.PrivateKey:
		return &k.PublicKey
	case ed25519.PrivateKey:
		return k.Public()
	}
	return nil
}

// noneProof is an unsigned JWT claiming alg none.
func noneProof(claims map[string]any) string {
	body, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"dpop+jwt"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(body) + "."
}

// signES256 signs a JWS signing input with k (RFC 7518 §3.4: r || s).
func signES256(t *testing.T, k *ecdsa.PrivateKey, input string) string {
	t.Helper()
	d := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return base64.RawURLEncoding.EncodeToString(out)
}

// TestNonces: with server nonces on, a proof without one, or with one
// from another server secret or from two windows ago, is refused with
// UseNonce (RFC 9449 §8: the client retries with the nonce it is given);
// the current nonce and the last window's pass; a second replica with
// the same secret accepts the first's.
func TestNonces(t *testing.T) {
	now := t0
	clock := func() time.Time { return now }
	nonces, _ := NewNonces([]byte("operator secret"), 30*time.Second, clock)
	replica, _ := NewNonces([]byte("operator secret"), 30*time.Second, clock)
	stranger, _ := NewNonces([]byte("another secret"), 30*time.Second, clock)
	c := New(Config{Clock: clock, Nonces: nonces})
	cl := newClient(t, jose.ES256)
	req := Request{Method: "POST", URL: tokenURL}
	with := func(nonce string) []string {
		m := claimsFor("POST", tokenURL, now)
		if nonce != "" {
			m["nonce"] = nonce
		}
		return []string{cl.proof(t, m, nil)}
	}
	useNonce := func(err error) bool {
		var e *Error
		return errors.As(err, &e) && e.UseNonce
	}
	if _, err := c.Check(with(""), req); !useNonce(err) {
		t.Errorf("no nonce: %v, want UseNonce", err)
	}
	if _, err := c.Check(with(stranger.Current()), req); !useNonce(err) {
		t.Errorf("another secret's nonce: %v, want UseNonce", err)
	}
	issued := c.Nonce()
	if _, err := c.Check(with(issued), req); err != nil {
		t.Errorf("the current nonce: %v", err)
	}
	now = now.Add(30 * time.Second)
	if _, err := c.Check(with(issued), req); err != nil {
		t.Errorf("the last window's nonce: %v", err)
	}
	if _, err := c.Check(with(replica.Current()), req); err != nil {
		t.Errorf("a replica's nonce: %v", err)
	}
	now = now.Add(31 * time.Second)
	if _, err := c.Check(with(issued), req); !useNonce(err) {
		t.Errorf("a nonce two windows old: %v, want UseNonce", err)
	}
	if New(Config{Clock: clock}).Nonce() != "" {
		t.Error("a checker without nonces hands one out")
	}
}
