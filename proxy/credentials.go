package proxy

import (
	"errors"
	"net/http"
	"strings"
)

// credentialKind says where a credential came from.
type credentialKind int

const (
	credNone    credentialKind = iota
	credBearer                 // Authorization: Bearer
	credAPIKey                 // X-Api-Key / Api-Key (reference tokens)
	credSession                // the gateway's browser session cookie (browser.go)
)

// referenceTokenPrefix marks erpgate's opaque reference tokens (SPEC §6).
const referenceTokenPrefix = "enrt_"

var (
	errTwoCredentials = errors.New("send one credential: either Authorization or an API key header, not both")
	errQueryToken     = errors.New("tokens in the query string are refused (RFC 6750 §2.3 is not supported); use the Authorization header")
	errMalformedAuth  = errors.New("malformed Authorization header")
)

// apiKeyHeaders are the headers a reference token may come in. Header
// names are case-insensitive; these are the canonical forms Go uses.
var apiKeyHeaders = []string{"X-Api-Key", "Api-Key"}

// credential is what the client presented.
type credential struct {
	kind  credentialKind
	token string
}

// readCredential extracts the one credential of r (SPEC §4). A token in
// the query string, or two methods at once, is a client error.
func readCredential(r *http.Request) (credential, error) {
	if q := r.URL.RawQuery; q != "" && strings.Contains(q, "access_token") {
		if _, ok := r.URL.Query()["access_token"]; ok {
			return credential{}, errQueryToken
		}
	}
	var c credential
	if vals := r.Header.Values("Authorization"); len(vals) > 0 {
		if len(vals) > 1 {
			return credential{}, errMalformedAuth
		}
		scheme, tok, ok := strings.Cut(vals[0], " ")
		// RFC 6750 §2.1: the scheme is case-insensitive; b64token follows.
		if ok && strings.EqualFold(scheme, "Bearer") {
			tok = strings.TrimLeft(tok, " ")
			if tok == "" || strings.IndexByte(tok, ' ') >= 0 || strings.IndexByte(tok, '\t') >= 0 {
				return credential{}, errMalformedAuth
			}
			c = credential{kind: credBearer, token: tok}
		}
		// Other schemes (Basic, …) are not ours: treated as no credential,
		// so the client gets the Bearer challenge.
	}
	for _, h := range apiKeyHeaders {
		vals := r.Header.Values(h)
		if len(vals) == 0 {
			continue
		}
		if c.kind != credNone || len(vals) > 1 {
			return credential{}, errTwoCredentials
		}
		c = credential{kind: credAPIKey, token: strings.TrimSpace(vals[0])}
	}
	return c, nil
}
