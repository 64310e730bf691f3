package config

import "strings"

// CheckApp validates an app created at run time (admin API) by the same
// rules as apps in the file, against f's users; defaults are applied to a
// first. It does not check that a.URI is new: the store does that. Paths
// in the problems start at "app" ("app.redirect_uris[0]"); an
// identity_providers id must name one of f's providers.
func CheckApp(f *File, a *App) Problems {
	g := &File{Users: f.Users, Apps: []App{*a}}
	// The providers' ids only: the providers themselves were checked with
	// the file, and copies keep applyDefaults from writing into f's.
	for _, p := range f.IdentityProviders {
		g.IdentityProviders = append(g.IdentityProviders, IdentityProvider{ID: p.ID})
	}
	applyDefaults(g, map[string]bool{})
	*a = g.Apps[0]
	v := &validator{f: g, c: newCollector()}
	v.apps(v.users())
	var out Problems
	for _, p := range v.c.problems() {
		if !strings.HasPrefix(p.Path, "apps[0]") {
			continue // a users problem belongs to the file, not this app
		}
		p.Path = "app" + strings.TrimPrefix(p.Path, "apps[0]")
		out = append(out, p)
	}
	return out
}
