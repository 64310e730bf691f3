package browserlogin

import (
	"net/http"
	"strconv"
	"time"

	"github.com/erpgate/erpgate/policy"
)

// stepUpGuard is how long after a step-up sign-in a session that still
// falls short of the route is shown a page instead of being sent to sign
// in again: the issuer could not meet the requirement (no second factor
// for this user, say), and asking again at once would loop. Once it has
// passed, a new step-up may be asked for (a max_age that ran out again).
const stepUpGuard = 30 * time.Second

// Keys of the step-up marker in the session values: what the sign-in
// that produced the session's tokens asked for, and when it completed.
const (
	keyStepUpACR    = "su_acr"
	keyStepUpMaxAge = "su_max"
	keySteppedUpAt  = "su_at"
)

// StartStepUp sends the browser to the issuer for a sign-in that meets
// req (RFC 9470 §4: the client asks again with acr_values and max_age,
// OIDC Core §3.1.2.1), coming back to the request's URL as StartLogin
// does. Unlike StartLogin it keeps the session: it still works elsewhere
// until the callback replaces its tokens, and the issuer keeps the SSO
// session and its sid when it upgrades it, so the ERP session and its
// license slot stay the same.
func (h *Handler) StartStepUp(w http.ResponseWriter, r *http.Request, req policy.StepUp) {
	returnTo := "/"
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		returnTo = r.URL.RequestURI()
	}
	h.startLogin(w, r, returnTo, false, req)
}

// SteppedUp reports whether the request's session tokens come from a
// step-up sign-in that asked for at least req and completed less than
// stepUpGuard ago: the proxy's loop guard.
func (h *Handler) SteppedUp(r *http.Request, req policy.StepUp) bool {
	s, ok := h.loadSession(r)
	if !ok || s.SteppedUpAt == 0 || h.cfg.Clock().Sub(time.Unix(s.SteppedUpAt, 0)) > stepUpGuard {
		return false
	}
	return s.stepUp().Includes(req)
}

// stepUp is what the sign-in behind s asked for.
func (s sessionTokens) stepUp() policy.StepUp {
	return policy.StepUp{ACR: s.StepUpACR, MaxAge: time.Duration(s.StepUpMaxAge) * time.Second}
}

// stepUpFromQuery reads StartPath's acr_values and max_age (forward
// auth's step-up, proxy.edgeLogin): only a known acr and a positive
// number of seconds count; anything else asks for nothing.
func stepUpFromQuery(acr, maxAge string) policy.StepUp {
	var s policy.StepUp
	if policy.KnownACR(acr) {
		s.ACR = acr
	}
	if n, err := strconv.ParseInt(maxAge, 10, 32); err == nil && n > 0 {
		s.MaxAge = time.Duration(n) * time.Second
	}
	return s
}
