package policy

import (
	"strings"
	"testing"
)

// FuzzMatch builds a route set from two fuzzed routes placed in front of
// the SPEC example routes and checks Match's invariants for a fuzzed
// request:
//   - it never panics (nor does Compile, Decide or Authorize);
//   - a match really satisfies its route's method and path rules;
//   - first match wins: no earlier route also matches;
//   - no match means no route matches;
//   - a non-canonical path never matches;
//   - a near miss (NearMisses) comes before the match, if any, and does
//     not take the request itself.
//
// Seed corpus: testdata/fuzz/FuzzMatch.
func FuzzMatch(f *testing.F) {
	f.Add("/api/", false, "GET HEAD", "/api/domain", true, "", "GET", "/api/domain/x")
	f.Add("/api", false, "", "/api/health", true, "POST", "HEAD", "/apix")
	f.Add("/", false, "", "/", true, "", "DELETE", "/api/health/../domain/x")
	f.Add("/a/b/", false, "PUT", "/a/b", false, "GET", "PUT", "/a/b/")
	f.Add("api", true, "get", "/x//y", false, "", "GET", "/x//y")
	f.Add("/api/public/", false, "", "/", true, "", "GET", "/api/public/x/..;/..;/domain")
	f.Add("/a/", false, "", "/a/b", true, "", "GET", "/a/.;x/b")
	f.Add("/", false, "", "/a", false, "", "GET", "/;x/a")
	f.Fuzz(func(t *testing.T, p1 string, exact1 bool, methods1, p2 string, exact2 bool, methods2, method, path string) {
		routes := []Route{fuzzRoute("fuzz-1", p1, exact1, methods1), fuzzRoute("fuzz-2", p2, exact2, methods2)}
		set, err := Compile(append(routes, specRoutes()...))
		if err != nil {
			// Invalid fuzzed routes: check the example routes alone.
			set = mustCompile(t, specRoutes())
		}

		idx, r, ok := set.Match(method, path)
		for _, nm := range set.NearMisses(method, path) {
			if refMatch(nm.Route, method, path) || (ok && nm.Index >= idx) || nm.Route != &set.routes[nm.Index] || nm.Why == "" {
				t.Fatalf("NearMisses(%q, %q) names route %d %+v (%q); the match is %d", method, path, nm.Index, *nm.Route, nm.Why, idx)
			}
		}
		d := set.Decide(Facts{Method: method, Path: path, Authenticated: true, Audiences: []string{"DomainAPI"}, Scopes: []string{"read"}})
		if ok != (d.Outcome != NoRoute) {
			t.Fatalf("Match ok=%v but Decide = %v", ok, d)
		}

		if !ok {
			if idx != -1 || r != nil {
				t.Fatalf("no match returned %d, %v", idx, r)
			}
			for i, rr := range set.routes {
				if refMatch(&rr, method, path) {
					t.Fatalf("Match(%q, %q): no match, but route %d %+v matches", method, path, i, rr)
				}
			}
			return
		}
		if !ValidPath(path) || !refValidPath(path) {
			t.Fatalf("Match(%q, %q) matched a non-canonical path", method, path)
		}
		if r != &set.routes[idx] {
			t.Fatalf("Match returned index %d but another route", idx)
		}
		if !refMatch(r, method, path) {
			t.Fatalf("Match(%q, %q) = route %d %+v, which does not match", method, path, idx, *r)
		}
		for i := 0; i < idx; i++ {
			if refMatch(&set.routes[i], method, path) {
				t.Fatalf("Match(%q, %q) = route %d, but earlier route %d %+v matches too", method, path, idx, i, set.routes[i])
			}
		}
		if d.Route != r {
			t.Fatalf("Decide picked another route than Match")
		}
	})
}

func fuzzRoute(name, p string, exact bool, methods string) Route {
	r := Route{Name: name, Public: true, Methods: strings.Fields(methods)}
	if exact {
		r.Path = p
	} else {
		r.PathPrefix = p
	}
	return r
}

// refMatch restates the matching rules of the package documentation,
// independently of the compiled form.
func refMatch(r *Route, method, path string) bool {
	if len(r.Methods) > 0 {
		found := false
		for _, m := range r.Methods {
			found = found || m == method
		}
		if !found {
			return false
		}
	}
	if !refValidPath(path) {
		return false
	}
	if r.Path != "" {
		return path == r.Path
	}
	p := r.PathPrefix
	if !strings.HasPrefix(path, p) {
		return false
	}
	// Segment boundary: the prefix ends in "/", or the path ends with the
	// prefix, or the next character of the path is "/".
	return strings.HasSuffix(p, "/") || len(path) == len(p) || path[len(p)] == '/'
}

// refValidPath is ValidPath written the slow way.
func refValidPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x7f") {
		return false
	}
	for _, c := range []byte(p) {
		if c < 0x20 {
			return false
		}
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		// A segment's name ends at its first ";" (path parameters).
		name, _, params := strings.Cut(s, ";")
		if name == "." || name == ".." || (name == "" && (params || i != len(segs)-1)) {
			return false
		}
	}
	return true
}
