package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/policy"
)

// TestAnswerFor: one row per answer the proxy gives (RFC 6750 §3.1 for
// the refusals; SPEC §4 "Browser login" for the redirects).
func TestAnswerFor(t *testing.T) {
	set, err := policy.Compile([]policy.Route{
		{Name: "api", PathPrefix: "/api/", Audience: "DomainAPI", Scopes: []string{"read", "update"}},
		{Name: "web", PathPrefix: "/web/", Audience: "DomainAPI", OnMissingToken: policy.OnMissingLogin},
		{Name: "health", Path: "/health", Public: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	decide := func(method, path string, f policy.Facts) policy.Decision {
		f.Method, f.Path = method, path
		return set.Decide(f)
	}
	none := policy.Facts{}
	readOnly := policy.Facts{Authenticated: true, Audiences: []string{"DomainAPI"}, Scopes: []string{"read"}}
	otherAPI := policy.Facts{Authenticated: true, Audiences: []string{"TableAPI"}, Scopes: []string{"read", "update"}}
	var (
		api        = Situation{}
		apiLogin   = Situation{BrowserLogin: true}
		navigation = Situation{BrowserLogin: true, PrefersHTML: true, Navigation: true}
		namesHTML  = Situation{BrowserLogin: true, Navigation: true}  // GET, Accept: application/json, text/html;q=0.5
		htmlPost   = Situation{BrowserLogin: true, PrefersHTML: true} // a form POST
		session    = Situation{BrowserLogin: true, PrefersHTML: true, Navigation: true, FromSession: true}
		sessionAPI = Situation{BrowserLogin: true, FromSession: true} // a fetch with the session cookie
	)
	const (
		challenge = `Bearer realm="erpgate"`
		invalid   = `Bearer realm="erpgate", error="invalid_token"`
	)
	for _, tc := range []struct {
		name      string
		d         policy.Decision
		ref       *authority.Refusal
		s         Situation
		forward   bool
		login     bool
		status    int
		challenge string
		error     string
	}{
		{name: "public", d: decide("GET", "/health", none), s: api, forward: true},
		{name: "allowed", d: decide("GET", "/api/x", policy.Facts{Authenticated: true, Audiences: []string{"DomainAPI"}, Scopes: []string{"read", "update"}}), forward: true},
		{name: "no route", d: decide("GET", "/nope", none), status: 404, error: "not_found"},
		{name: "path not canonical", d: decide("GET", "/api/../x", none), status: 400, challenge: challenge + `, error="invalid_request"`, error: "invalid_request"},
		// "If the request lacks any authentication information …, the
		// resource server SHOULD NOT include an error code."
		{name: "no credentials, API client", d: decide("GET", "/api/x", none), s: api, status: 401, challenge: challenge, error: "unauthorized"},
		{name: "no credentials, browser login on, API client", d: decide("GET", "/web/x", none), s: apiLogin, status: 401, challenge: challenge, error: "unauthorized"},
		{name: "no credentials, browser login off, navigation", d: decide("GET", "/web/x", none), s: Situation{PrefersHTML: true, Navigation: true}, status: 401, challenge: challenge, error: "unauthorized"},
		{name: "no credentials, navigation on an API route", d: decide("GET", "/api/x", none), s: navigation, login: true},
		{name: "no credentials, HTML named on an API route", d: decide("GET", "/api/x", none), s: namesHTML, status: 401, challenge: challenge, error: "unauthorized"},
		{name: "no credentials, HTML named on a login route", d: decide("GET", "/web/x", none), s: namesHTML, login: true},
		{name: "no credentials, a POST is never redirected", d: decide("POST", "/web/x", none), s: htmlPost, status: 401, challenge: challenge, error: "unauthorized"},
		// "The resource server SHOULD respond with the HTTP 403
		// (Forbidden) status code and MAY include the "scope" attribute
		// with the scope necessary to access the protected resource."
		{name: "insufficient scope", d: decide("GET", "/api/x", readOnly), status: 403,
			challenge: challenge + `, error="insufficient_scope", scope="read update"`, error: "insufficient_scope"},
		{name: "insufficient scope, browser session", d: decide("GET", "/api/x", readOnly), s: session, status: 403,
			challenge: challenge + `, error="insufficient_scope", scope="read update"`, error: "insufficient_scope"},
		{name: "wrong audience", d: decide("GET", "/api/x", otherAPI), status: 401, challenge: invalid, error: "invalid_token"},
		{name: "refused token", ref: &authority.Refusal{Reason: authority.ReasonRevoked}, s: api, status: 401, challenge: invalid, error: "invalid_token"},
		{name: "refused token of the browser session, navigation", ref: &authority.Refusal{Reason: authority.ReasonSessionEnded}, s: session, login: true},
		{name: "refused token of the browser session, fetch", ref: &authority.Refusal{Reason: authority.ReasonSessionEnded}, s: sessionAPI, status: 401, challenge: invalid, error: "invalid_token"},
		{name: "refused token, navigation without a session", ref: &authority.Refusal{Reason: authority.ReasonInvalidToken}, s: navigation, status: 401, challenge: invalid, error: "invalid_token"},
		{name: "no license slot, browser session", ref: &authority.Refusal{Reason: authority.ReasonLicenseExhausted}, s: session, status: 403, error: authority.ReasonLicenseExhausted},
		{name: "store down", ref: &authority.Refusal{Reason: authority.ReasonUnavailable}, s: session, status: 503, error: "temporarily_unavailable"},
		{name: "the refusal decides over the decision", d: decide("GET", "/health", none), ref: &authority.Refusal{Reason: authority.ReasonInvalidRequest, Detail: "two credentials"},
			status: 400, challenge: challenge + `, error="invalid_request"`, error: "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := AnswerFor(tc.d, tc.ref, tc.s)
			if a.Forward != tc.forward || a.Login != tc.login {
				t.Fatalf("Forward %v Login %v, want %v %v", a.Forward, a.Login, tc.forward, tc.login)
			}
			if tc.forward || tc.login {
				if a.Refusal != (authority.Answer{}) {
					t.Errorf("a forward or login also refuses: %+v", a.Refusal)
				}
				return
			}
			if got := a.Refusal; got.Status != tc.status || got.Challenge != tc.challenge || got.Body.Error != tc.error {
				t.Errorf("refusal %d %q %q, want %d %q %q", got.Status, got.Challenge, got.Body.Error, tc.status, tc.challenge, tc.error)
			}
		})
	}
}

// TestAnswerForIsWhatTheProxySends drives requests through the proxy
// and checks each answer against AnswerFor for the policy's decision
// (Set.Decide on the request's facts, as `erpgate policy explain` asks
// it) and the request's situation: the explanation and the proxy cannot
// part.
func TestAnswerForIsWhatTheProxySends(t *testing.T) {
	f, _ := newBrowserFixture(t)
	read := f.sign(t, claimsFor("read"))
	readFacts := policy.Facts{Authenticated: true, Audiences: claimsFor().Audience, Scopes: []string{"read"}}
	for _, tc := range []struct {
		name, method, path, accept string
		token                      string
		facts                      policy.Facts
		s                          Situation
	}{
		{name: "no route", method: "GET", path: "/elsewhere", accept: acceptJSON, s: Situation{BrowserLogin: true}},
		{name: "no route, browser", method: "GET", path: "/elsewhere", accept: acceptNavigation,
			s: Situation{BrowserLogin: true, PrefersHTML: true, Navigation: true}},
		{name: "not canonical", method: "GET", path: "/api/domain/./x", accept: acceptJSON, s: Situation{BrowserLogin: true}},
		{name: "public", method: "GET", path: "/api/health", accept: acceptJSON, s: Situation{BrowserLogin: true}},
		{name: "login route, script", method: "GET", path: "/api/domain/html/x", accept: acceptFetch, s: Situation{BrowserLogin: true}},
		{name: "login route, navigation", method: "GET", path: "/api/domain/html/x", accept: acceptNavigation,
			s: Situation{BrowserLogin: true, PrefersHTML: true, Navigation: true}},
		{name: "login route, HEAD naming HTML", method: "HEAD", path: "/api/domain/html/x", accept: "application/json, text/html;q=0.5",
			s: Situation{BrowserLogin: true, Navigation: true}},
		{name: "API route, navigation", method: "GET", path: "/api/domain/x", accept: acceptNavigation,
			s: Situation{BrowserLogin: true, PrefersHTML: true, Navigation: true}},
		{name: "API route, JSON", method: "GET", path: "/api/domain/x", accept: acceptJSON, s: Situation{BrowserLogin: true}},
		{name: "API route, form POST", method: "POST", path: "/api/domain/x", accept: acceptNavigation,
			s: Situation{BrowserLogin: true, PrefersHTML: true}},
		{name: "insufficient scope", method: "POST", path: "/api/domain/x", accept: acceptJSON, token: read, facts: readFacts,
			s: Situation{BrowserLogin: true}},
		{name: "allowed", method: "GET", path: "/api/domain/x", accept: acceptJSON, token: read, facts: readFacts,
			s: Situation{BrowserLogin: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Accept": tc.accept}
			if tc.token != "" {
				hdr["Authorization"] = "Bearer " + tc.token
			}
			rec := f.do(tc.method, tc.path, hdr)
			req := httptest.NewRequest(tc.method, tc.path, nil)
			req.Header.Set("Accept", tc.accept)
			if got := f.px.situation(req, nil, authority.Credential{}); got != tc.s {
				t.Errorf("situation %+v, want %+v", got, tc.s)
			}
			facts := tc.facts
			facts.Method, facts.Path = tc.method, tc.path
			want := AnswerFor(f.px.cfg.Policy.Decide(facts), nil, tc.s)
			switch {
			case want.Forward:
				if rec.Code != http.StatusOK {
					t.Errorf("AnswerFor forwards; the proxy answered %d", rec.Code)
				}
			case want.Login:
				if rec.Code != http.StatusFound || rec.Header().Get("Location") == "" {
					t.Errorf("AnswerFor sends to login; the proxy answered %d", rec.Code)
				}
			default:
				if rec.Code != want.Refusal.Status || rec.Header().Get("WWW-Authenticate") != want.Refusal.Challenge {
					t.Errorf("AnswerFor refuses %d %q; the proxy answered %d %q",
						want.Refusal.Status, want.Refusal.Challenge, rec.Code, rec.Header().Get("WWW-Authenticate"))
				}
			}
		})
	}
}
