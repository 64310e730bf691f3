package signing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// Token types for the JWS "typ" header.
const (
	TypeAccessToken = "at+jwt" // RFC 9068 §2.1
	TypeIDToken     = "JWT"
)

// Sign serialises claims as a compact JWS signed by the active key, with
// the given "typ" header and the key's "kid".
func (k *Keyring) Sign(typ string, claims any) (string, error) {
	st := k.state.Load()
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("signing: encode claims: %w", err)
	}
	s, err := st.signer(typ)
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("signing: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// signer returns the cached signer of the active key for typ; go-jose
// signers hold no per-call state, so one per type is shared.
func (st *keyState) signer(typ string) (jose.Signer, error) {
	if s, ok := st.signers.Load(typ); ok {
		return s.(jose.Signer), nil
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	s, err := jose.NewSigner(st.active.signer, opts)
	if err != nil {
		return nil, fmt.Errorf("signing: new signer: %w", err)
	}
	st.signers.Store(typ, s)
	return s, nil
}

// ActiveKeyID is the kid new tokens are signed with.
func (k *Keyring) ActiveKeyID() string { return k.state.Load().active.stored.ID }

// Algorithm is the algorithm new tokens are signed with.
func (k *Keyring) Algorithm() string { return k.cfg.Algorithm }

// JWKS returns the public key set document (current and still-valid old
// keys), ready to serve.
func (k *Keyring) JWKS() []byte { return k.state.Load().jwks }

// ErrUnknownKey means a token names a kid the keyring does not publish.
var ErrUnknownKey = errors.New("signing: unknown key id")

// Verify checks raw, a JWT of type typ (see Parse), against the published
// keys and returns its payload: one parse, then VerifyJWS. Claims are
// checked by the caller.
func (k *Keyring) Verify(raw, typ string) ([]byte, error) {
	st := k.state.Load()
	jws, err := Parse(raw, typ, st.algs)
	if err != nil {
		return nil, err
	}
	return st.verify(jws)
}

// VerifyJWS checks the signature of jws, parsed by Parse, against the
// published key its kid names, using only that key's algorithm (so
// "none" and HS256-with-a-public-key are refused), and returns the
// payload. Claims are checked by the caller.
func (k *Keyring) VerifyJWS(jws *jose.JSONWebSignature) ([]byte, error) {
	return k.state.Load().verify(jws)
}

// VerifySignature implements go-oidc's KeySet (for a verifier that checks
// the type itself): VerifyJWS on a token parsed as Parse parses it, but
// of any type.
func (k *Keyring) VerifySignature(_ context.Context, raw string) ([]byte, error) {
	st := k.state.Load()
	jws, err := parseCompact(raw, st.algs)
	if err != nil {
		return nil, err
	}
	return st.verify(jws)
}

func (st *keyState) verify(jws *jose.JSONWebSignature) ([]byte, error) {
	if len(jws.Signatures) != 1 {
		return nil, errors.New("signing: expected exactly one signature")
	}
	h := jws.Signatures[0].Header
	kk, ok := st.byID[h.KeyID]
	if !ok {
		return nil, ErrUnknownKey
	}
	if jose.SignatureAlgorithm(h.Algorithm) != kk.alg {
		return nil, fmt.Errorf("signing: key %s does not sign with %s", h.KeyID, h.Algorithm)
	}
	return jws.Verify(kk.public)
}
