package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// What a route does when a request carries no credentials.
const (
	OnMissingUnauthorized = "unauthorized" // 401 with WWW-Authenticate (the default)
	OnMissingLogin        = "login"        // 302 to the gateway's browser login
)

// Route is one entry of the config's routes list, as plain data. The
// gateway's wiring builds it from the config; Compile validates it.
// Exactly one of Path and PathPrefix is set.
type Route struct {
	Name           string   // unique, used in metrics, audit lines and errors
	Path           string   // exact path match, or
	PathPrefix     string   // prefix match on a segment boundary
	Methods        []string // upper-case; empty = any method; HEAD is not implied by GET
	Audience       string   // required token audience ("" for public routes)
	Scopes         []string // all required
	Public         bool     // no credentials needed
	OnMissingToken string   // OnMissingUnauthorized (default, also for "") or OnMissingLogin
	// AllowCommunityUsers lets community users' tokens through; API
	// routes refuse them otherwise (the credential authority's door).
	AllowCommunityUsers bool
	// RequireAuth is what the route demands of the user's sign-in (RFC
	// 9470, stepup.go); the zero value demands nothing.
	RequireAuth StepUp

	// Filled by Compile so that an allowing Authorize does not allocate.
	// Nil on routes built by hand and on copies returned by Set.Routes.
	c *compiled
}

// compiled holds what Compile precomputes for Authorize.
type compiled struct {
	allowDetail string // Decision.Detail when allowed
}

// matcher is the part of a route Match looks at, kept in a compact slice
// of its own so the linear scan stays in cache.
type matcher struct {
	pattern      string   // Path or PathPrefix
	slashPattern string   // PathPrefix + "/" when PathPrefix has no trailing slash
	exact        bool     // Path is set
	methods      []string // empty = any
}

// Set is an immutable, compiled snapshot of the routes, safe for concurrent
// use. Build one with Compile; the zero value and nil match nothing.
type Set struct {
	routes []Route
	match  []matcher // match[i] is routes[i]'s
}

// RouteError is one problem Compile found. Compile returns all of them
// joined with errors.Join; use errors.As to get the first, or unwrap the
// join to map each to a config path.
type RouteError struct {
	Index int    // position in the slice passed to Compile
	Name  string // the route's name, may be empty
	Field string // Go field name of Route ("Path", "Methods", …), "" for the route as a whole
	Msg   string
}

func (e *RouteError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy: route %d", e.Index)
	if e.Name != "" {
		fmt.Fprintf(&b, " %q", e.Name)
	}
	if e.Field != "" {
		b.WriteString(" ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Compile validates routes and builds a Set. It gathers every problem in
// one pass: duplicate or empty names, neither or both of Path and
// PathPrefix, a path not starting with "/" or not canonical, bad or
// duplicate methods and scopes, public routes with scopes or an audience,
// protected routes without an audience, and unknown OnMissingToken values.
// The Set keeps deep copies; later changes to routes do not affect it.
func Compile(routes []Route) (*Set, error) {
	var errs []error
	fail := func(i int, field, format string, args ...any) {
		errs = append(errs, &RouteError{Index: i, Name: routes[i].Name, Field: field, Msg: fmt.Sprintf(format, args...)})
	}

	seen := make(map[string]int, len(routes))
	out := make([]Route, len(routes))
	match := make([]matcher, len(routes))
	for i, in := range routes {
		r := in.clone()

		switch prev, dup := seen[r.Name]; {
		case r.Name == "":
			fail(i, "Name", "must be set")
		case dup:
			fail(i, "Name", "duplicates route %d", prev)
		default:
			seen[r.Name] = i
		}

		m := matcher{methods: r.Methods}
		switch {
		case r.Path == "" && r.PathPrefix == "":
			fail(i, "", "one of Path and PathPrefix must be set")
		case r.Path != "" && r.PathPrefix != "":
			fail(i, "", "only one of Path and PathPrefix may be set")
		case r.Path != "":
			m.exact, m.pattern = true, r.Path
			checkPattern(i, "Path", r.Path, fail)
		default:
			m.pattern = r.PathPrefix
			if !strings.HasSuffix(r.PathPrefix, "/") {
				m.slashPattern = r.PathPrefix + "/"
			}
			checkPattern(i, "PathPrefix", r.PathPrefix, fail)
		}

		for j, meth := range r.Methods {
			switch {
			case !isToken(meth):
				fail(i, "Methods", "%q is not an HTTP method", meth)
			case strings.ToUpper(meth) != meth:
				fail(i, "Methods", "%q must be upper-case", meth)
			case slices.Contains(r.Methods[:j], meth):
				fail(i, "Methods", "%q is listed twice", meth)
			}
		}
		for j, s := range r.Scopes {
			switch {
			case !isScopeToken(s):
				fail(i, "Scopes", "%q is not a scope (RFC 6749 §3.3)", s)
			case slices.Contains(r.Scopes[:j], s):
				fail(i, "Scopes", "%q is listed twice", s)
			}
		}

		if r.Public {
			if len(r.Scopes) > 0 {
				fail(i, "Scopes", "a public route cannot require scopes")
			}
			if r.Audience != "" {
				fail(i, "Audience", "a public route cannot require an audience")
			}
		} else if r.Audience == "" {
			fail(i, "Audience", "must be set unless the route is public")
		}

		r.RequireAuth.check(i, r.Public, fail)

		switch r.OnMissingToken {
		case "":
			r.OnMissingToken = OnMissingUnauthorized
		case OnMissingUnauthorized, OnMissingLogin:
		default:
			fail(i, "OnMissingToken", "%q is neither %q nor %q", r.OnMissingToken, OnMissingUnauthorized, OnMissingLogin)
		}

		r.c = &compiled{allowDetail: describeAllow(&r)}
		out[i], match[i] = r, m
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Set{routes: out, match: match}, nil
}

func checkPattern(i int, field, p string, fail func(int, string, string, ...any)) {
	if !strings.HasPrefix(p, "/") {
		fail(i, field, "%q must start with \"/\"", p)
	} else if !ValidPath(p) {
		fail(i, field, "%q is not a canonical path (empty or dot segments, backslashes or control characters)", p)
	}
}

// Routes returns a copy of the compiled routes in order, with
// OnMissingToken filled in.
func (s *Set) Routes() []Route {
	if s == nil {
		return nil
	}
	out := make([]Route, len(s.routes))
	for i := range s.routes {
		out[i] = s.routes[i].clone()
	}
	return out
}

// Len returns the number of routes.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.routes)
}

// Match returns the index (into the slice given to Compile) and route of
// the first route matching method and path, or ok=false. path is the
// decoded URL path (r.URL.Path); a path that is not canonical (see
// ValidPath) matches nothing. The returned route belongs to the Set and
// must not be modified. Match does not allocate.
func (s *Set) Match(method, path string) (idx int, r *Route, ok bool) {
	if s == nil || !ValidPath(path) {
		return -1, nil, false
	}
	for i := range s.match {
		if s.match[i].matches(method, path) {
			return i, &s.routes[i], true
		}
	}
	return -1, nil, false
}

// matches reports whether method and path satisfy the route.
func (m *matcher) matches(method, path string) bool {
	return m.matchesPath(path) && m.matchesMethod(method)
}

// matchesPath reports whether path satisfies the route's Path or
// PathPrefix.
func (m *matcher) matchesPath(path string) bool {
	switch {
	case m.exact:
		return path == m.pattern
	case m.slashPattern == "": // prefix ends in "/"
		return strings.HasPrefix(path, m.pattern)
	}
	// segment boundary: "/api" matches "/api" and "/api/…"
	return path == m.pattern || strings.HasPrefix(path, m.slashPattern)
}

// matchesMethod reports whether the route takes method.
func (m *matcher) matchesMethod(method string) bool {
	if len(m.methods) == 0 {
		return true
	}
	for _, x := range m.methods {
		if x == method {
			return true
		}
	}
	return false
}

// ValidPath reports whether p is a canonical, already-decoded URL path:
// it starts with "/", has no empty segment ("//"), no "." or ".." segment,
// no backslash and no control characters. A trailing slash is allowed.
// A segment's name is what comes before its first ";" (RFC 3986 §3.3
// path parameters, which Tomcat, Jetty and other servlet containers
// strip before they resolve dot segments): "..;x", ".;" and ";x" are
// dot and empty segments too, so "/api/public/..;/domain" is refused
// rather than forwarded to an upstream that reads it as "/api/domain".
// Match refuses anything else, so a proxy may answer 400 for it instead
// of 404. ValidPath does not allocate.
func ValidPath(p string) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	for i := 1; i < len(p); i++ {
		c := p[i]
		if c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
		if p[i-1] != '/' {
			continue
		}
		// c starts a segment.
		switch c {
		case '/', ';': // empty segment (a trailing slash never gets here), or an empty name with parameters
			return false
		case '.': // "." or ".." segment, perhaps with ";" parameters?
			j := i + 1
			if j < len(p) && p[j] == '.' {
				j++
			}
			if j == len(p) || p[j] == '/' || p[j] == ';' {
				return false
			}
		}
	}
	return true
}

func (r Route) clone() Route {
	r.Methods = slices.Clone(r.Methods)
	r.Scopes = slices.Clone(r.Scopes)
	r.c = nil
	return r
}

// isToken reports whether s is an RFC 9110 §5.6.2 token (a method name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isScopeToken reports whether s is a scope-token: 1*( %x21 / %x23-5B /
// %x5D-7E ) (RFC 6749 §3.3).
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
