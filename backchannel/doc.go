// Package backchannel tells apps that a user's session ended: OpenID
// Connect Back-Channel Logout 1.0. When a sign-in session ends (logout,
// an administrator, the idle timeout, the kill switch, a user
// disabled or their password changed), every app that was issued tokens
// for it and registered a backchannel_logout_uri receives a logout token
// (§2.4): a JWT signed with the issuer's current key, typ logout+jwt,
// naming the session (sid) and the user (sub), with the back-channel
// logout event and never a nonce.
//
// A Sender delivers them from a bounded in-memory queue with a few
// workers (§2.5): POST application/x-www-form-urlencoded logout_token=…,
// no redirect followed (§2.8), each attempt under a deadline; network
// errors, 5xx and 429 are retried a bounded number of times, after a
// doubling backoff or the answer's Retry-After (up to a minute); 200 and
// 204 are success, any other answer is final. Enqueue never blocks: a
// full queue drops the work and counts it. Each final outcome is counted
// (erpgate_backchannel_logout_total{result}) and audited
// (logout.backchannel).
//
// Only user sessions are logged out this way: service sessions (client
// credentials) and reference-token sessions have no sign-in at an app.
// The queue lives in memory: logout tokens not yet delivered when the
// process stops (past Close's drain bound) are lost, and counted as
// dropped.
package backchannel
