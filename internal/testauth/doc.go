// Package testauth builds the credential authority for tests the way
// the gateway wires it (gateway/gateway.go New): one store under a signing
// keyring, the revocation list, the accesstoken verifier, the session
// manager, the live directory and the reference-token service, and the
// authority over them. Every door's tests use it, so there is one
// verification setup, the production one.
//
// A test mints tokens with it (signed by the keyring, or issued by the
// reference-token service) and changes state through it (revoke, end a
// session, edit an app or a user, move the clock), then asks its door.
package testauth
