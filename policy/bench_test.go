package policy

import (
	"fmt"
	"testing"
)

// benchRoutes is a realistic set: the SPEC example routes behind twenty
// more specific ones, so a domain request scans past most of the list.
func benchRoutes() []Route {
	var routes []Route
	for i := range 20 {
		routes = append(routes, Route{
			Name:       fmt.Sprintf("module-%d", i),
			PathPrefix: fmt.Sprintf("/api/module%d/", i),
			Methods:    []string{"GET", "HEAD"},
			Audience:   "DomainAPI",
			Scopes:     []string{"read"},
		})
	}
	return append(routes, specRoutes()...)
}

func BenchmarkMatch(b *testing.B) {
	s := mustCompile(b, benchRoutes())
	for _, bc := range []struct{ name, method, path string }{
		{"first", "GET", "/api/module0/x"},
		{"domain-write", "POST", "/api/domain/odata/General_Contacts_Persons"},
		{"exact", "GET", "/api/health"},
		{"none", "GET", "/not/routed/anywhere"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := s.Match(bc.method, bc.path); ok != (bc.name != "none") {
					b.Fatal("unexpected result")
				}
			}
		})
	}
}

func BenchmarkAuthorize(b *testing.B) {
	s := mustCompile(b, benchRoutes())
	_, r, _ := s.Match("POST", "/api/domain/odata/x")
	b.Run("allow", func(b *testing.B) {
		f := Facts{Authenticated: true, Audiences: []string{"DomainAPI", "TableAPI"}, Scopes: []string{"openid", "read", "update"}}
		b.ReportAllocs()
		for b.Loop() {
			if !r.Authorize(f).Allowed() {
				b.Fatal("denied")
			}
		}
	})
	b.Run("insufficient_scope", func(b *testing.B) {
		f := Facts{Authenticated: true, Audiences: []string{"DomainAPI"}, Scopes: []string{"read"}}
		b.ReportAllocs()
		for b.Loop() {
			if r.Authorize(f).Allowed() {
				b.Fatal("allowed")
			}
		}
	})
}

func BenchmarkDecide(b *testing.B) {
	s := mustCompile(b, benchRoutes())
	f := Facts{Method: "GET", Path: "/api/domain/odata/General_Contacts_Persons", Authenticated: true,
		Audiences: []string{"DomainAPI", "TableAPI"}, Scopes: []string{"read"}}
	b.ReportAllocs()
	for b.Loop() {
		if !s.Decide(f).Allowed() {
			b.Fatal("denied")
		}
	}
}
