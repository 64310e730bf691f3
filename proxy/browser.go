package proxy

import (
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/policy"
)

// Browser is browser login at the gateway (SPEC §4 "Browser login");
// *browserlogin.Handler implements it.
type Browser interface {
	// ServeHTTP serves BrowserPathPrefix: the OAuth callback, sign-out
	// and userinfo.
	http.Handler
	// AccessToken returns the access token of the request's browser
	// session, refreshing it (and rewriting the cookie on w) when it is
	// about to expire; ok is false without a usable session.
	AccessToken(w http.ResponseWriter, r *http.Request) (token string, ok bool)
	// SessionToken is the session's access token while it is unexpired,
	// never refreshed: forward auth's answer goes to the edge, not to the
	// browser, so it cannot rewrite the cookie (forwardauth.go).
	SessionToken(r *http.Request) (token string, ok bool)
	// StartLogin answers with a redirect to the login page that comes
	// back to the request's URL.
	StartLogin(w http.ResponseWriter, r *http.Request)
	// StartStepUp answers with a redirect to the issuer asking for a
	// sign-in that meets req (acr_values, max_age; RFC 9470 §4), coming
	// back to the request's URL; the session is kept until the new
	// tokens replace it.
	StartStepUp(w http.ResponseWriter, r *http.Request, req policy.StepUp)
	// SteppedUp reports whether the request's session comes from a
	// step-up sign-in, completed moments ago, that asked for at least
	// req: the loop guard of a route whose requirement the issuer could
	// not meet.
	SteppedUp(r *http.Request, req policy.StepUp) bool
	// SignInURL is a link that starts a sign-in coming back to returnTo
	// (a same-origin path): the "Sign in" of the 401 page.
	SignInURL(returnTo string) string
	// OwnsCookie says which cookies are the gateway's own; they are not
	// forwarded upstream.
	OwnsCookie(name string) bool
}

// BrowserPathPrefix is where the Browser's endpoints live. When browser
// login is on, these paths are the gateway's, whatever the routes say.
const BrowserPathPrefix = "/oauth2/"

// browserRouteLabel is the route label of /oauth2/* requests in the
// metrics; route names cannot contain "/", so it never collides.
const browserRouteLabel = "/oauth2/"

// serveBrowserEndpoint hands /oauth2/* to the Browser and reports whether
// it did.
func (p *Proxy) serveBrowserEndpoint(w *statusWriter, r *http.Request) bool {
	if p.cfg.Browser == nil || !strings.HasPrefix(r.URL.Path, BrowserPathPrefix) {
		return false
	}
	p.cfg.Browser.ServeHTTP(w, r)
	p.count(browserRouteLabel, r.Method, w.status())
	return true
}

// browserCredential is the credential of a request to a protected route
// that sent no Authorization or API key header, on a route that takes
// browser sessions (Situation.takesSession: on_missing_token: login, or a
// request that prefers HTML): the browser session's access token, if
// there is one. The returned request carries the token as
// "Authorization: Bearer", so the upstream sees what an API caller's
// request shows. Without a session, the request goes on without a
// credential, and AnswerFor says whether it is sent to login.
//
// For forward auth (e non-nil) the token is the session's unexpired one,
// never refreshed (Browser.SessionToken), and the request is as it was:
// the edge gets the token in admit's answer.
func (p *Proxy) browserCredential(w http.ResponseWriter, r *http.Request, e *edge) (*http.Request, authority.Credential) {
	if e != nil {
		if tok, ok := p.cfg.Browser.SessionToken(r); ok {
			return r, authority.Credential{Source: authority.SourceCookie, Token: tok}
		}
		return r, authority.Credential{}
	}
	tok, ok := p.cfg.Browser.AccessToken(w, r)
	if !ok {
		return r, authority.Credential{}
	}
	r2 := r.WithContext(r.Context()) // a shallow copy, with its own headers
	r2.Header = r.Header.Clone()
	r2.Header.Set("Authorization", "Bearer "+tok)
	return r2, authority.Credential{Source: authority.SourceCookie, Token: tok}
}

// loginRedirectable: a request a login redirect can help — a GET or HEAD
// whose Accept names text/html. API callers never get redirects.
func loginRedirectable(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	html, _ := acceptQ(r)
	return html > 0
}

// prefersHTML: Accept names text/html (or XHTML) with a quality no lower
// than any other explicitly named type — a browser navigating, not a
// script fetching JSON. Wildcards count for neither.
func prefersHTML(r *http.Request) bool {
	html, other := acceptQ(r)
	return html > 0 && html >= other
}

// acceptQ returns the highest quality (RFC 9110 §12.5.1) given to HTML
// and to any other explicit media type; -1 when not named.
func acceptQ(r *http.Request) (html, other float64) {
	html, other = -1, -1
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") { // no allocation: refusals for API clients read it too
			mt, params, _ := strings.Cut(part, ";")
			mt = strings.ToLower(strings.TrimSpace(mt))
			q := 1.0
			for prm := range strings.SplitSeq(params, ";") {
				k, val, ok := strings.Cut(prm, "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
					if err != nil || f < 0 || f > 1 {
						f = 0
					}
					q = f
				}
			}
			switch mt {
			case "":
			case "text/html", "application/xhtml+xml":
				html = max(html, q)
			case "*/*", "text/*", "application/*":
			default:
				other = max(other, q)
			}
		}
	}
	return html, other
}

// stripGatewayCookies removes the gateway's own cookies (the browser
// session) from the upstream request, keeping every other cookie as sent
// (SPEC §4: "The browser cookie is not forwarded").
func (p *Proxy) stripGatewayCookies(pr *httputil.ProxyRequest) {
	if p.cfg.Browser == nil {
		return
	}
	h := pr.Out.Header
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var kept []string
	changed := false
	for _, line := range lines {
		for _, c := range strings.Split(line, ";") {
			c = strings.TrimSpace(c)
			if c == "" {
				continue
			}
			name, _, _ := strings.Cut(c, "=")
			if p.cfg.Browser.OwnsCookie(strings.TrimSpace(name)) {
				changed = true
				continue
			}
			kept = append(kept, c)
		}
	}
	if !changed {
		return
	}
	if len(kept) == 0 {
		h.Del("Cookie")
		return
	}
	h.Set("Cookie", strings.Join(kept, "; "))
}
