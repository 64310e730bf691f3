package explain

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/policy"
	"github.com/erpgate/erpgate/proxy"
)

// write prints the explanation as aligned "label  text" lines.
func (x *Explanation) write(w io.Writer) {
	f, c, d := x.f, x.caller, x.Decision
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-9s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("request", "%s %s", c.facts.Method, c.facts.Path)
	for i, l := range c.lines {
		label := ""
		if i == 0 {
			label = "caller"
		}
		line(label, "%s", l)
	}

	idx, pol, matched := x.set.Match(c.facts.Method, c.facts.Path)
	if matched {
		r := f.Routes[idx]
		line("route", "%s (routes[%d]): %s", r.Name, idx, match(r.Match))
		up := r.Upstream
		if r.Timeout.D() > 0 {
			up += fmt.Sprintf(" (timeout %s)", r.Timeout.D())
		}
		if r.StripAuthorization {
			up += ", Authorization not passed on"
		}
		line("upstream", "%s", up)
		line("requires", "%s", requires(r))
		line("no token", "%s", noToken(f, pol))
	} else {
		line("route", "none: routes are tried in order, the first match wins, and none matches")
		for _, nm := range x.set.NearMisses(c.facts.Method, c.facts.Path) {
			line("hint", "routes[%d] %q %s", nm.Index, nm.Route.Name, nm.Why)
		}
	}

	verdict := "deny"
	if d.Allowed() {
		verdict = "allow"
	}
	line("decision", "%s", verdict)
	line("reason", "%s", d.Reason)
	line("why", "%s", d.Detail)
	api := apiClient(f)
	if matched {
		api.ResourceMetadata = resourceMetadata(f, c.facts.Path)
	}
	a := proxy.AnswerFor(d, nil, api)
	line("answer", "%s", answer(f, d, a))
	if matched {
		line("counted", "erpgate_auth_decisions_total{route=%q,decision=%q,reason=%q}", d.Route.Name, verdict, d.Reason)
	} else {
		line("counted", "erpgate_http_requests_total{route=\"\",method=%q,code=%q} (no auth decision is counted without a route)", c.facts.Method, strconv.Itoa(a.Refusal.Status))
	}
	for _, n := range c.notes {
		line("note", "%s", n)
	}
}

func match(m config.Match) string {
	var s string
	if m.Path != "" {
		s = "path " + m.Path
	} else {
		s = "path_prefix " + m.PathPrefix
	}
	if len(m.Methods) == 0 {
		return s + ", any method"
	}
	return s + ", methods " + strings.Join(m.Methods, " ")
}

func requires(r config.Route) string {
	if r.Public {
		return "nothing: public route, forwarded without any credentials check"
	}
	s := fmt.Sprintf("a token for audience %q", r.Audience)
	if len(r.Scopes) == 0 {
		s += " (any scopes)"
	} else {
		s = fmt.Sprintf("%s with %s %s", s, plural(len(r.Scopes), "scope", "scopes"), list(r.Scopes, ""))
	}
	if ra := r.RequireAuth; ra != nil {
		var parts []string
		if ra.ACR != "" {
			parts = append(parts, fmt.Sprintf("acr %q or stronger", ra.ACR))
		}
		if ra.MaxAge != 0 {
			parts = append(parts, fmt.Sprintf("at most %s old", ra.MaxAge))
		}
		s += ", from a user's sign-in with " + strings.Join(parts, ", ") + " (require_auth)"
	}
	return s
}

// The clients whose answers can differ (proxy.Situation), which explain
// asks proxy.AnswerFor about: apiClient is a script or an app (its
// Accept does not name text/html); navigation a browser's GET or HEAD
// (Accept prefers text/html); namesHTML a GET or HEAD whose Accept names
// text/html below another type.
func apiClient(f *config.File) proxy.Situation {
	return proxy.Situation{BrowserLogin: f.Gateway.ClientID != ""}
}

// resourceMetadata is the protected-resource metadata URL the proxy's
// challenges name for path (RFC 9728 §5.1), on public_url's origin.
func resourceMetadata(f *config.File, path string) string {
	u, err := url.Parse(f.PublicURL)
	if err != nil {
		return ""
	}
	return proxy.ResourceMetadataURL(u.Scheme+"://"+u.Host, (&url.URL{Path: path}).EscapedPath())
}

func navigation(f *config.File) proxy.Situation {
	return proxy.Situation{BrowserLogin: f.Gateway.ClientID != "", PrefersHTML: true, Navigation: true}
}

func namesHTML(f *config.File) proxy.Situation {
	return proxy.Situation{BrowserLogin: f.Gateway.ClientID != "", Navigation: true}
}

// noToken says what the proxy answers a request without credentials on
// route r, for each kind of client it answers differently
// (proxy.AnswerFor).
func noToken(f *config.File, r *policy.Route) string {
	d := r.Authorize(policy.Facts{})
	api := proxy.AnswerFor(d, nil, apiClient(f))
	if api.Forward {
		return "forwarded (public)"
	}
	login := func(s proxy.Situation) bool { return proxy.AnswerFor(d, nil, s).Login }
	status, rule := api.Refusal.Status, "on_missing_token: "+r.OnMissingToken
	switch {
	case login(namesHTML(f)):
		return fmt.Sprintf("browsers (GET/HEAD with Accept: text/html) are sent to login, others get %d (%s)", status, rule)
	case login(navigation(f)):
		return fmt.Sprintf("%d (%s); a browser navigation (GET/HEAD preferring text/html) is sent to login", status, rule)
	case f.Gateway.ClientID == "":
		return fmt.Sprintf("%d (%s; browser login is off: gateway.client_id is empty)", status, rule)
	}
	return fmt.Sprintf("%d (%s)", status, rule)
}

// answer words a, the proxy's answer to an API client for d
// (proxy.AnswerFor), saying when a browser is sent to login instead.
func answer(f *config.File, d policy.Decision, a proxy.Answer) string {
	switch {
	case a.Forward && d.Reason == policy.ReasonPublic:
		return "forwarded to the upstream"
	case a.Forward: // the authority opens the session at the proxy's door
		return "forwarded to the upstream, once the session opens (a license slot is free)"
	}
	s := fmt.Sprintf("%d error=%q", a.Refusal.Status, a.Refusal.Body.Error)
	if a.Refusal.Challenge != "" {
		s = fmt.Sprintf("%d WWW-Authenticate: %s", a.Refusal.Status, a.Refusal.Challenge)
	}
	if proxy.AnswerFor(d, nil, navigation(f)).Login {
		s += `, or a login redirect for a browser (see "no token")`
	}
	session := navigation(f)
	session.FromSession = true
	if su := proxy.AnswerFor(d, nil, session); su.Login && !su.StepUp.IsZero() {
		s += "; a browser's session is sent to sign in again with" + stepUpParams(su.StepUp) + " and comes back to the page"
	}
	return s
}

// stepUpParams are the authorization request's step-up parameters
// (RFC 9470 §4).
func stepUpParams(su policy.StepUp) string {
	s := ""
	if su.ACR != "" {
		s += " acr_values=" + su.ACR
	}
	if ma := su.MaxAgeSeconds(); ma != "" {
		s += " max_age=" + ma
	}
	return s
}
