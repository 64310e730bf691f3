package policy

import (
	"slices"
	"testing"
)

func TestNearMisses(t *testing.T) {
	s := mustCompile(t, specRoutes())
	type miss struct {
		idx int
		why string
	}
	tests := []struct {
		name, method, path string
		want               []miss
	}{
		{name: "HEAD is not implied by GET", method: "HEAD", path: "/api/table/x",
			want: []miss{{3, "matches the path but only for GET, not HEAD"}}},
		{name: "methods are case-sensitive", method: "get", path: "/api/table/x",
			want: []miss{{3, "matches the path but only for GET, not get"}}},
		{name: "prefix with trailing slash, path without", method: "GET", path: "/api/domain",
			want: []miss{{0, `matches "/api/domain/", with a trailing slash`}, {1, `matches "/api/domain/", with a trailing slash`}}},
		{name: "exact path, path with a trailing slash", method: "GET", path: "/api/health/",
			want: []miss{{2, `matches "/api/health", without the trailing slash`}}},
		{name: "two differences are no near miss", method: "POST", path: "/api/table/",
			// method and slash: "/api/table/" matches the path, so only the method counts
			want: []miss{{3, "matches the path but only for GET, not POST"}}},
		{name: "nothing near", method: "GET", path: "/other"},
		{name: "root has no slash variant", method: "GET", path: "/", want: nil},
		{name: "not canonical", method: "HEAD", path: "/api/table/../x"},
		{name: "the first route matches", method: "GET", path: "/api/domain/x"},
		{name: "misses before the match are named", method: "DELETE", path: "/api/domain/x",
			want: []miss{{0, "matches the path but only for GET HEAD, not DELETE"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []miss
			for _, nm := range s.NearMisses(tt.method, tt.path) {
				if nm.Route != &s.routes[nm.Index] {
					t.Errorf("near miss %d: Route is not the Set's route %d", nm.Index, nm.Index)
				}
				got = append(got, miss{nm.Index, nm.Why})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("NearMisses(%q, %q) = %v, want %v", tt.method, tt.path, got, tt.want)
			}
		})
	}
	// Routes after the first match are never tried: no near miss there.
	after := mustCompile(t, []Route{
		{Name: "any", PathPrefix: "/a/", Public: true},
		{Name: "get", PathPrefix: "/a/", Methods: []string{"GET"}, Public: true},
	})
	if got := after.NearMisses("DELETE", "/a/x"); got != nil {
		t.Errorf("a match ends the search: %v", got)
	}
	var nilSet *Set
	if got := nilSet.NearMisses("GET", "/"); got != nil {
		t.Errorf("nil Set: %v", got)
	}
}

// TestNearMissesAreMisses: a near miss never names a route that takes
// the request (it would not be a miss), on every row of TestMatch's kind.
func TestNearMissesAreMisses(t *testing.T) {
	s := mustCompile(t, specRoutes())
	for _, method := range []string{"GET", "HEAD", "POST", "DELETE", "get"} {
		for _, path := range []string{"/", "/api", "/api/", "/api/domain", "/api/domain/", "/api/domain/x",
			"/api/health", "/api/health/", "/api/table", "/api/table/", "/api/table/x", "/app", "/app/x", "/other/"} {
			idx, _, ok := s.Match(method, path)
			for _, nm := range s.NearMisses(method, path) {
				if ok && nm.Index >= idx {
					t.Errorf("%s %s: near miss %d %q at or after the match %d", method, path, nm.Index, nm.Why, idx)
				}
				if s.match[nm.Index].matches(method, path) {
					t.Errorf("%s %s: near miss %d takes the request", method, path, nm.Index)
				}
			}
		}
	}
}
