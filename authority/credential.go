package authority

import (
	"errors"
	"net/http"
	"strings"

	"github.com/erpgate/erpgate/dpop"
)

// Source says where a credential came from.
type Source int

const (
	SourceNone   Source = iota
	SourceBearer        // Authorization: Bearer (RFC 6750 §2.1)
	SourceAPIKey        // X-Api-Key / Api-Key: reference tokens only
	SourceCookie        // the access token of the gateway's browser session
	SourceDPoP          // Authorization: DPoP, with a proof in the DPoP header (RFC 9449 §7.1)
)

// Credential is what a caller presented.
type Credential struct {
	Source Source
	Token  string
	// What a DPoP proof must match (RFC 9449 §4.3): the request's DPoP
	// header values, its method, and the URL it was sent to without the
	// query (Host and the escaped path; the door says the scheme). Read
	// for every request; checked only for a bound token.
	Proofs       []string
	Method, Host string
	Path         string
	TLS          bool // the request came over TLS to this process
}

var (
	errTwoCredentials = errors.New("send one credential: either Authorization or an API key header, not both")
	errQueryToken     = errors.New("tokens in the query string are refused (RFC 6750 §2.3 is not supported); use the Authorization header")
	errMalformedAuth  = errors.New("malformed Authorization header")
)

// proofHeaderKey is dpop.HeaderName as http.Header keys it.
var proofHeaderKey = http.CanonicalHeaderKey(dpop.HeaderName)

// APIKeyHeaders are the headers a reference token may come in, in
// canonical form (ReadCredential reads them as map keys).
var APIKeyHeaders = []string{"X-Api-Key", "Api-Key"}

// ReadCredential extracts the one credential of r (SPEC §4). A token in
// the query string, or two methods at once, is a client error
// (ReasonInvalidRequest). No credential is not an error: Source is
// SourceNone.
func ReadCredential(r *http.Request) (Credential, error) {
	if q := r.URL.RawQuery; q != "" && strings.Contains(q, "access_token") {
		if _, ok := r.URL.Query()["access_token"]; ok {
			return Credential{}, errQueryToken
		}
	}
	var c Credential
	// Canonical keys, read directly: Values canonicalises its argument
	// on every call.
	if vals := r.Header["Authorization"]; len(vals) > 0 {
		if len(vals) > 1 {
			return Credential{}, errMalformedAuth
		}
		scheme, tok, ok := strings.Cut(vals[0], " ")
		// RFC 6750 §2.1, RFC 9449 §7.1: the scheme is case-insensitive;
		// a token68 follows.
		if src := authScheme(scheme); ok && src != SourceNone {
			tok = strings.TrimLeft(tok, " ")
			// IndexByte, not ContainsAny: it scans a kilobyte token
			// with SIMD, where ContainsAny costs a microsecond a call.
			if tok == "" || strings.IndexByte(tok, ' ') >= 0 || strings.IndexByte(tok, '\t') >= 0 {
				return Credential{}, errMalformedAuth
			}
			c.Source, c.Token = src, tok
		}
	}
	for _, h := range APIKeyHeaders {
		vals := r.Header[h]
		if len(vals) == 0 {
			continue
		}
		if c.Source != SourceNone || len(vals) > 1 {
			return Credential{}, errTwoCredentials
		}
		c.Source, c.Token = SourceAPIKey, strings.TrimSpace(vals[0])
	}
	// "DPoP" is not canonical: Values would allocate its canonical
	// form on every request.
	c.Proofs = r.Header[proofHeaderKey]
	c.Method, c.Host, c.TLS = r.Method, r.Host, r.TLS != nil
	if r.URL != nil {
		c.Path = r.URL.EscapedPath()
	}
	return c, nil
}

// authScheme is the source of an Authorization scheme of ours.
func authScheme(scheme string) Source {
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return SourceBearer
	case strings.EqualFold(scheme, dpop.TokenType):
		return SourceDPoP
	}
	// Other schemes (Basic, …) are not ours: treated as no credential,
	// so the client gets the Bearer challenge.
	return SourceNone
}
