// Package authority answers one question for every door of the gateway —
// the proxy, forward auth, the admin API, userinfo, introspection and the
// account pages: may this credential act now, and as whom?
//
// Authenticate reads nothing but memory on the hot path: the verified
// token cache, the revocation list, the session cache, and the live
// directory of apps and users. A credential is accepted only if, right
// now, it verifies (signature, typ, alg, iss, exp/nbf, audience), is not
// revoked, its session was not ended for good, its Trusted App exists
// and is enabled, its user exists and may use that app, and (for
// reference tokens) the app's reference_tokens policy still allows it
// (SPEC §4). The scopes it carries are narrowed to those the app still
// has. Every refusal has one reason code (the reason label of
// erpgate_auth_decisions_total) and one RFC 6750 rendering (respond.go).
package authority
