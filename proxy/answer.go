package proxy

import (
	"net/http"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/policy"
)

// Answer is what the proxy does with a request: forward it, send a
// browser to sign in, or refuse it.
type Answer struct {
	// Forward: the request goes to its route's upstream.
	Forward bool
	// Login: the browser is sent to the gateway's login page, which comes
	// back to the request's URL (Browser.StartLogin).
	Login bool
	// StepUp, with Login: the sign-in asks the issuer for this (RFC 9470
	// §4: acr_values, max_age), keeping the session until the new tokens
	// replace it (Browser.StartStepUp).
	StepUp policy.StepUp
	// Refusal is the answer otherwise: status, challenge and JSON body
	// (RFC 6750 §3.1). A browser that prefers HTML gets the same status
	// and headers as a page that says it in words (pages.go).
	Refusal authority.Answer
}

// Situation is what the proxy's answer depends on besides the policy's
// decision and the authority's refusal.
type Situation struct {
	// BrowserLogin: browser login at the gateway is on (Config.Browser).
	BrowserLogin bool
	// PrefersHTML: Accept names text/html with a quality no lower than
	// any other type it names: a browser navigating, not a script
	// fetching JSON. Its session cookie counts on every route.
	PrefersHTML bool
	// Navigation: a GET or HEAD whose Accept names text/html at all, one
	// a login redirect can help. Nothing else is ever redirected.
	Navigation bool
	// FromSession: the credential was the browser session's access token.
	FromSession bool
	// SteppedUp: the browser session's tokens come from a step-up
	// sign-in, just now, that asked for what the route requires
	// (Browser.SteppedUp): it still falls short, so the browser is told
	// so instead of being sent round again (the loop guard). Read only
	// for an insufficient_user_authentication refusal.
	SteppedUp bool
	// ResourceMetadata is the URL of the request's protected-resource
	// metadata (RFC 9728 §5.1): every challenge on a route names it, so a
	// client learns there which issuer and scopes the route wants. ""
	// for none (forward auth: the resource is the edge's).
	ResourceMetadata string
}

// takesSession reports whether a request without credentials on route
// has its browser session's token read (and, without a session, is a
// candidate for a login redirect): on routes with on_missing_token:
// login, and for browsers navigating on any route.
func (s Situation) takesSession(route *policy.Route) bool {
	return s.BrowserLogin && (route.OnMissingToken == policy.OnMissingLogin || s.PrefersHTML)
}

// AnswerFor is the proxy's answer to a request in situation s: every
// answer the proxy gives a request it does not forward comes from here,
// and `erpgate policy explain` prints it. When the credential authority
// refused the request's credential, ref is that refusal and decides;
// otherwise d, the policy's decision for the request (Set.Decide's, or
// the matched route's Authorize), does.
func AnswerFor(d policy.Decision, ref *authority.Refusal, s Situation) Answer {
	a := answerFor(d, ref, s)
	if s.ResourceMetadata != "" && a.Refusal.Challenge != "" && d.Outcome != policy.NoRoute {
		a.Refusal.Challenge += `, resource_metadata="` + s.ResourceMetadata + `"`
	}
	return a
}

// answerFor is AnswerFor without the resource_metadata hint.
func answerFor(d policy.Decision, ref *authority.Refusal, s Situation) Answer {
	if ref != nil {
		if ref.TokenRefused() && s.FromSession && s.Navigation {
			// The browser session's token is refused: a new login, which
			// clears the session; the login page asks for the password
			// again, so a token refused for good cannot loop.
			return Answer{Login: true}
		}
		return Answer{Refusal: ref.Answer()}
	}
	switch d.Outcome {
	case policy.Allow:
		return Answer{Forward: true}
	case policy.NoRoute:
		if d.Reason == policy.ReasonInvalidPath {
			// "..", "//" and the like could mean one thing here and
			// another upstream; refuse rather than guess.
			return Answer{Refusal: invalidPath.Answer()}
		}
		return Answer{Refusal: notFound}
	case policy.NeedCredentials:
		if s.Navigation && s.takesSession(d.Route) {
			return Answer{Login: true}
		}
		return Answer{Refusal: missing.Answer()}
	case policy.InsufficientScope:
		return Answer{Refusal: authority.InsufficientScope(d.Route.ScopeString())}
	case policy.InsufficientUserAuthentication:
		if d.Reason == policy.ReasonNoUserSignIn {
			return Answer{Refusal: authority.NoUserSignIn()}
		}
		if s.BrowserLogin && s.FromSession && s.Navigation && !s.SteppedUp {
			return Answer{Login: true, StepUp: d.StepUp}
		}
		return Answer{Refusal: authority.InsufficientUserAuthentication(d.StepUp.ACR, d.StepUp.MaxAgeSeconds())}
	}
	// wrong_audience, and anything unforeseen: the token is not for
	// this route (401 invalid_token).
	return Answer{Refusal: (&authority.Refusal{Reason: d.Reason}).Answer()}
}

var (
	invalidPath = &authority.Refusal{Reason: authority.ReasonInvalidRequest, Detail: "the request path is not canonical"}
	missing     = &authority.Refusal{Reason: authority.ReasonMissing}
	notFound    = authority.Answer{Status: http.StatusNotFound,
		Body: authority.ErrorBody{Error: "not_found", Description: "no route matches this request"}}
)

// situation is r's Situation here; cred is the credential the request
// is judged by, e the edge for forward auth. It reads Accept, so only
// refusals ask for it.
func (p *Proxy) situation(r *http.Request, e *edge, cred authority.Credential) Situation {
	return Situation{
		BrowserLogin:     p.cfg.Browser != nil,
		PrefersHTML:      prefersHTML(r),
		Navigation:       loginRedirectable(r),
		FromSession:      cred.Source == authority.SourceCookie,
		ResourceMetadata: p.resourceMetadataURL(r, e),
	}
}

// respond carries out a, an answer that does not forward: the login
// redirect, or the refusal as JSON, or as a page for a browser
// (pages.go) worded with h. For forward auth (e non-nil) the login goes
// through the edge (edgeLogin).
func (p *Proxy) respond(w http.ResponseWriter, r *http.Request, e *edge, h hints, a Answer) {
	if a.Login {
		switch {
		case e != nil:
			p.edgeLogin(w, r, e, a.StepUp)
		case !a.StepUp.IsZero():
			p.cfg.Browser.StartStepUp(w, r, a.StepUp)
		default:
			p.cfg.Browser.StartLogin(w, r)
		}
		return
	}
	p.answer(w, r, h, func(w http.ResponseWriter) { authority.WriteAnswer(w, a.Refusal) })
}
