package issuer

import (
	"net/http"
	"net/url"
	"strings"
)

// CORS for browser-based apps ("OAuth 2.0 for Browser-Based
// Applications" §6): a public app served from its own origin redeems its
// code, refreshes, revokes and reads userinfo with fetch. Only the
// origins of redirect URIs that enabled apps have registered are answered,
// as the directory holds them now, so an app disabled or changed at run
// time loses its origin at once. No Access-Control-Allow-Credentials:
// these endpoints take no cookies. Discovery and the JWKS are public and
// send "*" themselves (discovery.go).

// corsMaxAge is how long a browser may reuse a preflight's answer, in
// seconds: short, because the allowed origins change with the apps.
const corsMaxAge = "600"

// corsAllowHeaders are the request headers a cross-origin call may send:
// a bearer token or DPoP proof, and a form body's type.
const corsAllowHeaders = "Authorization, Content-Type, DPoP"

// corsExposeHeaders are the response headers a cross-origin caller may
// read besides the safelisted ones: why a token or client was refused
// (RFC 6750 §3), when to retry, and the nonce a DPoP proof must carry
// (RFC 9449 §8).
const corsExposeHeaders = "WWW-Authenticate, Retry-After, DPoP-Nonce"

// routeCORS mounts the CORS wrapper over the endpoints a browser app
// calls: for each, the preflight (OPTIONS) and the methods it serves
// cross-origin. These patterns name a method, so they take precedence
// over the endpoint's own (New); every other method still reaches the
// endpoint's handler unwrapped.
func (s *Server) routeCORS() {
	for _, e := range []struct {
		path    string
		methods []string
		handler http.HandlerFunc
	}{
		{"/connect/token", []string{http.MethodPost}, s.handleToken},
		{"/connect/revocation", []string{http.MethodPost}, s.handleRevoke},
		{"/connect/userinfo", []string{http.MethodGet, http.MethodPost}, s.handleUserinfo},
	} {
		h := s.cors(strings.Join(e.methods, ", "), e.handler)
		s.mux.Handle(http.MethodOptions+" "+s.prefix+e.path, h)
		for _, m := range e.methods {
			s.mux.Handle(m+" "+s.prefix+e.path, h)
		}
	}
}

// cors answers a preflight itself and adds the CORS response headers to
// next's answer when the request's Origin is an app's (Fetch Standard
// §3.2, CORS protocol). A preflight from any other origin is refused with
// 403 and no CORS headers; other requests from one are served without
// them, so the browser keeps the answer from the page.
func (s *Server) cors(methods string, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin") // the answer differs by Origin, for caches
		origin := r.Header.Get("Origin")
		allowed := origin != "" && s.appOrigin(origin)
		preflight := r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != ""
		switch {
		case preflight && !allowed:
			h.Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusForbidden)
			return
		case preflight:
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", methods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		case allowed:
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		next(w, r)
	})
}

// appOrigin reports whether origin is the origin of a redirect URI of an
// enabled app, in the directory's current records.
func (s *Server) appOrigin(origin string) bool {
	for _, a := range s.cfg.Directory.Apps() {
		if !a.Enabled {
			continue
		}
		for _, u := range a.RedirectURIs {
			if webOrigin(u) == origin {
				return true
			}
		}
	}
	return false
}

// webOrigin is the origin of an http or https URL serialised as a
// browser sends it in Origin (RFC 6454 §6.2): lower-case scheme and host,
// the port only when it is not the scheme's default. "" for any other
// URL, so it never equals an Origin header (nor "null").
func webOrigin(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" || u.Scheme != "https" && u.Scheme != "http" {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case host == "":
		return ""
	case strings.Contains(host, "%"):
		return "" // an IPv6 zone, which no browser's Origin carries
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // an IPv6 literal
	}
	o := u.Scheme + "://" + host
	if p := u.Port(); p != "" && !(u.Scheme == "https" && p == "443") && !(u.Scheme == "http" && p == "80") {
		o += ":" + p
	}
	return o
}
