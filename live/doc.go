// Package live closes the proxied requests that outlive a call when their
// caller may no longer act: WebSocket upgrades and streamed responses
// (server-sent events, chunked long polls) of a session that ended — by
// logout, an administrator, idle or lifetime timeout, the kill switch, a
// user disabled, on this replica or another — or of a token that was
// revoked, within a second (SPEC §12; Pomerium let WebSockets survive
// logout, pomerium#1279).
//
// The proxy registers each such request in the Registry, keyed by the
// caller's session id and token id (the jti, or a reference token's
// revocation id). Events drive the closing: the session manager's OnEnd
// and the revocation list's OnRevoke, wired by the gateway
// (gateway/live.go). A periodic Recheck asks the credential authority
// about every live caller, for what has no event: a revocation learnt
// by polling, an app disabled, a user removed, a race between a
// request's judgement and its registration.
//
// A WebSocket is closed at a frame boundary of the server-to-client
// stream with a Close frame, status 1008 (RFC 6455 §7.4.1) and the
// reason, then both connections are closed (WebSocket); a stream is cut
// (Stream).
package live
