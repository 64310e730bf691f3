// Package signing owns the identity server's signing keys: it generates
// them on first start, keeps them in the store, rotates them on schedule,
// signs tokens with the active key, publishes the public half as a JWKS
// (RFC 7517), and verifies signatures in-process for the proxy.
//
// The proxy verifies tokens against the issuer's own keys without an HTTP
// round trip, parsing each once: Parse checks the form, alg and typ, and
// Keyring.VerifyJWS the signature on that parse (Keyring.Verify does
// both). A Keyring also implements go-oidc's KeySet, for the browser
// login's ID-token verifier.
package signing
