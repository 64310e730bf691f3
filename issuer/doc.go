// Package issuer is erpgate's embedded OAuth 2.0 / OpenID Connect identity
// server, mounted at public_url + "/id". It knows the instance's users and
// Trusted Applications and issues signed, scoped, time-limited tokens
// following the ERP.net authentication model.
//
// One file per endpoint or flow: discovery.go (OIDC Discovery, RFC 8414),
// token.go (the token endpoint, RFC 6749 §3.2), client_credentials.go
// (RFC 6749 §4.4), token_exchange.go (RFC 8693, and the upstream tokens
// of the proxy's exchange routes), clientauth.go (RFC 6749 §2.3),
// errors.go (RFC 6749 §5.2), account_tokens.go (the self-service page for personal access
// tokens, SPEC §6), mfa.go (the second step of a sign-in), passkey.go and
// passkey_signin.go (WebAuthn passkeys: second factor and passwordless
// sign-in), account_passkeys.go (the account page's passkeys). Keys live
// in package signing.
package issuer
