// Package proxy is erpgate's edge handler. For every request it finds the
// route (package policy), reads the credentials, has the credential
// authority (Config.Authority) verify them in-process and open or reuse
// the caller's ERP session and license slot, asks the route's policy,
// and forwards the authorized call upstream with the caller's identity
// in X-Auth-* headers. Failures are RFC 6750 §3.1 challenges with a JSON
// body; a browser gets the same answer (status and headers) as a page of
// the kit that says it in words, with a next step (pages.go). With
// Config.Browser (browser login), a browser's session cookie is the
// credential and a browser without one is sent to log in (browser.go).
// A route with an Exchange forwards, instead of the caller's token, one
// the identity server mints for its upstream alone, cached (exchange.go).
// With Config.Live, a WebSocket or stream of an authenticated caller is
// registered while it lasts, so it is closed when the caller may no
// longer act (live.go, package live).
//
// Every refusal and login redirect — status, challenge and JSON body —
// comes from AnswerFor (answer.go), which `erpgate policy explain`
// prints too; only an upstream's failures (502, 504, 408) are
// forward.go's.
//
// A route's require_auth (RFC 9470) is judged from the token's acr and
// auth_time (signInFacts): an API caller whose sign-in falls short gets
// 401 error="insufficient_user_authentication" with acr_values and
// max_age, a service 403; a browser's session is sent to step up
// (Browser.StartStepUp, or /oauth2/start through forward auth) and comes
// back to the page, and a step-up that came back still short gets a page
// instead of another redirect (Browser.SteppedUp, the loop guard).
//
// Protected-resource metadata (RFC 9728) is served at
// /.well-known/oauth-protected-resource/<path>, and every challenge on a
// route names it (resource.go).
//
// Reading order: proxy.go (ServeHTTP, the whole flow), answer.go,
// browser.go, pages.go, forward.go, hygiene.go, clientidle.go,
// exchange.go, resource.go, live.go.
package proxy
