package policy

import (
	"slices"
	"testing"
)

func TestProtecting(t *testing.T) {
	set, err := Compile([]Route{
		{Name: "health", Path: "/api/health", Public: true},
		{Name: "status", Path: "/api/status", Methods: []string{"GET"}, Public: true},
		{Name: "write", PathPrefix: "/api", Methods: []string{"POST", "PUT"}, Audience: "DomainAPI", Scopes: []string{"update"}},
		{Name: "read", PathPrefix: "/api", Audience: "DomainAPI", Scopes: []string{"read"}},
		{Name: "shadowed", PathPrefix: "/api/x", Audience: "DomainAPI", Scopes: []string{"sec"}},
		{Name: "docs", PathPrefix: "/docs", Public: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	names := func(rs []*Route) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return out
	}
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/api/orders", []string{"write", "read"}},
		{"/api", []string{"write", "read"}},
		{"/api/x/1", []string{"write", "read"}},    // "shadowed" never serves a method here
		{"/api/health", nil},                       // the public route is the first match for every method
		{"/api/status", []string{"write", "read"}}, // public for GET only
		{"/docs/a", nil},
		{"/nowhere", nil},
		{"/api/../x", nil},
	} {
		got := names(set.Protecting(tc.path))
		if !slices.Equal(got, tc.want) {
			t.Errorf("Protecting(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
	if (*Set)(nil).Protecting("/api") != nil {
		t.Error("a nil Set protects nothing")
	}
}
