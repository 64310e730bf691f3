// Package policy decides, for one proxied request, which route it belongs
// to and whether the caller may pass (SPEC §2 routes, §4 proxy).
//
// It is pure: the gateway's wiring builds a []Route from the config,
// Compile validates it into an immutable *Set, and the proxy asks the Set.
// Nothing here reads files, clocks or tokens; the caller verifies
// credentials first and hands over the facts (authenticated or not, the
// token's audiences and scopes). A Set never changes and is safe for
// concurrent use; nothing here swaps it. A reload compiles a new Set into
// a new proxy.Proxy, and the gateway swaps the snapshot holding that proxy
// (with the rest of the reloaded config) in one atomic store, so a request
// sees one Set from start to end.
//
// Routes are ordered and the first match wins; no match means 404. A route
// matches on the already-decoded, canonical URL path:
//
//	Path "/api/health"         matches only "/api/health"
//	PathPrefix "/api/domain/"  matches "/api/domain/" and "/api/domain/x"
//	PathPrefix "/api"          matches "/api" and "/api/x", never "/apix"
//
// and on the method: an empty Methods list matches any method, otherwise
// the method must be listed exactly (HEAD is not implied by GET).
// Non-canonical paths (empty or dot segments, "//", backslashes, control
// characters, and dot or empty segments behind ";" parameters such as
// "..;x") match no route at all, so "/api/public/../domain/x" and
// "/api/public/..;/domain/x" cannot borrow a public route's rules from an
// upstream that normalises paths; see ValidPath.
//
// The proxy uses the Set in two steps, because the route names the token
// audience to verify against:
//
//	idx, route, ok := set.Match(r.Method, r.URL.Path) // which route, which upstream
//	// ... read and verify the credentials for route.Audience ...
//	d := route.Authorize(policy.Facts{Authenticated: true, Audiences: aud, Scopes: scp})
//
// `erpgate policy explain` does both at once with Set.Decide, and asks
// Set.NearMisses which routes a request missed by its method or a
// trailing slash. Every Decision carries a stable snake_case Reason (the
// "reason" label of erpgate_auth_decisions_total and the audit field) and
// a one-sentence Detail for people; what the proxy answers for it is
// proxy.AnswerFor's. Match and an allowing Authorize do not allocate.
// Set.Protecting lists the protected routes serving a path for some
// method: what its RFC 9728 protected-resource metadata describes.
//
// A route may also demand a stronger or more recent sign-in
// (Route.RequireAuth, RFC 9470; stepup.go): the caller adds the token's
// acr and auth_time and the time to judge them at to the Facts (policy
// reads no clock), and a sign-in that falls short is refused with
// InsufficientUserAuthentication and the requirement to re-authorize
// with; a service token, which has no sign-in, is refused for good.
package policy
