package proxy

import "net/http"

// Header hygiene (SPEC §4): what a client must not say to the upstream.
//
// Upstreams do not all read header names as Go does. CGI, WSGI (PEP
// 3333) and Rack hand a header to the application as HTTP_<NAME> with
// "-" turned into "_" and letters upper-cased, so "X_Auth_Subject",
// "x-auth_subject" and "X-Auth-Subject" all become HTTP_X_AUTH_SUBJECT;
// some servers turn "." into "_" too. A name is therefore judged as
// those upstreams read it: lower-cased, with "_" and "." read as "-".

// Folded names, as foldedIs and foldedHasPrefix compare them.
const (
	foldedAuthPrefix      = "x-auth-"      // the gateway's identity headers
	foldedForwardedPrefix = "x-forwarded-" // For, Host, Proto, Port, Prefix, …
)

// methodOverrides name another method than the request's; the gateway
// decided on the request's own (SPEC §4).
var methodOverrides = [...]string{"x-http-method-override", "x-http-method", "x-method-override"}

// scrubHeaders removes from h, the outbound request's header:
//   - every X-Auth-* header in any spelling: identity is the gateway's to
//     set (setIdentity does, after this);
//   - the method-override headers in any spelling;
//   - X-Forwarded-* in any spelling from a peer that is not a trusted
//     proxy, and from a trusted one every spelling but the canonical
//     (X_Forwarded_Host is not what a load balancer sets).
//     ReverseProxy has already dropped the canonical X-Forwarded-For,
//     -Host and -Proto; setForwarded sets them.
//
// It does not allocate: most names are rejected on their first two bytes.
func scrubHeaders(h http.Header, trustedPeer bool) {
	for k := range h {
		if len(k) < 2 || fold(k[0]) != 'x' || fold(k[1]) != '-' {
			continue
		}
		switch {
		case foldedHasPrefix(k, foldedAuthPrefix):
			delete(h, k)
		case foldedHasPrefix(k, foldedForwardedPrefix):
			if !trustedPeer || !plainName(k) {
				delete(h, k)
			}
		case foldedIs(k, methodOverrides[0]), foldedIs(k, methodOverrides[1]), foldedIs(k, methodOverrides[2]):
			delete(h, k)
		}
	}
}

// fold maps a header-name byte as CGI-style upstreams read it.
func fold(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + ('a' - 'A')
	case c == '_' || c == '.':
		return '-'
	}
	return c
}

// foldedHasPrefix reports whether name, folded, starts with prefix (lower
// case, "-" for separators).
func foldedHasPrefix(name, prefix string) bool {
	if len(name) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if fold(name[i]) != prefix[i] {
			return false
		}
	}
	return true
}

// foldedIs reports whether name, folded, is want.
func foldedIs(name, want string) bool {
	return len(name) == len(want) && foldedHasPrefix(name, want)
}

// plainName reports whether name separates its words with "-" only.
func plainName(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] == '_' || name[i] == '.' {
			return false
		}
	}
	return true
}
