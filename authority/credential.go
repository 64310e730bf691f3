package authority

import (
	"errors"
	"net/http"
	"strings"
)

// Source says where a credential came from.
type Source int

const (
	SourceNone   Source = iota
	SourceBearer        // Authorization: Bearer (RFC 6750 §2.1)
	SourceAPIKey        // X-Api-Key / Api-Key: reference tokens only
	SourceCookie        // the access token of the gateway's browser session
)

// Credential is what a caller presented.
type Credential struct {
	Source Source
	Token  string
}

var (
	errTwoCredentials = errors.New("send one credential: either Authorization or an API key header, not both")
	errQueryToken     = errors.New("tokens in the query string are refused (RFC 6750 §2.3 is not supported); use the Authorization header")
	errMalformedAuth  = errors.New("malformed Authorization header")
)

// APIKeyHeaders are the headers a reference token may come in.
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
	if vals := r.Header.Values("Authorization"); len(vals) > 0 {
		if len(vals) > 1 {
			return Credential{}, errMalformedAuth
		}
		scheme, tok, ok := strings.Cut(vals[0], " ")
		// RFC 6750 §2.1: the scheme is case-insensitive; b64token follows.
		if ok && strings.EqualFold(scheme, "Bearer") {
			tok = strings.TrimLeft(tok, " ")
			if tok == "" || strings.ContainsAny(tok, " \t") {
				return Credential{}, errMalformedAuth
			}
			c = Credential{Source: SourceBearer, Token: tok}
		}
		// Other schemes (Basic, …) are not ours: treated as no credential,
		// so the client gets the Bearer challenge.
	}
	for _, h := range APIKeyHeaders {
		vals := r.Header.Values(h)
		if len(vals) == 0 {
			continue
		}
		if c.Source != SourceNone || len(vals) > 1 {
			return Credential{}, errTwoCredentials
		}
		c = Credential{Source: SourceAPIKey, Token: strings.TrimSpace(vals[0])}
	}
	return c, nil
}
