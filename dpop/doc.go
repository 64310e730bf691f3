// Package dpop checks DPoP proofs (RFC 9449): the short JWTs a client
// signs with its own key and sends in the DPoP header, so that a token
// bound to that key (cnf.jkt, RFC 9449 §6) is worth nothing to anyone
// who copies it without the key.
//
// A Checker verifies one proof against the request it came with: the
// checks of RFC 9449 §4.3 in order (one header, a compact JWS of type
// dpop+jwt, an asymmetric algorithm, the signature by the public key in
// its jwk header, no private key, htm, htu normalised as §4.3 asks, iat
// within the window, ath at a protected resource), then jti against a
// replay cache. The token endpoint (package issuer) binds tokens to the
// proof's key thumbprint (RFC 7638); the credential authority (package
// authority) checks the proof of every request that presents a bound
// token, at every door.
//
// The replay cache is per process and bounded: a proof seen within the
// window by this process is refused. Replicas do not share it, so a
// proof captured in transit could be replayed once to another replica
// within the window (60 s by default); the proof still only works for
// its own method and URL and the token it names.
package dpop
