package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// specRoutes are the routes of SPEC §2's example config, plus a few more
// shapes (exact path, prefix without trailing slash, browser route).
func specRoutes() []Route {
	return []Route{
		{Name: "domain-read", PathPrefix: "/api/domain/", Methods: []string{"GET", "HEAD"}, Audience: "DomainAPI", Scopes: []string{"read"}},
		{Name: "domain-write", PathPrefix: "/api/domain/", Audience: "DomainAPI", Scopes: []string{"update"}},
		{Name: "health", Path: "/api/health", Public: true},
		{Name: "table", PathPrefix: "/api/table", Methods: []string{"GET"}, Audience: "TableAPI", Scopes: []string{"read", "update"}},
		{Name: "app", PathPrefix: "/app/", Audience: "DomainAPI", OnMissingToken: OnMissingLogin},
		{Name: "root", Path: "/", Public: true},
	}
}

func mustCompile(t testing.TB, routes []Route) *Set {
	t.Helper()
	s, err := Compile(routes)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

func TestCompileErrors(t *testing.T) {
	ok := Route{Name: "ok", PathPrefix: "/ok/", Audience: "DomainAPI"}
	tests := []struct {
		name    string
		routes  []Route
		wantErr []string // substrings, each must appear; nil = no error
	}{
		{name: "spec example", routes: specRoutes()},
		{name: "empty set", routes: nil},
		{
			name:    "duplicate names",
			routes:  []Route{ok, {Name: "ok", Path: "/x", Public: true}},
			wantErr: []string{`route 1 "ok" Name: duplicates route 0`},
		},
		{
			name:    "empty name",
			routes:  []Route{{Path: "/x", Public: true}},
			wantErr: []string{`route 0 Name: must be set`},
		},
		{
			name:    "neither path nor prefix",
			routes:  []Route{{Name: "a", Public: true}},
			wantErr: []string{`route 0 "a": one of Path and PathPrefix must be set`},
		},
		{
			name:    "both path and prefix",
			routes:  []Route{{Name: "a", Path: "/a", PathPrefix: "/a/", Public: true}},
			wantErr: []string{`route 0 "a": only one of Path and PathPrefix may be set`},
		},
		{
			name:    "path without slash",
			routes:  []Route{{Name: "a", Path: "api/health", Public: true}},
			wantErr: []string{`route 0 "a" Path: "api/health" must start with "/"`},
		},
		{
			name:    "prefix without slash",
			routes:  []Route{{Name: "a", PathPrefix: "api/", Public: true}},
			wantErr: []string{`route 0 "a" PathPrefix: "api/" must start with "/"`},
		},
		{
			name:    "prefix with dot segment",
			routes:  []Route{{Name: "a", PathPrefix: "/api/../x/", Public: true}},
			wantErr: []string{`route 0 "a" PathPrefix: "/api/../x/" is not a canonical path`},
		},
		{
			name:    "public with scopes",
			routes:  []Route{{Name: "pub", Path: "/p", Public: true, Scopes: []string{"read"}}},
			wantErr: []string{`route 0 "pub" Scopes: a public route cannot require scopes`},
		},
		{
			name:    "public with audience",
			routes:  []Route{{Name: "pub", Path: "/p", Public: true, Audience: "DomainAPI"}},
			wantErr: []string{`route 0 "pub" Audience: a public route cannot require an audience`},
		},
		{
			name:    "protected without audience",
			routes:  []Route{{Name: "p", Path: "/p", Scopes: []string{"read"}}},
			wantErr: []string{`route 0 "p" Audience: must be set unless the route is public`},
		},
		{
			name:    "lower-case method",
			routes:  []Route{{Name: "m", Path: "/m", Public: true, Methods: []string{"get"}}},
			wantErr: []string{`route 0 "m" Methods: "get" must be upper-case`},
		},
		{
			name:    "method not a token",
			routes:  []Route{{Name: "m", Path: "/m", Public: true, Methods: []string{"GET PUT"}}},
			wantErr: []string{`route 0 "m" Methods: "GET PUT" is not an HTTP method`},
		},
		{
			name:    "duplicate method",
			routes:  []Route{{Name: "m", Path: "/m", Public: true, Methods: []string{"GET", "GET"}}},
			wantErr: []string{`route 0 "m" Methods: "GET" is listed twice`},
		},
		{
			name:    "bad scope",
			routes:  []Route{{Name: "s", Path: "/s", Audience: "A", Scopes: []string{"read update"}}},
			wantErr: []string{`route 0 "s" Scopes: "read update" is not a scope`},
		},
		{
			name:    "duplicate scope",
			routes:  []Route{{Name: "s", Path: "/s", Audience: "A", Scopes: []string{"read", "read"}}},
			wantErr: []string{`route 0 "s" Scopes: "read" is listed twice`},
		},
		{
			name:    "bad on_missing_token",
			routes:  []Route{{Name: "o", Path: "/o", Audience: "A", OnMissingToken: "redirect"}},
			wantErr: []string{`route 0 "o" OnMissingToken: "redirect" is neither "unauthorized" nor "login"`},
		},
		{
			name: "every problem in one pass",
			routes: []Route{
				{Name: "a", Path: "x", Public: true},
				{Name: "a", PathPrefix: "/y/", Audience: "A", Methods: []string{"post"}},
			},
			wantErr: []string{`route 0 "a" Path:`, `route 1 "a" Name: duplicates route 0`, `route 1 "a" Methods: "post"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile(tt.routes)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Compile: unexpected error: %v", err)
				}
				if s.Len() != len(tt.routes) {
					t.Fatalf("Len = %d, want %d", s.Len(), len(tt.routes))
				}
				return
			}
			if err == nil {
				t.Fatalf("Compile: no error, want %q", tt.wantErr)
			}
			if s != nil {
				t.Errorf("Compile returned a Set with an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			var re *RouteError
			if !errors.As(err, &re) {
				t.Errorf("error is not a *RouteError: %T", err)
			}
		})
	}
}

func TestRouteErrorFields(t *testing.T) {
	_, err := Compile([]Route{{Name: "ok", Path: "/ok", Public: true}, {Name: "bad", PathPrefix: "nope", Public: true}})
	var re *RouteError
	if !errors.As(err, &re) {
		t.Fatalf("want *RouteError, got %v", err)
	}
	want := RouteError{Index: 1, Name: "bad", Field: "PathPrefix", Msg: `"nope" must start with "/"`}
	if *re != want {
		t.Errorf("RouteError = %+v, want %+v", *re, want)
	}
}

func TestMatch(t *testing.T) {
	s := mustCompile(t, specRoutes())
	tests := []struct {
		name, method, path string
		want               string // route name, "" = no match
		wantIdx            int
	}{
		{name: "read GET", method: "GET", path: "/api/domain/odata/General_Contacts_Persons", want: "domain-read", wantIdx: 0},
		{name: "read HEAD listed", method: "HEAD", path: "/api/domain/x", want: "domain-read", wantIdx: 0},
		{name: "write falls through on POST", method: "POST", path: "/api/domain/x", want: "domain-write", wantIdx: 1},
		{name: "any method route takes DELETE", method: "DELETE", path: "/api/domain/x", want: "domain-write", wantIdx: 1},
		{name: "prefix with trailing slash matches itself", method: "GET", path: "/api/domain/", want: "domain-read"},
		{name: "prefix with trailing slash: no slash no match", method: "GET", path: "/api/domain", want: ""},
		{name: "prefix with trailing slash: not a sibling", method: "GET", path: "/api/domainx", want: ""},
		{name: "exact path", method: "GET", path: "/api/health", want: "health", wantIdx: 2},
		{name: "exact path any method", method: "POST", path: "/api/health", want: "health", wantIdx: 2},
		{name: "exact path: no trailing slash variant", method: "GET", path: "/api/health/", want: ""},
		{name: "exact path: no sub path", method: "GET", path: "/api/health/x", want: ""},
		{name: "bare prefix matches itself", method: "GET", path: "/api/table", want: "table", wantIdx: 3},
		{name: "bare prefix matches below", method: "GET", path: "/api/table/Items", want: "table", wantIdx: 3},
		{name: "bare prefix with trailing slash", method: "GET", path: "/api/table/", want: "table", wantIdx: 3},
		{name: "bare prefix segment boundary", method: "GET", path: "/api/tablex", want: ""},
		{name: "bare prefix segment boundary deeper", method: "GET", path: "/api/tables/x", want: ""},
		{name: "GET only route refuses HEAD (no implicit HEAD)", method: "HEAD", path: "/api/table/x", want: ""},
		{name: "methods are case-sensitive", method: "get", path: "/api/table/x", want: ""},
		{name: "path is case-sensitive", method: "GET", path: "/API/health", want: ""},
		{name: "root exact", method: "GET", path: "/", want: "root", wantIdx: 5},
		{name: "nothing", method: "GET", path: "/other", want: ""},
		{name: "empty path", method: "GET", path: "", want: ""},
		{name: "relative path", method: "GET", path: "api/health", want: ""},
		{name: "dot-dot escape from public route", method: "GET", path: "/api/health/../domain/x", want: ""},
		{name: "dot-dot inside prefix", method: "GET", path: "/api/domain/../../admin", want: ""},
		{name: "trailing dot-dot", method: "GET", path: "/api/domain/x/..", want: ""},
		{name: "dot segment", method: "GET", path: "/api/domain/./x", want: ""},
		{name: "double slash", method: "GET", path: "/api/domain//x", want: ""},
		{name: "backslash", method: "GET", path: `/api/domain/x\..\..\admin`, want: ""},
		{name: "NUL", method: "GET", path: "/api/domain/x\x00", want: ""},
		{name: "dots inside a segment are fine", method: "GET", path: "/api/domain/a..b/.x/x.", want: "domain-read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, r, ok := s.Match(tt.method, tt.path)
			if tt.want == "" {
				if ok {
					t.Fatalf("Match(%q, %q) = %d %q, want no match", tt.method, tt.path, idx, r.Name)
				}
				if r != nil || idx != -1 {
					t.Fatalf("no match must return -1, nil; got %d, %v", idx, r)
				}
				return
			}
			if !ok {
				t.Fatalf("Match(%q, %q): no match, want %q", tt.method, tt.path, tt.want)
			}
			if r.Name != tt.want || idx != tt.wantIdx {
				t.Fatalf("Match(%q, %q) = %d %q, want %d %q", tt.method, tt.path, idx, r.Name, tt.wantIdx, tt.want)
			}
			if got := s.routes[idx].Name; got != r.Name {
				t.Fatalf("index %d names %q, route is %q", idx, got, r.Name)
			}
		})
	}
}

func TestMatchSlashPrefix(t *testing.T) {
	s := mustCompile(t, []Route{{Name: "all", PathPrefix: "/", Public: true}})
	for _, p := range []string{"/", "/a", "/a/b/"} {
		if _, _, ok := s.Match("GET", p); !ok {
			t.Errorf("PathPrefix / does not match %q", p)
		}
	}
}

func TestNilSet(t *testing.T) {
	var s *Set
	if _, _, ok := s.Match("GET", "/"); ok {
		t.Error("nil Set matched")
	}
	if s.Routes() != nil || s.Len() != 0 {
		t.Error("nil Set has routes")
	}
	if d := s.Decide(Facts{Method: "GET", Path: "/"}); d.Outcome != NoRoute {
		t.Errorf("nil Set Decide = %v", d)
	}
}

func TestValidPath(t *testing.T) {
	tests := []struct {
		name, path string
		want       bool
	}{
		{name: "root", path: "/", want: true},
		{name: "plain", path: "/a/b", want: true},
		{name: "trailing slash", path: "/a/b/", want: true},
		{name: "dots in names", path: "/a.b/..c/c../.d/...", want: true},
		{name: "encoded stays decoded", path: "/a%2Fb", want: true},
		{name: "unicode", path: "/api/domain/Ürün", want: true},
		{name: "empty", path: "", want: false},
		{name: "relative", path: "a", want: false},
		{name: "double slash", path: "//a", want: false},
		{name: "double slash at end", path: "/a//", want: false},
		{name: "dot", path: "/.", want: false},
		{name: "dot dot", path: "/..", want: false},
		{name: "dot middle", path: "/a/./b", want: false},
		{name: "dot dot middle", path: "/a/../b", want: false},
		{name: "dot dot trailing slash", path: "/a/../", want: false},
		{name: "backslash", path: `/a\b`, want: false},
		{name: "control", path: "/a\nb", want: false},
		{name: "DEL", path: "/a\x7f", want: false},
		// Path parameters (RFC 3986 §3.3): servlet containers strip them
		// before they resolve dot segments.
		{name: "parameters on a name", path: "/a;jsessionid=1/b;v=2", want: true},
		{name: "dots and parameters in a name", path: "/a/..x;y/.b;/c..;", want: true},
		{name: "semicolon inside a name", path: "/a/b;..", want: true},
		{name: "dot dot with parameter", path: "/api/public/x/..;/..;/domain", want: false},
		{name: "dot dot with named parameter", path: "/a/..;x=1/b", want: false},
		{name: "dot with parameter", path: "/a/.;x/b", want: false},
		{name: "dot dot with parameter at end", path: "/a/..;", want: false},
		{name: "dot with parameter first", path: "/.;/a", want: false},
		{name: "empty name with parameter", path: "/a/;x/b", want: false},
		{name: "empty name with parameter first", path: "/;/api/domain", want: false},
		{name: "empty name with parameter at end", path: "/a/;", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidPath(tt.path); got != tt.want {
				t.Errorf("ValidPath(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}

func TestCompileCopiesInput(t *testing.T) {
	in := specRoutes()
	s := mustCompile(t, in)
	in[0].Methods[0] = "DELETE"
	in[0].Scopes[0] = "sec"
	in[0].PathPrefix = "/zzz/"
	_, r, ok := s.Match("GET", "/api/domain/x")
	if !ok || r.Name != "domain-read" || r.Scopes[0] != "read" {
		t.Fatalf("changing the input changed the Set: %v %+v", ok, r)
	}

	out := s.Routes()
	out[0].Methods[0] = "DELETE"
	out[0].Scopes[0] = "sec"
	_, r, _ = s.Match("GET", "/api/domain/x")
	if r.Methods[0] != "GET" || r.Scopes[0] != "read" {
		t.Fatalf("changing Routes() changed the Set: %+v", r)
	}
}

func TestRoutesDefaults(t *testing.T) {
	got := mustCompile(t, specRoutes()).Routes()
	want := specRoutes()
	for i := range want {
		if want[i].OnMissingToken == "" {
			want[i].OnMissingToken = OnMissingUnauthorized
		}
	}
	if len(got) != len(want) {
		t.Fatalf("Routes() has %d routes, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.c != nil {
			t.Errorf("route %d: Routes() leaks compiled state", i)
		}
		if g.Name != w.Name || g.Path != w.Path || g.PathPrefix != w.PathPrefix || g.Audience != w.Audience ||
			g.Public != w.Public || g.OnMissingToken != w.OnMissingToken ||
			!slices.Equal(g.Methods, w.Methods) || !slices.Equal(g.Scopes, w.Scopes) {
			t.Errorf("route %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	s := mustCompile(t, specRoutes())
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/domain/odata/General_Contacts_Persons"},
		{"POST", "/api/table/x"},
		{"GET", "/nothing/here"},
		{"GET", "/api/domain/../x"},
	} {
		if n := testing.AllocsPerRun(100, func() { s.Match(tc.method, tc.path) }); n != 0 {
			t.Errorf("Match(%q, %q) allocates %v times", tc.method, tc.path, n)
		}
	}
}
