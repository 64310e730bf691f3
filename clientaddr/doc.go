// Package clientaddr finds the real client address of a request behind
// the load balancers and reverse proxies an operator trusts
// (trusted_proxies), so that every throttle, audit line and access-log
// line keys on the client and not on the load balancer (SPEC §4).
//
// Middleware rewrites r.RemoteAddr to the client's address and keeps the
// direct TCP peer in the request context (Peer), where the proxy decides
// whether the peer's own X-Forwarded-* headers are believed.
package clientaddr
