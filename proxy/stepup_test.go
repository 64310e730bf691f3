package proxy

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/erpgate/erpgate/internal/testauth"
	"github.com/erpgate/erpgate/policy"
)

// withStepUpRoutes puts two routes in front of the usual ones:
// "secure" (/api/secure/) requires an mfa sign-in at most 15 minutes
// old, "recent" (/api/recent/) any sign-in at most 15 minutes old;
// "secure-web" (/api/secure/html/) is secure's with on_missing_token:
// login.
func withStepUpRoutes(t testing.TB) func(*Config) {
	return func(c *Config) {
		req := policy.StepUp{ACR: policy.ACRMFA, MaxAge: 15 * time.Minute}
		routes := append([]policy.Route{
			{Name: "secure-web", PathPrefix: "/api/secure/html/", Audience: "DomainAPI", Scopes: []string{"read"},
				OnMissingToken: policy.OnMissingLogin, RequireAuth: req},
			{Name: "secure", PathPrefix: "/api/secure/", Audience: "DomainAPI", Scopes: []string{"read"}, RequireAuth: req},
			{Name: "recent", PathPrefix: "/api/recent/", Audience: "DomainAPI", Scopes: []string{"read"},
				RequireAuth: policy.StepUp{MaxAge: 15 * time.Minute}},
		}, c.Policy.Routes()...)
		set, err := policy.Compile(routes)
		if err != nil {
			t.Fatal(err)
		}
		c.Policy = set
		c.Upstreams = append([]Upstream{c.Upstreams[0], c.Upstreams[0], c.Upstreams[0]}, c.Upstreams...)
	}
}

// signIn is alice's token through the web app, signed in age ago with acr.
func (f *fixture) signIn(t testing.TB, acr string, age time.Duration) string {
	t.Helper()
	c := f.auth.UserClaims("alice", testauth.WebApp, "sid-alice", "read")
	c.ACR, c.AuthTime = acr, f.auth.Now().Add(-age).Unix()
	return f.sign(t, c)
}

// TestStepUpChallenge: RFC 9470 §3 — a token whose sign-in is too weak
// or too old gets 401 with error="insufficient_user_authentication" and
// the acr_values and max_age to re-authorize with (§4), as quoted
// auth-params of the Bearer challenge, with the route's
// resource_metadata as every route challenge has.
func TestStepUpChallenge(t *testing.T) {
	f := newFixture(t, func(c *Config) { withStepUpRoutes(t)(c); withIssuer(c) })
	const challenge = `Bearer realm="erpgate", error="insufficient_user_authentication", ` +
		`error_description="a stronger or more recent sign-in is required", acr_values="mfa", max_age="900", ` +
		`resource_metadata="https://example.com/.well-known/oauth-protected-resource/api/secure/x"`
	for _, tc := range []struct {
		name   string
		path   string
		token  string
		status int
		params map[string]string // the challenge's auth-params besides realm and error_description
	}{
		{"password-only token", "/api/secure/x", f.signIn(t, policy.ACRPassword, time.Minute), 401,
			map[string]string{"error": "insufficient_user_authentication", "acr_values": "mfa", "max_age": "900"}},
		{"mfa token", "/api/secure/x", f.signIn(t, policy.ACRMFA, time.Minute), 200, nil},
		{"mfa token at max_age", "/api/secure/x", f.signIn(t, policy.ACRMFA, 15*time.Minute), 200, nil},
		{"mfa token past max_age", "/api/secure/x", f.signIn(t, policy.ACRMFA, 15*time.Minute+time.Second), 401,
			map[string]string{"error": "insufficient_user_authentication", "acr_values": "mfa", "max_age": "900"}},
		{"recent route, old sign-in", "/api/recent/x", f.signIn(t, policy.ACRPassword, time.Hour), 401,
			map[string]string{"error": "insufficient_user_authentication", "max_age": "900"}},
		{"recent route, fresh password sign-in", "/api/recent/x", f.signIn(t, policy.ACRPassword, 0), 200, nil},
		{"token without auth_time", "/api/recent/x", f.sign(t, f.auth.UserClaims("alice", testauth.WebApp, "sid-alice", "read")), 401,
			map[string]string{"error": "insufficient_user_authentication", "max_age": "900"}},
		{"route without require_auth", "/api/domain/x", f.signIn(t, policy.ACRPassword, time.Hour), 200, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do("GET", tc.path, bearer(tc.token))
			if rec.Code != tc.status {
				t.Fatalf("status %d %s, want %d", rec.Code, rec.Body, tc.status)
			}
			if tc.status != 401 {
				return
			}
			ch := rec.Header().Get("WWW-Authenticate")
			scheme, params, err := parseChallenge(ch)
			if err != nil || scheme != "Bearer" {
				t.Fatalf("challenge %q: scheme %q, %v", ch, scheme, err)
			}
			for k, v := range tc.params {
				if params[k] != v {
					t.Errorf("%s = %q, want %q (challenge %q)", k, params[k], v, ch)
				}
			}
			for _, k := range []string{"acr_values", "max_age"} {
				if _, want := tc.params[k]; !want && params[k] != "" {
					t.Errorf("%s = %q, the route does not require it", k, params[k])
				}
			}
			if params["realm"] != "erpgate" || params["error_description"] == "" || params["resource_metadata"] == "" {
				t.Errorf("challenge %q lacks realm, error_description or resource_metadata", ch)
			}
			if errorOf(t, rec) != "insufficient_user_authentication" {
				t.Errorf("body %s", rec.Body)
			}
		})
	}
	// The exact header, as RFC 9470 §3's example has it.
	if got := f.do("GET", "/api/secure/x", bearer(f.signIn(t, policy.ACRPassword, time.Minute))).Header().Get("WWW-Authenticate"); got != challenge {
		t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, challenge)
	}
}

// TestStepUpMaxAgeExpires: a token that passes now is asked again once
// its sign-in is older than max_age.
func TestStepUpMaxAgeExpires(t *testing.T) {
	f := newFixture(t, withStepUpRoutes(t))
	tok := f.signIn(t, policy.ACRMFA, 0)
	if rec := f.do("GET", "/api/secure/x", bearer(tok)); rec.Code != 200 {
		t.Fatalf("fresh mfa token: %d %s", rec.Code, rec.Body)
	}
	f.setClock(f.auth.Now().Add(15*time.Minute + time.Second))
	rec := f.do("GET", "/api/secure/x", bearer(tok))
	if rec.Code != 401 || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `max_age="900"`) {
		t.Fatalf("after max_age: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}

// TestStepUpServicesAndReferenceTokens: a service token has no user
// sign-in to step up, so re-authorizing cannot help: 403 without a
// challenge (as a community user on an API route). A PAT names its user
// but no sign-in event of its own: 401 with the challenge, so its user
// signs in for an access token. A SAT is a service's: 403.
func TestStepUpServicesAndReferenceTokens(t *testing.T) {
	f := newFixture(t, withStepUpRoutes(t))
	svc := f.auth.ServiceClaims(testauth.SyncApp, "sid-svc", "read")
	svc.ACR, svc.AuthTime = policy.ACRMFA, f.auth.Now().Unix() // claims a service cannot have change nothing
	for _, tc := range []struct {
		name, token string
		status      int
		challenge   bool
	}{
		{"client credentials", f.sign(t, svc), 403, false},
		{"SAT", f.auth.SAT(testauth.SyncApp, "read").Value, 403, false},
		{"PAT", f.auth.PAT(testauth.WebApp, "alice", "read").Value, 401, true},
	} {
		rec := f.do("GET", "/api/secure/x", bearer(tc.token))
		if rec.Code != tc.status || errorOf(t, rec) != "insufficient_user_authentication" {
			t.Errorf("%s: %d %s, want %d insufficient_user_authentication", tc.name, rec.Code, rec.Body, tc.status)
		}
		if ch := rec.Header().Get("WWW-Authenticate"); strings.Contains(ch, "insufficient_user_authentication") != tc.challenge {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, ch)
		}
		// Elsewhere the same tokens pass.
		if rec := f.do("GET", "/api/domain/x", bearer(tc.token)); rec.Code != 200 {
			t.Errorf("%s on a route without require_auth: %d %s", tc.name, rec.Code, rec.Body)
		}
	}
	for reason, n := range map[string]float64{"no_user_sign_in": 2, "insufficient_user_authentication": 1} {
		if got := testutil.ToFloat64(f.metrics.AuthDecisions.WithLabelValues("secure", "deny", reason)); got != n {
			t.Errorf("erpgate_auth_decisions_total{route=secure,decision=deny,reason=%s} = %v, want %v", reason, got, n)
		}
	}
	if a := f.auditBuf.String(); !strings.Contains(a, `"reason":"no_user_sign_in"`) || !strings.Contains(a, `"reason":"insufficient_user_authentication"`) {
		t.Errorf("audit lines do not name the reasons:\n%s", a)
	}
}

// TestStepUpEveryDoor: forward auth answers a step-up refusal as the
// proxy does, whichever way the edge asks (one rule, every door).
func TestStepUpEveryDoor(t *testing.T) {
	f := newFixture(t, func(c *Config) { withStepUpRoutes(t)(c); trustEdge(c) })
	svc := f.sign(t, f.auth.ServiceClaims(testauth.SyncApp, "sid-svc", "read"))
	for _, tc := range []struct{ name, path, token string }{
		{"password-only", "/api/secure/x", f.signIn(t, policy.ACRPassword, time.Minute)},
		{"mfa", "/api/secure/x", f.signIn(t, policy.ACRMFA, time.Minute)},
		{"old sign-in", "/api/recent/x", f.signIn(t, policy.ACRMFA, time.Hour)},
		{"service", "/api/secure/x", svc},
	} {
		px := f.do("GET", tc.path, bearer(tc.token))
		want := px.Code
		if want == http.StatusOK {
			want = http.StatusAccepted
		}
		for _, es := range edgeStyles {
			rec := f.edgeAsk(es.ask("GET", tc.path), bearer(tc.token))
			if rec.Code != want {
				t.Errorf("%s via %s: %d %s, proxy said %d", tc.name, es.name, rec.Code, rec.Body, px.Code)
			}
			if got, w := rec.Header().Get("WWW-Authenticate"), px.Header().Get("WWW-Authenticate"); got != w {
				t.Errorf("%s via %s: WWW-Authenticate %q, proxy's %q", tc.name, es.name, got, w)
			}
		}
	}
}

// TestStepUpBrowser: a browser whose session's token falls short is sent
// to sign in again with the route's acr_values and max_age, coming back
// to the same page; once that step-up came back still short (the
// issuer could not meet it), it gets a page saying so instead of another
// redirect. Forward auth sends it through /oauth2/start with the same
// parameters, keeping the session (no reauth).
func TestStepUpBrowser(t *testing.T) {
	b := &fakeBrowser{}
	f2 := newFixture(t, func(c *Config) { withStepUpRoutes(t)(c); trustEdge(c); c.Browser = b })
	b.token = f2.signIn(t, policy.ACRPassword, time.Minute)
	nav := map[string]string{"Accept": acceptNavigation, "Cookie": "erpgate_session_0=ok"}

	rec := f2.do("GET", "/api/secure/html/report?id=7", nav)
	if rec.Code != http.StatusFound {
		t.Fatalf("browser on a step-up route: %d %s", rec.Code, rec.Body)
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if q := loc.Query(); q.Get("acr_values") != "mfa" || q.Get("max_age") != "900" || q.Get("rd") != "/api/secure/html/report?id=7" {
		t.Errorf("step-up redirect %s", loc)
	}
	if len(b.stepUps) != 1 || b.stepUps[0] != (policy.StepUp{ACR: policy.ACRMFA, MaxAge: 15 * time.Minute}) || b.logins != 0 {
		t.Errorf("StartStepUp calls %+v, StartLogin calls %d", b.stepUps, b.logins)
	}
	// A script on the page gets the API answer, never a redirect.
	if rec := f2.do("GET", "/api/secure/html/data", map[string]string{"Accept": acceptJSON, "Cookie": "erpgate_session_0=ok"}); rec.Code != 401 {
		t.Errorf("script with a session: %d", rec.Code)
	}

	// Forward auth: the edge sends the browser to /oauth2/start with the
	// step-up, and no reauth, which would end the session.
	edge := f2.edgeAsk(edgeStyles[0].ask("GET", "/api/secure/html/report"), nav)
	el := edge.Header().Get("Location")
	if edge.Code != http.StatusUnauthorized || !strings.Contains(el, "acr_values=mfa") || !strings.Contains(el, "max_age=900") || strings.Contains(el, "reauth") {
		t.Errorf("forward auth step-up: %d Location %q", edge.Code, el)
	}

	// The step-up came back with a token still password-only: the loop
	// guard's page, status 401 with the challenge, and no redirect.
	b.steppedUp = true
	rec = f2.do("GET", "/api/secure/html/report?id=7", nav)
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("Location") != "" {
		t.Fatalf("after a step-up that fell short: %d Location %q", rec.Code, rec.Header().Get("Location"))
	}
	if !strings.Contains(rec.Header().Get("Content-Type"), "text/html") || !strings.Contains(rec.Body.String(), "A stronger sign-in is needed") {
		t.Errorf("loop guard page: %s", rec.Body)
	}
	if len(b.stepUps) != 1 {
		t.Errorf("loop guard redirected again: %+v", b.stepUps)
	}
	// An mfa session passes.
	b.token = f2.signIn(t, policy.ACRMFA, time.Minute)
	if rec := f2.do("GET", "/api/secure/html/report", nav); rec.Code != 200 {
		t.Errorf("mfa session: %d %s", rec.Code, rec.Body)
	}
}

// parseChallenge parses one challenge (RFC 9110 §11.2: auth-scheme 1*SP
// #auth-param, auth-param = token BWS "=" BWS ( token / quoted-string )),
// strictly: every parameter once, nothing left over.
func parseChallenge(s string) (scheme string, params map[string]string, err error) {
	scheme, rest, ok := strings.Cut(s, " ")
	if !ok || !isTokenString(scheme) {
		return "", nil, errf("no auth-scheme in %q", s)
	}
	params = map[string]string{}
	for {
		rest = strings.TrimLeft(rest, " \t")
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return "", nil, errf("no auth-param at %q", rest)
		}
		name := strings.ToLower(strings.TrimRight(rest[:eq], " \t"))
		if !isTokenString(name) {
			return "", nil, errf("bad auth-param name %q", name)
		}
		if _, dup := params[name]; dup {
			return "", nil, errf("auth-param %q twice", name)
		}
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				b.WriteByte(rest[i])
			}
			if i == len(rest) {
				return "", nil, errf("unterminated quoted-string")
			}
			val, rest = b.String(), rest[i+1:]
		} else {
			end := strings.IndexAny(rest, ", \t")
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
			if !isTokenString(val) {
				return "", nil, errf("bad token value %q", val)
			}
		}
		params[name] = val
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			return scheme, params, nil
		}
		if rest[0] != ',' {
			return "", nil, errf("expected comma at %q", rest)
		}
		rest = rest[1:]
	}
}

func isTokenString(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func errf(format string, args ...any) error { return fmt.Errorf(format, args...) }
