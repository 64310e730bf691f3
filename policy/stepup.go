package policy

import (
	"fmt"
	"strconv"
	"time"
)

// Authentication context classes a route may require (the acr values the
// issuer advertises in acr_values_supported), weakest first.
const (
	ACRPassword = "pwd" // any single-factor sign-in
	ACRMFA      = "mfa" // a second factor was verified
)

// acrRank orders the classes: a sign-in satisfies a requirement of any
// class ranked at or below its own. An unknown or absent acr ranks below
// every class.
var acrRank = map[string]int{ACRPassword: 1, ACRMFA: 2}

// KnownACR reports whether acr is one a route may require.
func KnownACR(acr string) bool { return acrRank[acr] > 0 }

// StepUp is what a route demands of the user's sign-in (RFC 9470): the
// zero value demands nothing.
type StepUp struct {
	// ACR: the sign-in's acr must rank at least this ("" for any).
	ACR string
	// MaxAge: the sign-in (auth_time) may be at most this old; 0 for any
	// age. Whole seconds, at least one: max_age is in seconds.
	MaxAge time.Duration
}

// IsZero reports whether s demands nothing.
func (s StepUp) IsZero() bool { return s.ACR == "" && s.MaxAge == 0 }

// MaxAgeSeconds is MaxAge as the max_age auth-param (RFC 9470 §3), "" for
// none.
func (s StepUp) MaxAgeSeconds() string {
	if s.MaxAge <= 0 {
		return ""
	}
	return strconv.FormatInt(int64(s.MaxAge/time.Second), 10)
}

// ACRMeets reports whether a sign-in of class have meets a requirement
// of class want ("" for none).
func ACRMeets(have, want string) bool { return want == "" || acrRank[have] >= acrRank[want] }

// Includes reports whether asking for s asks at least as much as req:
// an acr that meets req's, and a max_age no longer than req's. The
// browser's loop guard asks it of the step-up it just made.
func (s StepUp) Includes(req StepUp) bool {
	if !ACRMeets(s.ACR, req.ACR) {
		return false
	}
	return req.MaxAge == 0 || s.MaxAge > 0 && s.MaxAge <= req.MaxAge
}

// check validates a route's requirement for Compile.
func (s StepUp) check(i int, public bool, fail func(int, string, string, ...any)) {
	if s.IsZero() {
		return
	}
	if public {
		fail(i, "RequireAuth", "a public route cannot require a sign-in")
	}
	if s.ACR != "" && !KnownACR(s.ACR) {
		fail(i, "RequireAuth", "acr %q is neither %q nor %q", s.ACR, ACRPassword, ACRMFA)
	}
	if s.MaxAge != 0 && (s.MaxAge < time.Second || s.MaxAge%time.Second != 0) {
		fail(i, "RequireAuth", "max_age %s is not a whole number of seconds, at least 1s", s.MaxAge)
	}
}

// stepUp judges the sign-in behind f against r.RequireAuth; ok when it
// is met (or nothing is required).
//
// A token that is no user's (client credentials), or a reference token,
// carries no sign-in event: Facts.NoSignIn. A service cannot step up at
// all, so it is refused for good (403); a reference token's user can, by
// signing in for a token (401 with the challenge, as a weaker sign-in).
//
// The challenge always names the route's whole requirement, not only
// the part that failed: a client re-authorizing for max_age alone could
// come back with a weaker acr, and one asking for acr alone with a sign-in
// the issuer upgraded but kept the old auth_time of; asking for both gets
// a token that passes in one round trip.
func (r *Route) stepUp(f Facts) (Decision, bool) {
	req := r.RequireAuth
	if req.IsZero() {
		return Decision{}, true
	}
	refuse := func(format string, args ...any) (Decision, bool) {
		return Decision{
			Outcome: InsufficientUserAuthentication, Route: r, Reason: ReasonInsufficientUserAuthentication,
			Detail: fmt.Sprintf("route %q requires ", r.Name) + describeStepUp(req) + "; " + fmt.Sprintf(format, args...),
			StepUp: req,
		}, false
	}
	switch {
	case f.Service:
		return Decision{
			Outcome: InsufficientUserAuthentication, Route: r, Reason: ReasonNoUserSignIn,
			Detail: fmt.Sprintf("route %q requires ", r.Name) + describeStepUp(req) + "; a service token has no user sign-in to step up",
		}, false
	case f.NoSignIn:
		return refuse("a reference token carries no sign-in: the user must sign in for an access token")
	case !ACRMeets(f.ACR, req.ACR):
		return refuse("the token's sign-in is %s", quoteOr(f.ACR, "of no known class"))
	case req.MaxAge > 0 && f.AuthTime.IsZero():
		return refuse("the token does not say when the user signed in")
	case req.MaxAge > 0 && f.Now.Sub(f.AuthTime) > req.MaxAge:
		// OIDC Core §3.1.2.1 max_age: re-authenticate when the elapsed
		// time is greater than max_age; exactly max_age still passes.
		return refuse("the user signed in %s ago", f.Now.Sub(f.AuthTime).Truncate(time.Second))
	}
	return Decision{}, true
}

// describeStepUp is the requirement in words: `a sign-in of class "mfa"
// at most 15m0s old`.
func describeStepUp(s StepUp) string {
	out := "a sign-in"
	if s.ACR != "" {
		out += fmt.Sprintf(" of class %q", s.ACR)
	}
	if s.MaxAge > 0 {
		out += fmt.Sprintf(" at most %s old", s.MaxAge)
	}
	return out
}

func quoteOr(s, none string) string {
	if s == "" {
		return none
	}
	return strconv.Quote(s)
}
