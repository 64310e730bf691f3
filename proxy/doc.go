// Package proxy is erpgate's edge handler. For every request it finds the
// route (package policy), reads the credentials, verifies the token
// in-process against the issuer's keys, asks the route's policy, opens or
// reuses the caller's ERP session and license slot (Config.Sessions), and
// forwards the authorized call upstream with the caller's identity in
// X-Auth-* headers. Failures are RFC 6750 §3.1 challenges with a JSON body;
// a browser gets the same answer (status and headers) as a page of the
// kit that says it in words, with a next step (pages.go). With
// Config.Browser (browser login), a browser's session cookie is the
// credential and a browser without one is sent to log in (browser.go).
//
// Reading order: proxy.go (ServeHTTP, the whole flow), browser.go,
// pages.go, forward.go, respond.go, hygiene.go, clientidle.go.
package proxy
