package policy

import (
	"slices"
	"testing"
)

func TestDecide(t *testing.T) {
	s := mustCompile(t, specRoutes())
	token := func(aud []string, scopes ...string) Facts {
		return Facts{Authenticated: true, Audiences: aud, Scopes: scopes}
	}
	domain := []string{"DomainAPI", "TableAPI"}
	tests := []struct {
		name        string
		method      string
		path        string
		facts       Facts
		want        Outcome
		wantReason  string
		wantRoute   string
		wantMissing []string
		wantDetail  string // exact, when set
	}{
		{
			name: "public without credentials", method: "GET", path: "/api/health",
			want: Allow, wantReason: ReasonPublic, wantRoute: "health",
			wantDetail: `route "health" is public`,
		},
		{
			name: "public with a token", method: "GET", path: "/api/health", facts: token(nil),
			want: Allow, wantReason: ReasonPublic, wantRoute: "health",
		},
		{
			name: "read allowed", method: "GET", path: "/api/domain/odata/x", facts: token(domain, "read"),
			want: Allow, wantReason: ReasonAllowed, wantRoute: "domain-read",
			wantDetail: `route "domain-read": token is for "DomainAPI" and has scope "read"`,
		},
		{
			name: "write allowed with extra scopes", method: "PATCH", path: "/api/domain/odata/x", facts: token(domain, "read", "update", "openid"),
			want: Allow, wantReason: ReasonAllowed, wantRoute: "domain-write",
		},
		{
			name: "audience-only route", method: "GET", path: "/app/home", facts: token(domain),
			want: Allow, wantReason: ReasonAllowed, wantRoute: "app",
			wantDetail: `route "app": token is for "DomainAPI"`,
		},
		{
			name: "no route", method: "GET", path: "/nope",
			want: NoRoute, wantReason: ReasonNoRoute,
			wantDetail: `no route matches GET /nope`,
		},
		{
			name: "HEAD not implied", method: "HEAD", path: "/api/table/x", facts: token(domain, "read", "update"),
			want: NoRoute, wantReason: ReasonNoRoute,
		},
		{
			name: "non-canonical path", method: "GET", path: "/api/health/../domain/x",
			want: NoRoute, wantReason: ReasonInvalidPath,
		},
		{
			name: "missing credentials", method: "GET", path: "/api/domain/x",
			want: NeedCredentials, wantReason: ReasonMissingCredentials, wantRoute: "domain-read",
			wantDetail: `route "domain-read" requires a token and the request has none`,
		},
		{
			name: "scopes without authentication are ignored", method: "GET", path: "/api/domain/x",
			facts: Facts{Audiences: domain, Scopes: []string{"read"}},
			want:  NeedCredentials, wantReason: ReasonMissingCredentials, wantRoute: "domain-read",
		},
		{
			name: "insufficient scope", method: "POST", path: "/api/domain/x", facts: token(domain, "read"),
			want: InsufficientScope, wantReason: ReasonInsufficientScope, wantRoute: "domain-write",
			wantMissing: []string{"update"},
			wantDetail:  `route "domain-write" requires scope "update"; token has "read"`,
		},
		{
			name: "insufficient scope, token has none", method: "POST", path: "/api/domain/x", facts: token(domain),
			want: InsufficientScope, wantReason: ReasonInsufficientScope, wantRoute: "domain-write",
			wantMissing: []string{"update"},
			wantDetail:  `route "domain-write" requires scope "update"; token has no scopes`,
		},
		{
			name: "all scopes required, lists every missing one", method: "GET", path: "/api/table/x", facts: token(domain, "sec"),
			want: InsufficientScope, wantReason: ReasonInsufficientScope, wantRoute: "table",
			wantMissing: []string{"read", "update"},
			wantDetail:  `route "table" requires scopes "read", "update"; token has "sec"`,
		},
		{
			name: "all scopes required, one missing", method: "GET", path: "/api/table/x", facts: token(domain, "update"),
			want: InsufficientScope, wantReason: ReasonInsufficientScope, wantRoute: "table",
			wantMissing: []string{"read"},
		},
		{
			name: "scopes are case-sensitive", method: "GET", path: "/api/domain/x", facts: token(domain, "READ"),
			want: InsufficientScope, wantReason: ReasonInsufficientScope, wantRoute: "domain-read",
			wantMissing: []string{"read"},
		},
		{
			name: "wrong audience", method: "GET", path: "/api/domain/x", facts: token([]string{"TableAPI"}, "read"),
			want: WrongAudience, wantReason: ReasonWrongAudience, wantRoute: "domain-read",
			wantDetail: `route "domain-read" requires a token for "DomainAPI"; token is for "TableAPI"`,
		},
		{
			name: "no audience", method: "GET", path: "/api/domain/x", facts: token(nil, "read"),
			want: WrongAudience, wantReason: ReasonWrongAudience, wantRoute: "domain-read",
			wantDetail: `route "domain-read" requires a token for "DomainAPI"; token is for no audience`,
		},
		{
			name: "audience checked before scopes", method: "POST", path: "/api/domain/x", facts: token([]string{"Other"}),
			want: WrongAudience, wantReason: ReasonWrongAudience, wantRoute: "domain-write",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.facts
			f.Method, f.Path = tt.method, tt.path
			d := s.Decide(f)
			if d.Outcome != tt.want || d.Reason != tt.wantReason {
				t.Fatalf("Decide = %v, want %v (%s)", d, tt.want, tt.wantReason)
			}
			if d.Allowed() != (tt.want == Allow) {
				t.Errorf("Allowed() = %v", d.Allowed())
			}
			switch {
			case tt.wantRoute == "" && d.Route != nil:
				t.Errorf("Route = %q, want nil", d.Route.Name)
			case tt.wantRoute != "" && (d.Route == nil || d.Route.Name != tt.wantRoute):
				t.Errorf("Route = %v, want %q", d.Route, tt.wantRoute)
			}
			if !slices.Equal(d.MissingScopes, tt.wantMissing) {
				t.Errorf("MissingScopes = %q, want %q", d.MissingScopes, tt.wantMissing)
			}
			if d.Detail == "" {
				t.Error("Detail is empty")
			}
			if tt.wantDetail != "" && d.Detail != tt.wantDetail {
				t.Errorf("Detail = %s\n          want %s", d.Detail, tt.wantDetail)
			}
		})
	}
}

func TestAuthorizeOnMatchedRoute(t *testing.T) {
	s := mustCompile(t, specRoutes())
	_, r, ok := s.Match("PUT", "/api/domain/odata/x")
	if !ok {
		t.Fatal("no match")
	}
	// Authorize ignores Method and Path: the route is already chosen.
	d := r.Authorize(Facts{Method: "GET", Path: "/elsewhere", Authenticated: true, Audiences: []string{"DomainAPI"}, Scopes: []string{"update"}})
	if !d.Allowed() || d.Route != r {
		t.Fatalf("Authorize = %v", d)
	}
	if got := r.ScopeString(); got != "update" {
		t.Errorf("ScopeString = %q", got)
	}
}

// A Route that never went through Compile still authorizes correctly; it
// just builds its sentence on the fly.
func TestAuthorizeUncompiledRoute(t *testing.T) {
	r := &Route{Name: "x", PathPrefix: "/x/", Audience: "A", Scopes: []string{"read", "update"}}
	d := r.Authorize(Facts{Authenticated: true, Audiences: []string{"A"}, Scopes: []string{"update", "read"}})
	if !d.Allowed() || d.Detail != `route "x": token is for "A" and has scopes "read", "update"` {
		t.Fatalf("Authorize = %v", d)
	}
	if d := (&Route{Name: "p", Path: "/p", Public: true}).Authorize(Facts{}); d.Reason != ReasonPublic {
		t.Fatalf("public Authorize = %v", d)
	}
}

func TestAuthorizeAllowDoesNotAllocate(t *testing.T) {
	s := mustCompile(t, specRoutes())
	facts := Facts{Authenticated: true, Audiences: []string{"DomainAPI", "TableAPI"}, Scopes: []string{"read", "update"}}
	for _, path := range []string{"/api/domain/x", "/api/health", "/api/table/x", "/app/x"} {
		_, r, ok := s.Match("GET", path)
		if !ok {
			t.Fatalf("no match for %s", path)
		}
		var d Decision
		if n := testing.AllocsPerRun(100, func() { d = r.Authorize(facts) }); n != 0 {
			t.Errorf("Authorize on %q allocates %v times", r.Name, n)
		}
		if !d.Allowed() {
			t.Errorf("Authorize on %q = %v", r.Name, d)
		}
	}
}

func TestOutcomeString(t *testing.T) {
	tests := []struct {
		o    Outcome
		want string
	}{
		{Allow, "allow"},
		{NoRoute, "no_route"},
		{NeedCredentials, "need_credentials"},
		{InsufficientScope, "insufficient_scope"},
		{WrongAudience, "wrong_audience"},
		{Outcome(42), "outcome(42)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.o.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecisionString(t *testing.T) {
	d := Decision{Outcome: InsufficientScope, Reason: ReasonInsufficientScope, Detail: `route "w" requires scope "update"; token has "read"`}
	want := `insufficient_scope (insufficient_scope): route "w" requires scope "update"; token has "read"`
	if got := d.String(); got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
}
