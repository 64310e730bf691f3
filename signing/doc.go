// Package signing owns the identity server's signing keys: it generates
// them on first start, keeps them in the store, rotates them on schedule,
// signs tokens with the active key, publishes the public half as a JWKS
// (RFC 7517), and verifies signatures in-process for the proxy.
//
// A Keyring implements go-oidc's KeySet, so the proxy verifies tokens
// against the issuer's own keys without an HTTP round trip.
package signing
