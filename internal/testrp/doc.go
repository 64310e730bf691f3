// Package testrp is a relying party for tests that receives back-channel
// logout tokens and judges each one as OpenID Connect Back-Channel Logout
// 1.0 §2.6 tells an RP to, with the issuer's published keys: signature,
// iss, aud, iat and exp (go-oidc's ID token rules, §2.6 step 3), typ
// logout+jwt, a sub or sid, the back-channel logout event, no nonce, and
// a jti never seen before. It answers 200 to a valid token and 400 to
// any other request (§2.8), and keeps both for the test to inspect.
package testrp
