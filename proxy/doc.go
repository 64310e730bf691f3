// Package proxy is erpgate's edge handler. For every request it finds the
// route (package policy), reads the credentials, verifies the token
// in-process against the issuer's keys, asks the route's policy, and
// forwards the authorized call upstream with the caller's identity in
// X-Auth-* headers. Failures are RFC 6750 §3.1 challenges with a JSON body.
//
// Reading order: proxy.go (ServeHTTP, the whole flow), credentials.go,
// verify.go, forward.go, respond.go.
package proxy
