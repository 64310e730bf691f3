package signing

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// maxHeader bounds a token's encoded header (alg, kid and typ are all it
// needs), so an oversized one is refused before it is decoded.
const maxHeader = 1024

// Parse parses raw as a JWT of type typ, once, for VerifyJWS to check
// its signature on the same parse: the compact serialisation only (RFC
// 7519 §1: the JSON one, with its several signatures and unprotected
// headers, is refused), exactly one signature, "alg" in algs, and "typ"
// typ (RFC 8725 §3.11: explicit typing keeps one kind of token from
// being used as another; the media-type form "application/<typ>" is
// accepted too, RFC 9068 §4 for at+jwt). The signature is not checked
// here.
func Parse(raw, typ string, algs []jose.SignatureAlgorithm) (*jose.JSONWebSignature, error) {
	jws, err := parseCompact(raw, algs)
	if err != nil {
		return nil, err
	}
	got, _ := jws.Signatures[0].Header.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(got, typ) && !strings.EqualFold(got, "application/"+typ) {
		return nil, fmt.Errorf("signing: token type %q is not %s", got, typ)
	}
	return jws, nil
}

// parseCompact is Parse without the type check.
func parseCompact(raw string, algs []jose.SignatureAlgorithm) (*jose.JSONWebSignature, error) {
	if h, _, _ := strings.Cut(raw, "."); len(h) > maxHeader {
		return nil, errors.New("signing: malformed jws: header too long")
	}
	jws, err := jose.ParseSignedCompact(raw, algs)
	if err != nil {
		return nil, fmt.Errorf("signing: malformed jws: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("signing: expected exactly one signature")
	}
	return jws, nil
}
