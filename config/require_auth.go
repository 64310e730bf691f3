package config

import (
	"fmt"
	"time"
)

// routes[].require_auth.acr: the authentication context classes the
// issuer advertises (acr_values_supported), weakest first.
const (
	ACRPassword = "pwd" // any single-factor sign-in
	ACRMFA      = "mfa" // a second factor was verified
)

// RequireAuth is what a route demands of the user's sign-in (RFC 9470).
// A request whose token's sign-in falls short is refused: API callers
// get 401 WWW-Authenticate: Bearer error="insufficient_user_authentication"
// with acr_values and max_age, browsers are sent through the sign-in
// again and come back to the same page. Service (client-credentials)
// tokens have no sign-in and are refused with 403.
type RequireAuth struct {
	// ACR is the weakest sign-in the route takes: "pwd" (any) or "mfa"
	// (a second factor); "mfa" ranks above "pwd". Omitted: any.
	ACR string `yaml:"acr,omitempty"`

	// MaxAge is how long ago the user may have signed in (the token's
	// auth_time): a whole number of seconds, at least 1s. Omitted: any.
	MaxAge Duration `yaml:"max_age,omitempty"`
}

// requireAuth checks routes[i].require_auth.
func (v *validator) requireAuth(i int, r Route) {
	ra := r.RequireAuth
	if ra == nil {
		return
	}
	p := fmt.Sprintf("routes[%d].require_auth", i)
	if r.Public {
		v.add(p, "not allowed on a public route, which asks for no sign-in")
	}
	if ra.ACR == "" && ra.MaxAge == 0 {
		v.add(p, "set acr, max_age or both")
	}
	if ra.ACR != "" {
		v.oneOf(p+".acr", ra.ACR, ACRPassword, ACRMFA)
	}
	switch d := ra.MaxAge.D(); {
	case d == 0:
	case d < time.Second:
		v.add(p+".max_age", "must be at least 1s")
	case d%time.Second != 0:
		v.add(p+".max_age", "must be a whole number of seconds (max_age is in seconds, RFC 9470 §3)")
	}
}
