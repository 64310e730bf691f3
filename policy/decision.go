package policy

import (
	"fmt"
	"strings"
	"time"
)

// Outcome is what the policy makes of a request. The HTTP answer the
// proxy gives for each (status, challenge, login redirect) is
// proxy.AnswerFor's.
type Outcome int

const (
	Allow             Outcome = iota // forward it
	NoRoute                          // no route takes it, or its path is not canonical
	NeedCredentials                  // the route is protected and the request has no credentials
	InsufficientScope                // the token lacks a scope the route requires (RFC 6750 §3.1)
	WrongAudience                    // the token is not meant for this route's API
	// InsufficientUserAuthentication: the user's sign-in is too weak or
	// too old for the route (RFC 9470), or there is no user sign-in.
	InsufficientUserAuthentication
)

// String returns a stable snake_case name, usable as the "decision"
// metric label.
func (o Outcome) String() string {
	switch o {
	case Allow:
		return "allow"
	case NoRoute:
		return "no_route"
	case NeedCredentials:
		return "need_credentials"
	case InsufficientScope:
		return "insufficient_scope"
	case WrongAudience:
		return "wrong_audience"
	case InsufficientUserAuthentication:
		return "insufficient_user_authentication"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Reasons: the stable codes in Decision.Reason, used verbatim in
// `erpgate policy explain`, audit lines and the "reason" label of
// erpgate_auth_decisions_total. Never rename one.
const (
	ReasonPublic             = "public"              // Allow: the route needs no credentials
	ReasonAllowed            = "allowed"             // Allow: audience and every scope present
	ReasonNoRoute            = "no_route"            // NoRoute: no route matches method and path
	ReasonInvalidPath        = "invalid_path"        // NoRoute: the path is not canonical (ValidPath)
	ReasonMissingCredentials = "missing_credentials" // NeedCredentials
	ReasonInsufficientScope  = "insufficient_scope"  // InsufficientScope
	ReasonWrongAudience      = "wrong_audience"      // WrongAudience
	// InsufficientUserAuthentication: the user must sign in again, more
	// strongly or more recently (RFC 9470 §3).
	ReasonInsufficientUserAuthentication = "insufficient_user_authentication"
	// InsufficientUserAuthentication: a service token, with no user
	// sign-in to step up, on a route that requires one.
	ReasonNoUserSignIn = "no_user_sign_in"
)

// Decision is the answer for one request, with its reasons.
type Decision struct {
	Outcome       Outcome
	Route         *Route   // nil when NoRoute; belongs to the Set, do not modify
	Reason        string   // one of the Reason… codes
	Detail        string   // one human sentence
	MissingScopes []string // the route's scopes the token lacks, for InsufficientScope
	// StepUp is the route's sign-in requirement, for the challenge of an
	// insufficient_user_authentication refusal (RFC 9470 §3).
	StepUp StepUp
}

// Allowed reports whether the request may be forwarded.
func (d Decision) Allowed() bool { return d.Outcome == Allow }

// String is "allow (allowed): route … ." style, for logs and explain.
func (d Decision) String() string {
	return d.Outcome.String() + " (" + d.Reason + "): " + d.Detail
}

// Facts describe one request. Credentials, if any, were already verified
// by the caller (signature, issuer, expiry, revocation); policy only
// compares what they grant with what the route requires.
type Facts struct {
	Method, Path  string   // used by Set.Decide; Route.Authorize ignores them
	Authenticated bool     // a valid token or browser session was presented
	Audiences     []string // the token's "aud" values
	Scopes        []string // the token's scopes (split a space-delimited string first)

	// The sign-in behind the token, for routes with RequireAuth (RFC 9470
	// §6.1: the acr and auth_time claims): ACR "" and a zero AuthTime
	// when the token does not say. Service: the token is no user's
	// (client credentials). NoSignIn: a user's credential that carries
	// no sign-in event (a reference token). Now is the time to judge
	// AuthTime at; policy reads no clock.
	ACR      string
	AuthTime time.Time
	Service  bool
	NoSignIn bool
	Now      time.Time
}

// Decide matches f.Method and f.Path, then authorizes the matched route.
// It is what `erpgate policy explain` prints.
func (s *Set) Decide(f Facts) Decision {
	if !ValidPath(f.Path) {
		return Decision{
			Outcome: NoRoute,
			Reason:  ReasonInvalidPath,
			Detail:  fmt.Sprintf("path %q is not canonical (empty or dot segments, backslashes or control characters), so no route matches", f.Path),
		}
	}
	_, r, ok := s.Match(f.Method, f.Path)
	if !ok {
		return Decision{
			Outcome: NoRoute,
			Reason:  ReasonNoRoute,
			Detail:  fmt.Sprintf("no route matches %s %s", f.Method, f.Path),
		}
	}
	return r.Authorize(f)
}

// Authorize decides for a request already matched to r: public routes
// allow everyone; otherwise the caller must be authenticated, the token
// must carry r.Audience and every one of r.Scopes (exact, case-sensitive
// comparison, RFC 6749 §3.3), and its sign-in meet r.RequireAuth. It does not allocate when it allows a route
// returned by Set.Match.
func (r *Route) Authorize(f Facts) Decision {
	if r.Public {
		return Decision{Outcome: Allow, Route: r, Reason: ReasonPublic, Detail: r.allowDetail()}
	}
	if !f.Authenticated {
		return Decision{
			Outcome: NeedCredentials,
			Route:   r,
			Reason:  ReasonMissingCredentials,
			Detail:  fmt.Sprintf("route %q requires a token and the request has none", r.Name),
		}
	}
	if r.Audience != "" && !contains(f.Audiences, r.Audience) {
		return Decision{
			Outcome: WrongAudience,
			Route:   r,
			Reason:  ReasonWrongAudience,
			Detail:  fmt.Sprintf("route %q requires a token for %q; token is for %s", r.Name, r.Audience, quoteListOr(f.Audiences, "no audience")),
		}
	}
	if !containsAll(f.Scopes, r.Scopes) {
		var missing []string
		for _, s := range r.Scopes {
			if !contains(f.Scopes, s) {
				missing = append(missing, s)
			}
		}
		return Decision{
			Outcome:       InsufficientScope,
			Route:         r,
			Reason:        ReasonInsufficientScope,
			Detail:        fmt.Sprintf("route %q requires %s %s; token has %s", r.Name, plural(len(missing), "scope", "scopes"), quoteList(missing), quoteListOr(f.Scopes, "no scopes")),
			MissingScopes: missing,
		}
	}
	// After scopes: a refusal no sign-in can fix comes first.
	if d, ok := r.stepUp(f); !ok {
		return d
	}
	return Decision{Outcome: Allow, Route: r, Reason: ReasonAllowed, Detail: r.allowDetail()}
}

// ScopeString returns the route's required scopes space-delimited, as the
// scope="…" attribute of an insufficient_scope challenge (RFC 6750 §3).
func (r *Route) ScopeString() string { return strings.Join(r.Scopes, " ") }

// allowDetail returns the precompiled sentence for an allowed request, or
// builds it for a route that did not come from Compile.
func (r *Route) allowDetail() string {
	if r.c != nil {
		return r.c.allowDetail
	}
	return describeAllow(r)
}

func describeAllow(r *Route) string {
	if !r.Public && !r.RequireAuth.IsZero() {
		return describeAllowScopes(r) + " and " + describeStepUp(r.RequireAuth)
	}
	return describeAllowScopes(r)
}

func describeAllowScopes(r *Route) string {
	switch {
	case r.Public:
		return fmt.Sprintf("route %q is public", r.Name)
	case len(r.Scopes) == 0:
		return fmt.Sprintf("route %q: token is for %q", r.Name, r.Audience)
	}
	return fmt.Sprintf("route %q: token is for %q and has %s %s",
		r.Name, r.Audience, plural(len(r.Scopes), "scope", "scopes"), quoteList(r.Scopes))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !contains(have, w) {
			return false
		}
	}
	return true
}

// quoteList renders ["read" "update"] as `"read", "update"`.
func quoteList(list []string) string {
	var b strings.Builder
	for i, s := range list {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", s)
	}
	return b.String()
}

func quoteListOr(list []string, none string) string {
	if len(list) == 0 {
		return none
	}
	return quoteList(list)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
