// Package hostcheck refuses requests addressed to a host the gateway
// does not serve (SPEC §4): a request whose Host is neither public_url's
// host nor one of allowed_hosts gets 421 Misdirected Request (RFC 9110
// §15.5.20), on the whole main listener, identity server and proxy
// alike. Upstreams build links, redirects and cache keys from the Host
// the gateway forwards (X-Forwarded-Host); only hosts the operator named
// get that far.
//
// Hosts compare as DNS names do: case-insensitively and with one
// trailing dot ignored; IP addresses compare as addresses ("[::1]" and
// "[0:0::1]" are one host). A host given without a port, in a request or
// in the list, means the default port of public_url's scheme (80 for
// http, 443 for https), so "gw.example.com" allows "gw.example.com" and
// "gw.example.com:443" under an https public_url, but not
// "gw.example.com:8443".
package hostcheck
