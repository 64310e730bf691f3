package proxy

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/clientaddr"
	"github.com/erpgate/erpgate/policy"
	"github.com/erpgate/erpgate/requestid"
)

// Forward auth (SPEC §11): an edge that forwards requests itself — nginx
// auth_request, Traefik ForwardAuth, Caddy forward_auth, Envoy's HTTP
// ext_authz — asks ForwardAuthPath whether the request it holds may
// pass. The answer is the proxy's own for that request, through the same
// serveRoute (the same authority, session and license slot, policy,
// audit and metrics): 202 with the identity headers the edge copies onto
// the upstream request, or the refusal the proxy would send. Only trusted
// proxies are answered; anyone else could name any request.

// ForwardAuthPath is the forward-auth endpoint. Envoy appends the
// original path to it (path_prefix), so the paths under it are its too.
const ForwardAuthPath = "/oauth2/auth"

// forwardAuthLabel is the route label of forward-auth requests refused
// before a route is known (untrusted peer, no original request).
const forwardAuthLabel = ForwardAuthPath

// Response headers for oauth2-proxy's drop-in names (its
// --set-xauthrequest), which edge configs written for it copy.
const (
	hdrRequestUser  = "X-Auth-Request-User"
	hdrRequestEmail = "X-Auth-Request-Email"
)

// reasonUntrustedPeer is the audit reason of a forward-auth request from
// a peer that is not in trusted_proxies.
const reasonUntrustedPeer = "untrusted_proxy"

// edge is a forward-auth request's edge: how it named the original
// request, and so how it can send a browser to sign in.
type edge struct {
	// loginStatus is the status of a login redirect: 302 for the edges
	// that relay a refusal as it is (Traefik, Caddy, Envoy); 401 for
	// nginx, whose auth_request takes nothing but 2xx, 401 and 403 — its
	// error_page 401 sends the browser to our Location (docs/forward-auth.md).
	loginStatus int
}

func isForwardAuth(path string) bool {
	return strings.HasPrefix(path, ForwardAuthPath) &&
		(len(path) == len(ForwardAuthPath) || path[len(ForwardAuthPath)] == '/')
}

// serveForwardAuth answers the edge for the original request it names.
func (p *Proxy) serveForwardAuth(w *statusWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !p.trusted(clientaddr.Peer(r)) {
		p.refuseEdge(w, r, http.StatusForbidden, reasonUntrustedPeer, "forward auth answers only the proxies in trusted_proxies")
		return
	}
	orig, loginStatus, err := originalRequest(r)
	if err != nil {
		p.refuseEdge(w, r, http.StatusBadRequest, authority.ReasonInvalidRequest, err.Error())
		return
	}
	// The proxy removes these before forwarding (hygiene.go); here the
	// edge forwards, and it may copy them on, so the request is refused.
	if name, ok := unforwardable(orig.Header); ok {
		p.refuseEdge(w, r, http.StatusBadRequest, authority.ReasonInvalidRequest, "the request carries "+name+", which only the gateway may set")
		return
	}
	p.serveRequest(w, orig, &edge{loginStatus: loginStatus})
}

// originalRequest is the request the edge holds, as it tells it: nginx
// X-Original-Method and X-Original-URI (ingress-nginx: X-Original-URL),
// Traefik and Caddy X-Forwarded-Method and X-Forwarded-Uri, Envoy the
// request's own method with the original path after ForwardAuthPath. The
// method must be named: an auth subrequest's own method is not the
// original's (nginx's is GET), and a POST judged as a GET could pass a
// route's stricter rule. The returned request keeps r's headers
// (credentials, cookies, Accept) and has no body.
func originalRequest(r *http.Request) (*http.Request, int, error) {
	h := r.Header
	method, target, host := "", "", r.Host
	status := http.StatusFound
	switch {
	case h.Get("X-Original-Uri") != "":
		method, target, status = h.Get("X-Original-Method"), h.Get("X-Original-Uri"), http.StatusUnauthorized
		if method == "" {
			return nil, 0, errors.New("X-Original-URI needs X-Original-Method (proxy_set_header X-Original-Method $request_method)")
		}
	case h.Get("X-Original-Url") != "":
		u, err := url.Parse(h.Get("X-Original-Url"))
		if err != nil || !u.IsAbs() || u.Host == "" {
			return nil, 0, errors.New("X-Original-URL is not an absolute URL")
		}
		method, target, host, status = h.Get("X-Original-Method"), u.RequestURI(), u.Host, http.StatusUnauthorized
		if method == "" {
			return nil, 0, errors.New("X-Original-URL needs X-Original-Method")
		}
	case h.Get("X-Forwarded-Uri") != "":
		method, target = h.Get("X-Forwarded-Method"), h.Get("X-Forwarded-Uri")
		if method == "" {
			return nil, 0, errors.New("X-Forwarded-Uri needs X-Forwarded-Method")
		}
		if fh := h.Get("X-Forwarded-Host"); fh != "" {
			host = fh
		}
	case len(r.URL.Path) > len(ForwardAuthPath):
		method, target = r.Method, strings.TrimPrefix(r.URL.RequestURI(), ForwardAuthPath)
	default:
		return nil, 0, errors.New("no original request: send X-Original-Method and X-Original-URI (nginx), " +
			"X-Forwarded-Method and X-Forwarded-Uri (Traefik, Caddy), or the path after " + ForwardAuthPath + "/ (Envoy path_prefix)")
	}
	if !validMethod(method) {
		return nil, 0, errors.New("the original method is not an HTTP method")
	}
	u, err := url.ParseRequestURI(target)
	if err != nil || !strings.HasPrefix(target, "/") {
		return nil, 0, errors.New("the original URI is not an absolute path (origin-form, RFC 9112 §3.2.1)")
	}
	orig := r.Clone(r.Context())
	orig.Method, orig.URL, orig.RequestURI, orig.Host = method, u, target, host
	orig.Body, orig.ContentLength, orig.GetBody = http.NoBody, 0, nil
	return orig, status, nil
}

// validMethod: a method is a token (RFC 9110 §9.1, §5.6.2).
func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// unforwardable names the first header, in any spelling, that the proxy
// would strip and an edge would forward: the identity headers (X-Auth-*,
// but for ingress-nginx's own X-Auth-Request-Redirect) and the method
// overrides (hygiene.go).
func unforwardable(h http.Header) (string, bool) {
	for k := range h {
		if len(k) < 2 || fold(k[0]) != 'x' || fold(k[1]) != '-' && k[1] != '_' && k[1] != '.' {
			continue
		}
		switch {
		case foldedHasPrefix(k, foldedAuthPrefix):
			if plainName(k) && foldedIs(k, "x-auth-request-redirect") {
				continue
			}
			return k, true
		case foldedIs(k, methodOverrides[0]), foldedIs(k, methodOverrides[1]), foldedIs(k, methodOverrides[2]):
			return k, true
		}
	}
	return "", false
}

// admit is forward auth's "forward": 202 with the identity headers for
// the edge to copy onto the upstream request. Every header is sent, empty
// when the caller has none (a service has no user id), so an edge that
// copies them overwrites whatever the client sent. Authorization is the
// token the request was judged by — the session's, for a browser — or
// empty where the route keeps the token from its upstream.
func (p *Proxy) admit(w http.ResponseWriter, r *http.Request, rt *route, c *claims.Access, token string) {
	h := w.Header()
	h.Set(requestid.Header, requestid.From(r.Context()))
	var subject, clientID, scope, sessionID, userID, userType, email string
	if c != nil {
		subject, clientID, scope, sessionID = c.Principal(), c.ClientID, c.ScopeString(), c.SessionID
		userID, userType, email = c.UserID, c.PrincipalType(), c.Email
	}
	if rt.upstream.StripAuthorization || c == nil {
		token = ""
	}
	for _, kv := range [...][2]string{
		{hdrSubject, subject}, {hdrClientID, clientID}, {hdrScope, scope}, {hdrSession, sessionID},
		{hdrUserID, userID}, {hdrUserType, userType},
		{hdrRequestUser, subject}, {hdrRequestEmail, email},
	} {
		h[kv[0]] = []string{kv[1]}
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	} else {
		h["Authorization"] = []string{""}
	}
	w.WriteHeader(http.StatusAccepted)
}

// edgeLogin sends the browser to sign in through StartPath, which the
// edge serves from the gateway as an ordinary response (cookies and all),
// coming back to the original URI: refresh=1 has it refresh a session
// whose token expired and come straight back. A session whose token is
// still unexpired here was refused: reauth=1 clears it there. A step-up
// (req non-zero) keeps the session and asks the issuer for acr_values
// and max_age there (RFC 9470 §4).
func (p *Proxy) edgeLogin(w http.ResponseWriter, r *http.Request, e *edge, req policy.StepUp) {
	u := p.cfg.Browser.SignInURL(returnTo(r))
	switch _, ok := p.cfg.Browser.SessionToken(r); {
	case !req.IsZero():
		if req.ACR != "" {
			u += "&acr_values=" + url.QueryEscape(req.ACR)
		}
		if ma := req.MaxAgeSeconds(); ma != "" {
			u += "&max_age=" + ma
		}
	case ok:
		u += "&reauth=1"
	default:
		u += "&refresh=1"
	}
	w.Header().Set("Location", u)
	if e.loginStatus == http.StatusUnauthorized {
		a := missing.Answer()
		if !req.IsZero() {
			a = authority.InsufficientUserAuthentication(req.ACR, req.MaxAgeSeconds())
		}
		authority.WriteAnswer(w, a)
		return
	}
	w.WriteHeader(e.loginStatus)
}

// refuseEdge answers a forward-auth request refused before its route is
// known, audits and counts it.
func (p *Proxy) refuseEdge(w *statusWriter, r *http.Request, status int, reason, detail string) {
	ctx := r.Context()
	p.cfg.Metrics.AuthDecisions.WithLabelValues(forwardAuthLabel, "deny", reason).Inc()
	p.cfg.Audit.Log(ctx, audit.Event{
		Name: audit.AccessDenied, RequestID: requestid.From(ctx), RemoteAddr: r.RemoteAddr, Reason: reason,
		Attrs: []slog.Attr{slog.String("route", forwardAuthLabel), slog.String("detail", detail)},
	})
	code := "invalid_request"
	if status == http.StatusForbidden {
		code = "forbidden"
	}
	authority.WriteJSONError(w, status, authority.ErrorBody{Error: code, Description: detail})
	p.count(forwardAuthLabel, r.Method, w.status())
}
