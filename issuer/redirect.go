package issuer

import (
	"net/url"
	"slices"
	"strings"
)

// redirectRegistered reports whether uri is one of registered, compared as
// exact strings (RFC 9700 §4.1.3: "exact string matching"; no prefix,
// wildcard, case folding or trailing-slash leniency).
func redirectRegistered(uri string, registered []string) bool {
	return uri != "" && slices.Contains(registered, uri)
}

// withParams appends params to a redirect URI's query, keeping the query
// it already has (RFC 6749 §3.1.2: "MUST retain the query component").
func withParams(uri string, params []param) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	q := u.Query()
	for _, p := range params {
		q.Set(p.Name, p.Value)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// withFragment puts params in a redirect URI's fragment, form-encoded
// (OAuth 2.0 Multiple Response Type Encoding Practices §2.1), keeping its
// query. Registered redirect URIs have no fragment (SPEC §3).
func withFragment(uri string, params []param) string {
	v := url.Values{}
	for _, p := range params {
		v.Set(p.Name, p.Value)
	}
	base, _, _ := strings.Cut(uri, "#")
	return base + "#" + v.Encode()
}
