package config

import (
	"fmt"
	"github.com/erpgate/erpgate/webui"
	"net/url"
	"slices"
	"strings"
)

// Warnings returns advice about a valid File: settings that are legal but
// probably not what was meant. They never stop the gateway; `erpgate
// check` prints them. The list is empty when there is nothing to say.
func (f *File) Warnings() []Problem {
	var w []Problem
	add := func(path, format string, args ...any) {
		w = append(w, Problem{path, fmt.Sprintf(format, args...)})
	}

	if u, err := url.Parse(f.PublicURL); err == nil && u.Scheme == "http" {
		if !isLoopbackHost(u.Hostname()) {
			add("public_url", "plain http on a non-loopback host: passwords, tokens and cookies cross the network unencrypted")
		}
		if f.TLS.Enabled() {
			add("public_url", "tls is configured but public_url uses http")
		}
	}

	if p := f.UI.Colors.Primary; p != "" {
		if c := webui.PrimaryContrast(p); c > 0 && c < 4.5 {
			add("ui.colors.primary", "button text on %s has a contrast of %.1f:1, below WCAG's 4.5:1; pick a darker or lighter colour", p, c)
		}
	}

	if f.Store.Driver == DriverMemory {
		add("store.driver", "the memory store loses keys, sessions and tokens on restart; use it for tests only")
	}

	for i, a := range f.Apps {
		p := fmt.Sprintf("apps[%d]", i)
		if a.Type == AppPublic && len(a.RedirectURIs) == 0 {
			add(p+".redirect_uris", "a public app without redirect URIs cannot obtain tokens")
		}
		if f.Gateway.ClientID != "" && a.URI == f.Gateway.ClientID && len(a.RedirectURIs) > 0 {
			callback := f.PublicURL + "/oauth2/callback"
			if !slices.Contains(a.RedirectURIs, callback) {
				add(p+".redirect_uris", "the gateway's app does not list %s; browser login at the proxy will fail", callback)
			}
		}
	}

	if len(f.Routes) == 0 {
		add("routes", "no routes: every proxied request gets 404")
	}
	for j, r := range f.Routes {
		p := fmt.Sprintf("routes[%d]", j)
		for i, earlier := range f.Routes[:j] {
			if covers(earlier.Match, r.Match) {
				add(p+".match", "never matches: routes[%d] (%q) comes first and matches every request this route would", i, earlier.Name)
				break
			}
		}
		if !r.Public && len(r.Scopes) == 0 {
			add(p+".scopes", "no scopes required: any valid token for audience %q is accepted", r.Audience)
		}
		for _, own := range f.gatewayPaths() {
			if pattern := r.Match.Path + r.Match.PathPrefix; prefixMatches(own, pattern) {
				add(p+".match", "never matches: the gateway serves %s itself", own)
				break
			}
		}
	}
	return w
}

// gatewayPaths are the path prefixes the gateway answers before any route
// is tried: the issuer's, protected-resource metadata (RFC 9728), RFC
// 8414's metadata, and browser login's /oauth2/ when it is on.
func (f *File) gatewayPaths() []string {
	ps := []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-authorization-server"}
	if u, err := url.Parse(f.Issuer()); err == nil {
		ps = append(ps, u.Path)
	}
	if f.Gateway.Enabled() {
		ps = append(ps, "/oauth2/")
	}
	return ps
}

// covers reports whether every request b matches is also matched by a:
// a matches all methods or a superset of b's, and every path b matches
// a matches too (see Match for the segment-boundary prefix rule).
func covers(a, b Match) bool {
	if len(a.Methods) > 0 {
		if len(b.Methods) == 0 {
			return false
		}
		for _, m := range b.Methods {
			if !slices.Contains(a.Methods, m) {
				return false
			}
		}
	}
	switch {
	case a.Path != "":
		return b.Path == a.Path
	case a.PathPrefix != "":
		if b.Path != "" {
			return prefixMatches(a.PathPrefix, b.Path)
		}
		// Every path b's prefix matches extends b.PathPrefix, and a
		// segment-boundary prefix that matches a path matches its
		// extensions too.
		return b.PathPrefix != "" && prefixMatches(a.PathPrefix, b.PathPrefix)
	}
	return false
}

// prefixMatches reports whether path_prefix prefix matches path p.
func prefixMatches(prefix, p string) bool {
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(p, prefix)
	}
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}
