// Package browserlogin is browser sign-in at the gateway (SPEC §4 "Browser
// login"). The gateway is a confidential Trusted App of its own issuer: it
// sends a browser without a session to /id/connect/authorize (authorization
// code flow with state, PKCE S256 and an OIDC nonce, golang.org/x/oauth2),
// handles /oauth2/callback (code exchange, ID token verified with go-oidc
// against the issuer's keys, nonce checked), and keeps the tokens in an
// encrypted, authenticated cookie session (gorilla/sessions with
// securecookie codecs).
//
// Cookies, all HttpOnly, SameSite=Lax, Secure when the public URL is https:
//
//   - erpgate_session_0, erpgate_session_1, … (Path=/): the session — access,
//     refresh and ID token and the access token's expiry — gob-encoded,
//     AES-256-CTR encrypted and HMAC-SHA256 authenticated by securecookie,
//     then cut into chunks of at most 3,800 bytes, because three RS256 JWTs
//     do not fit the 4 KB a browser keeps per cookie. Chunk 0 starts with the
//     chunk count, so a stale extra chunk is never glued on.
//   - erpgate_login_<id> (Path=/oauth2/callback, 10 minutes): one login
//     transaction — state, PKCE verifier, nonce and the return URL. Named
//     after its state, so logins started in several tabs do not clobber
//     each other.
//
// Keys: each configured 32-byte key yields an HMAC and an AES key (HKDF-
// SHA256). The first key encrypts; every key decrypts, so a key is rotated
// by adding a new one in front and dropping the old one later.
//
// Tokens are refreshed shortly before the access token expires, with one
// refresh per session in flight (singleflight keyed by the session's sid);
// a request that still carries the just-rotated refresh token gets the
// same result from a short-lived cache instead of replaying it, for no
// longer than the issuer's own reuse grace (Config.RefreshReuseGrace), so
// the gateway never honours a replaced token the issuer would not. When the
// issuer refuses the refresh, the session is cleared.
//
// The proxy uses a Handler (as its proxy.Browser) through ServeHTTP for
// /oauth2/* (callback, start, sign_out, userinfo), AccessToken for the
// bearer token of a browser request, and StartLogin to send a browser
// without a usable session to the login page; when the request still
// carried a session (refused, ended, undecodable), StartLogin clears it and
// asks the issuer for prompt=login, so a token the proxy keeps refusing
// cannot cause a silent redirect loop. OwnsCookie names the gateway's
// cookies, which the proxy never forwards upstream.
//
// A route that requires a stronger or more recent sign-in (RFC 9470) has
// the proxy call StartStepUp instead: the issuer is asked for acr_values
// and max_age, the session is kept until the callback replaces its
// tokens (the issuer keeps the sid, so the ERP session and license slot
// stay the same), and the new session records the step-up it came from,
// so that SteppedUp lets the proxy show a page rather than redirect
// again when the issuer could not meet the requirement (stepup.go).
//
// A sign-in that does not complete (the transaction cookie missing or
// expired, the issuer refusing, the code exchange failing) shows a page of
// the kit (Config.Pages) with the next steps: sign in again, back to the
// page the sign-in was for when it is known, or go back. Sign-out lands on
// the operator's ui.signed_out_url when one is set.
//
// Reading order: browserlogin.go (Config, Handler, routes), login.go
// (StartLogin, callback), stepup.go, session.go (AccessToken, refresh), signout.go,
// pages.go, cookies.go (codecs, chunked store, transaction cookie),
// returnurl.go.
package browserlogin
