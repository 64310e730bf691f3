package policy

import (
	"strings"
	"testing"
	"time"
)

func TestStepUp(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	route := func(acr string, maxAge time.Duration) *Route {
		return &Route{Name: "r", PathPrefix: "/r/", Audience: "A", RequireAuth: StepUp{ACR: acr, MaxAge: maxAge}}
	}
	user := func(acr string, age time.Duration) Facts {
		return Facts{Authenticated: true, Audiences: []string{"A"}, ACR: acr, AuthTime: now.Add(-age), Now: now}
	}
	tests := []struct {
		name       string
		route      *Route
		facts      Facts
		wantReason string
		wantDetail string // a part of Detail
	}{
		{"nothing required", route("", 0), Facts{Authenticated: true, Audiences: []string{"A"}}, ReasonAllowed, ""},
		{"mfa meets mfa", route(ACRMFA, 0), user(ACRMFA, time.Hour), ReasonAllowed, `and a sign-in of class "mfa"`},
		{"mfa meets pwd", route(ACRPassword, 0), user(ACRMFA, time.Hour), ReasonAllowed, ""},
		{"pwd meets pwd", route(ACRPassword, 0), user(ACRPassword, time.Hour), ReasonAllowed, ""},
		{"pwd is weaker than mfa", route(ACRMFA, 0), user(ACRPassword, time.Minute), ReasonInsufficientUserAuthentication, `the token's sign-in is "pwd"`},
		{"unknown acr ranks lowest", route(ACRPassword, 0), user("urn:x", time.Minute), ReasonInsufficientUserAuthentication, `"urn:x"`},
		{"absent acr", route(ACRMFA, 0), user("", time.Minute), ReasonInsufficientUserAuthentication, "of no known class"},
		{"max_age exactly", route("", 15*time.Minute), user(ACRPassword, 15*time.Minute), ReasonAllowed, "at most 15m0s old"},
		{"max_age one second over", route("", 15*time.Minute), user(ACRPassword, 15*time.Minute+time.Second), ReasonInsufficientUserAuthentication, "signed in 15m1s ago"},
		{"max_age fresh", route("", 15*time.Minute), user(ACRPassword, 0), ReasonAllowed, ""},
		{"max_age without auth_time", route("", 15*time.Minute), Facts{Authenticated: true, Audiences: []string{"A"}, ACR: ACRMFA, Now: now}, ReasonInsufficientUserAuthentication, "does not say when"},
		{"both met", route(ACRMFA, 15*time.Minute), user(ACRMFA, time.Minute), ReasonAllowed, ""},
		{"both: acr fails", route(ACRMFA, 15*time.Minute), user(ACRPassword, time.Minute), ReasonInsufficientUserAuthentication, `"pwd"`},
		{"both: age fails", route(ACRMFA, 15*time.Minute), user(ACRMFA, time.Hour), ReasonInsufficientUserAuthentication, "1h0m0s ago"},
		{"service token", route(ACRMFA, 0), Facts{Authenticated: true, Audiences: []string{"A"}, Service: true, Now: now}, ReasonNoUserSignIn, "service token"},
		{"reference token", route("", time.Hour), Facts{Authenticated: true, Audiences: []string{"A"}, NoSignIn: true, ACR: ACRMFA, AuthTime: now, Now: now}, ReasonInsufficientUserAuthentication, "reference token"},
		{"scope refusal comes first", &Route{Name: "r", PathPrefix: "/r/", Audience: "A", Scopes: []string{"sec"}, RequireAuth: StepUp{ACR: ACRMFA}}, user(ACRPassword, 0), ReasonInsufficientScope, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.route.Authorize(tt.facts)
			if d.Reason != tt.wantReason {
				t.Fatalf("reason = %q (%s), want %q", d.Reason, d.Detail, tt.wantReason)
			}
			if !strings.Contains(d.Detail, tt.wantDetail) {
				t.Errorf("detail = %q, want it to contain %q", d.Detail, tt.wantDetail)
			}
			switch d.Reason {
			case ReasonInsufficientUserAuthentication:
				// The challenge names the route's whole requirement.
				if d.StepUp != tt.route.RequireAuth || d.Outcome != InsufficientUserAuthentication {
					t.Errorf("StepUp = %+v, outcome %v; want %+v", d.StepUp, d.Outcome, tt.route.RequireAuth)
				}
			case ReasonNoUserSignIn:
				if !d.StepUp.IsZero() {
					t.Errorf("a service gets no challenge to step up: StepUp = %+v", d.StepUp)
				}
			}
		})
	}
}

func TestStepUpMaxAgeSeconds(t *testing.T) {
	if got := (StepUp{MaxAge: 15 * time.Minute}).MaxAgeSeconds(); got != "900" {
		t.Errorf("MaxAgeSeconds = %q, want 900", got)
	}
	if got := (StepUp{ACR: ACRMFA}).MaxAgeSeconds(); got != "" {
		t.Errorf("MaxAgeSeconds without max_age = %q", got)
	}
}

func TestCompileStepUp(t *testing.T) {
	tests := []struct {
		name    string
		r       Route
		wantErr string
	}{
		{"ok", Route{Name: "a", Path: "/a", Audience: "A", RequireAuth: StepUp{ACR: ACRMFA, MaxAge: time.Minute}}, ""},
		{"unknown acr", Route{Name: "a", Path: "/a", Audience: "A", RequireAuth: StepUp{ACR: "otp"}}, `acr "otp" is neither`},
		{"sub-second", Route{Name: "a", Path: "/a", Audience: "A", RequireAuth: StepUp{MaxAge: 1500 * time.Millisecond}}, "whole number of seconds"},
		{"negative", Route{Name: "a", Path: "/a", Audience: "A", RequireAuth: StepUp{MaxAge: -time.Second}}, "at least 1s"},
		{"public", Route{Name: "a", Path: "/a", Public: true, RequireAuth: StepUp{ACR: ACRPassword}}, "public route cannot require a sign-in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile([]Route{tt.r})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Compile: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Compile error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestStepUpIncludes(t *testing.T) {
	tests := []struct {
		asked, req StepUp
		want       bool
	}{
		{StepUp{ACR: ACRMFA}, StepUp{ACR: ACRMFA}, true},
		{StepUp{ACR: ACRMFA}, StepUp{ACR: ACRPassword}, true},
		{StepUp{ACR: ACRPassword}, StepUp{ACR: ACRMFA}, false},
		{StepUp{MaxAge: time.Minute}, StepUp{MaxAge: time.Hour}, true},
		{StepUp{MaxAge: time.Hour}, StepUp{MaxAge: time.Minute}, false},
		{StepUp{ACR: ACRMFA}, StepUp{ACR: ACRMFA, MaxAge: time.Minute}, false},
		{StepUp{ACR: ACRMFA, MaxAge: time.Minute}, StepUp{ACR: ACRMFA, MaxAge: time.Minute}, true},
	}
	for _, tt := range tests {
		if got := tt.asked.Includes(tt.req); got != tt.want {
			t.Errorf("%+v.Includes(%+v) = %v, want %v", tt.asked, tt.req, got, tt.want)
		}
	}
}
