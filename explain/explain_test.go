package explain

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/gateway"
	"github.com/erpgate/erpgate/policy"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/sampleapi"
	"github.com/erpgate/erpgate/store/sqlite"
)

func noEnv(string) (string, bool) { return "", false }

// load parses the config at path and compiles its routes as the gateway
// does.
func load(t testing.TB, path string) (*config.File, *policy.Set) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := config.Parse(raw, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	return f, compile(t, f)
}

func compile(t testing.TB, f *config.File) *policy.Set {
	t.Helper()
	set, err := policy.Compile(gateway.PolicyRoutes(f))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// explainText explains req on f and set as the CLI prints it.
func explainText(t *testing.T, f *config.File, set *policy.Set, req Request) (*Explanation, string, error) {
	t.Helper()
	x, err := Explain(f, set, req, time.Now())
	if err != nil {
		return nil, "", err
	}
	var out strings.Builder
	if _, err := x.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	return x, out.String(), nil
}

// fakeJWT builds an unsigned compact JWS around claims, with the header
// of an access token; explain must not care that "sig" is no signature.
func fakeJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return header + "." + enc(string(b)) + ".sig"
}

// header is an access token's JWS header (RFC 9068 §2.1).
var header = enc(`{"alg":"RS256","typ":"at+jwt"}`)

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestExplain(t *testing.T) {
	f, set := load(t, "testdata/explain.yaml")
	const iss = "http://localhost:8080/id"
	userToken := fakeJWT(t, map[string]any{
		"iss": iss, "aud": []string{"DomainAPI", "TableAPI"}, "scope": []string{"openid", "read"},
		"client_id": "com.example/spa", "sub": "alice", "sid": "s1", "exp": 4102444800, // 2100
	})
	stringScope := fakeJWT(t, map[string]any{ // RFC 9068 style: scope as a string
		"iss": iss, "aud": []string{"TableAPI"}, "scope": "read update",
		"client_id": "com.example/nightly-sync", "client_system_user": "svc-sync", "exp": 4102444800,
	})
	// The proxy reads aud as an array (claims.Access): a string aud
	// fails its verifier's claim decoding, 401 invalid_token.
	stringAud := fakeJWT(t, map[string]any{"iss": iss, "aud": "TableAPI", "scope": "read", "exp": 4102444800})
	expired := fakeJWT(t, map[string]any{"iss": iss, "aud": []string{"DomainAPI"}, "scope": []string{"read"}, "exp": 1})
	foreign := fakeJWT(t, map[string]any{"iss": "https://elsewhere.example/id", "aud": []string{"DomainAPI"}, "scope": []string{"read"}})
	idToken := enc(`{"alg":"RS256","typ":"JWT"}`) + "." + enc(`{"iss":"`+iss+`","aud":["DomainAPI"]}`) + ".sig"
	scopes := func(s ...string) *Assumed { return &Assumed{Scopes: s} }

	tests := []struct {
		name           string
		method, target string // target goes through Path
		token          string
		assumed        *Assumed
		wantAllowed    bool
		wantReason     string   // the "reason" line
		wantOut        []string // substrings of the output
		wantErr        string   // substring of Path's or Explain's error; no output
	}{
		{
			name: "public route without credentials", method: "GET", target: "/api/health",
			wantAllowed: true, wantReason: "public",
			wantOut: []string{
				"caller    no credentials (give --token or --scopes to explain a token)\n",
				"route     health (routes[3]): path /api/health, any method",
				"requires  nothing: public route",
				"decision  allow",
				`counted   erpgate_auth_decisions_total{route="health",decision="allow",reason="public"}`,
			},
		},
		{
			name: "protected route without credentials", method: "GET", target: "/api/domain/odata/x",
			wantReason: "missing_credentials",
			wantOut: []string{
				"caller    no credentials",
				"route     domain-read (routes[1]): path_prefix /api/domain/, methods GET HEAD",
				`requires  a token for audience "DomainAPI" with scope "read"`,
				"no token  401 (on_missing_token: unauthorized; browser login is off",
				`why       route "domain-read" requires a token and the request has none`,
				`answer    401 WWW-Authenticate: Bearer realm="erpgate", resource_metadata="http://localhost:8080/.well-known/oauth-protected-resource/api/domain/odata/x"`,
				`reason="missing_credentials"}`,
			},
		},
		{
			name: "assumed scopes allow", method: "GET", target: "/api/domain/odata/x", assumed: scopes("read"),
			wantAllowed: true, wantReason: "allowed",
			wantOut: []string{
				"caller    a valid token is assumed (--scopes/--audience)\n",
				`audiences "DomainAPI", "TableAPI" (tokens.audiences`,
				`scopes "read"`,
				`why       route "domain-read": token is for "DomainAPI" and has scope "read"`,
				"answer    forwarded to the upstream, once the session opens",
				`{route="domain-read",decision="allow",reason="allowed"}`,
			},
		},
		{
			name: "assumed scope is not enough", method: "POST", target: "/api/domain/odata/x", assumed: scopes("read"),
			wantReason: "insufficient_scope",
			wantOut: []string{
				"route     domain-write (routes[2]): path_prefix /api/domain/, any method",
				"upstream  http://127.0.0.1:8081 (timeout 5s), Authorization not passed on",
				`why       route "domain-write" requires scope "update"; token has "read"`,
				`answer    403 WWW-Authenticate: Bearer realm="erpgate", error="insufficient_scope", scope="update", resource_metadata="http://localhost:8080/.well-known/oauth-protected-resource/api/domain/odata/x"`,
			},
		},
		{
			name: "every missing scope is named", method: "GET", target: "/api/reports/daily", assumed: scopes(),
			wantReason: "insufficient_scope",
			wantOut: []string{
				`requires  a token for audience "TableAPI" with scopes "read", "update"`,
				`route "reports" requires scopes "read", "update"; token has no scopes`,
				`scope="read update"`,
			},
		},
		{
			name: "assumed audience", method: "GET", target: "/api/domain/x", assumed: &Assumed{Scopes: []string{"read"}, Audiences: []string{"TableAPI"}},
			wantReason: "wrong_audience",
			wantOut: []string{
				`audiences "TableAPI" (--audience)`,
				`route "domain-read" requires a token for "DomainAPI"; token is for "TableAPI"`,
				`error="invalid_token"`,
			},
		},
		{
			name: "assumed without audiences", method: "GET", target: "/api/domain/x", assumed: &Assumed{Scopes: []string{"read"}, Audiences: []string{}},
			wantReason: "wrong_audience",
			wantOut:    []string{"audiences none (--audience)\n"},
		},
		{
			name: "token with array claims", method: "GET", target: "/api/domain/odata/x", token: userToken,
			wantAllowed: true, wantReason: "allowed",
			wantOut: []string{
				"caller    token (signature not checked",
				`client_id "com.example/spa", user "alice", session "s1"`,
				`audiences "DomainAPI", "TableAPI"`,
				`scopes "openid", "read"`,
				"expires 2100-01-01T00:00:00Z",
				"note      the proxy also checks the signature",
			},
		},
		{
			name: "token with a string scope", method: "GET", target: "/api/reports/x", token: stringScope,
			wantAllowed: true, wantReason: "allowed",
			wantOut: []string{`system user "svc-sync"`, `audiences "TableAPI"`, `scopes "read", "update"`},
		},
		{
			name: "token for another audience", method: "DELETE", target: "/api/domain/x", token: stringScope,
			wantReason: "wrong_audience",
			wantOut:    []string{`token is for "TableAPI"`},
		},
		{
			name: "expired token: policy still explained, with a note", method: "GET", target: "/api/domain/x", token: expired,
			wantAllowed: true, wantReason: "allowed",
			wantOut: []string{"note      the token expired at 1970-01-01T00:00:01Z: the proxy refuses it (401 invalid_token)"},
		},
		{
			name: "token from another issuer", method: "GET", target: "/api/domain/x", token: foreign,
			wantAllowed: true, wantReason: "allowed",
			wantOut: []string{`note      the token's issuer "https://elsewhere.example/id" is not this gateway's (http://localhost:8080/id)`},
		},
		{
			name: "token with its Bearer prefix and a newline", method: "GET", target: "/api/domain/x", token: "Bearer " + userToken + "\n",
			wantAllowed: true, wantReason: "allowed",
			wantOut: []string{`user "alice"`},
		},
		{
			name: "absolute URL with a query", method: "GET", target: "https://erp.example.com/api/health?x=1",
			wantAllowed: true, wantReason: "public",
			wantOut: []string{"request   GET /api/health\n"},
		},
		{
			name: "absolute URL without a path", method: "GET", target: "https://erp.example.com",
			wantReason: "no_route",
			wantOut:    []string{"request   GET /\n"},
		},
		{
			name: "no route", method: "GET", target: "/nope",
			wantReason: "no_route",
			wantOut: []string{
				"route     none",
				"why       no route matches GET /nope",
				`answer    404 error="not_found"`,
				`counted   erpgate_http_requests_total{route="",method="GET",code="404"}`,
			},
		},
		{
			name: "no route: HEAD is not implied by GET", method: "HEAD", target: "/api/reports/x", assumed: scopes("read", "update"),
			wantReason: "no_route",
			wantOut:    []string{`hint      routes[0] "reports" matches the path but only for GET, not HEAD`},
		},
		{
			name: "no route: a prefix with a trailing slash", method: "GET", target: "/api/reports",
			wantReason: "no_route",
			wantOut:    []string{`hint      routes[0] "reports" matches "/api/reports/", with a trailing slash`},
		},
		{
			name: "non-canonical path, percent-encoded dots", method: "GET", target: "/api/health/%2e%2e/domain/x",
			wantReason: "invalid_path",
			wantOut: []string{
				"request   GET /api/health/../domain/x",
				`answer    400 WWW-Authenticate: Bearer realm="erpgate", error="invalid_request"`,
				`code="400"`,
			},
		},
		{
			name: "non-canonical path, double slash", method: "GET", target: "/api//domain/x", assumed: scopes("read"),
			wantReason: "invalid_path",
		},

		// Requests that cannot be explained.
		{name: "empty URL", method: "GET", target: "", wantErr: "URL is empty"},
		{name: "opaque URL", method: "GET", target: "mailto:x@example.com", wantErr: "give a path"},
		{name: "URL without a host", method: "GET", target: "http:/x", wantErr: "give a path"},
		{
			name: "token and assumed", method: "GET", target: "/a", token: userToken, assumed: scopes("read"),
			wantErr: "do not assume them as well",
		},
		{name: "not a JWT", method: "GET", target: "/a", token: "abc", wantErr: "not a JWT access token the proxy reads (it answers 401 invalid_token)"},
		{name: "payload not base64url", method: "GET", target: "/a", token: header + ".b*c.d", wantErr: "illegal base64"},
		{name: "header not a JWS header", method: "GET", target: "/a", token: "a.b.c", wantErr: "not a JWT access token"},
		{
			name: "an ID token is not an access token", method: "GET", target: "/a", token: idToken,
			wantErr: `token type "JWT" is not at+jwt`,
		},
		{
			name: "alg none", method: "GET", target: "/a", token: enc(`{"alg":"none","typ":"at+jwt"}`) + "." + enc(`{"aud":["DomainAPI"]}`) + ".",
			wantErr: "not a JWT access token",
		},
		{
			name: "payload not JSON", method: "GET", target: "/a", token: header + "." + enc("nope") + ".sig",
			wantErr: "not a JSON claim set",
		},
		{
			name: "aud of the wrong type", method: "GET", target: "/a", token: fakeJWT(t, map[string]any{"aud": 7}),
			wantErr: "cannot unmarshal number into Go struct field Access.aud",
		},
		{
			name: "a string aud: the proxy cannot read it", method: "GET", target: "/api/reports/x", token: stringAud,
			wantErr: "payload is not a JSON claim set the proxy reads (it answers 401 invalid_token)",
		},
		{
			name: "two tokens in one", method: "GET", target: "/a", token: "Bearer " + userToken + " " + userToken,
			wantErr: "malformed Authorization header",
		},
		{
			name: "reference token", method: "GET", target: "/a", token: reftoken.Prefix + strings.Repeat("ab", 32),
			wantErr: "reference tokens (" + reftoken.Prefix + "…) are opaque",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, err := Path(tt.target)
			var x *Explanation
			var out string
			if err == nil {
				x, out, err = explainText(t, f, set, Request{Method: tt.method, Path: path, Token: tt.token, Assumed: tt.assumed})
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q\n%s", err, tt.wantErr, out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if x.Allowed() != tt.wantAllowed {
				t.Errorf("Allowed() = %v, want %v\n%s", x.Allowed(), tt.wantAllowed, out)
			}
			if want := "reason    " + tt.wantReason + "\n"; !strings.Contains(out, want) {
				t.Errorf("output has no %q line:\n%s", strings.TrimSpace(want), out)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestExplainMatchesProxy sends real requests through an in-process
// gateway and checks that, for each, the series Explain says is counted
// is the one erpgate_auth_decisions_total really counted, and the answer
// it names is the one the proxy gave: explain and the proxy speak the
// same reason codes.
func TestExplainMatchesProxy(t *testing.T) {
	front, registry := startGateway(t)
	f, set := load(t, "../config.example.yaml")
	readToken := clientToken(t, front.URL, "com.example/reporting", "reporting-demo-secret") // scope read

	tests := []struct {
		name, method, path, token string
		req                       Request // Method and Path are the test's
	}{
		{"public", "GET", "/api/health", "", Request{}},
		{"missing credentials", "GET", "/api/domain/odata/x", "", Request{}},
		{"allowed", "GET", "/api/domain/odata/x", readToken, Request{Token: readToken}},
		{"insufficient scope", "POST", "/api/domain/odata/x", readToken, Request{Token: readToken}},
		{"insufficient scope, assumed", "DELETE", "/api/domain/odata/x", readToken, Request{Assumed: &Assumed{Scopes: []string{"read"}}}},
	}
	answered := regexp.MustCompile(`(?m)^answer    (forwarded|\d{3}) `)
	counted := regexp.MustCompile(`(?m)^counted   erpgate_auth_decisions_total\{route="([^"]*)",decision="([^"]*)",reason="([^"]*)"\}$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := authDecisions(t, registry)
			req, err := http.NewRequest(tt.method, front.URL+tt.path, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var got []string
			for k, v := range authDecisions(t, registry) {
				if v != before[k] {
					got = append(got, k)
				}
			}

			tt.req.Method, tt.req.Path = tt.method, tt.path
			x, out, err := explainText(t, f, set, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			m := counted.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("explanation has no counted line:\n%s", out)
			}
			want := m[1] + "," + m[2] + "," + m[3]
			if len(got) != 1 || got[0] != want {
				t.Fatalf("proxy answered %d and counted %q; explain says %q:\n%s", resp.StatusCode, got, want, out)
			}
			if x.Allowed() != (m[2] == "allow") {
				t.Errorf("Allowed() = %v for decision %s", x.Allowed(), m[2])
			}
			a := answered.FindStringSubmatch(out)
			if a == nil || (a[1] == "forwarded" && resp.StatusCode != http.StatusOK) ||
				(a[1] != "forwarded" && a[1] != strconv.Itoa(resp.StatusCode)) {
				t.Errorf("proxy answered %d; explain says:\n%s", resp.StatusCode, out)
			}
		})
	}
}

// startGateway runs the gateway of config.example.yaml in-process, with
// the sample upstream and public_url pointed at test servers and the
// store in a temporary directory; it returns the main listener and the
// gateway's metrics registry.
func startGateway(t *testing.T) (*httptest.Server, *prometheus.Registry) {
	t.Helper()
	up := httptest.NewServer(sampleapi.New())
	t.Cleanup(up.Close)
	front := httptest.NewUnstartedServer(nil)
	raw, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yml := strings.NewReplacer(
		"http://localhost:8080", "http://"+front.Listener.Addr().String(),
		"http://127.0.0.1:8081", up.URL,
		"data/erpgate.db", filepath.Join(t.TempDir(), "erpgate.db"),
	).Replace(string(raw))
	f, err := config.Parse([]byte(yml), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, f.Store.DSN)
	if err != nil {
		t.Fatal(err)
	}
	registry := prometheus.NewRegistry()
	g, err := gateway.New(ctx, gateway.Config{
		File: f, Store: st, Logger: slog.New(slog.DiscardHandler), Audit: audit.New(slog.DiscardHandler),
		Registry: registry, ReadFile: os.ReadFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	front.Config.Handler = g.Handler()
	front.Start()
	t.Cleanup(front.Close)
	return front, registry
}

// authDecisions reads erpgate_auth_decisions_total from registry as
// "route,decision,reason" -> count.
func authDecisions(t *testing.T, registry *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "erpgate_auth_decisions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[labels["route"]+","+labels["decision"]+","+labels["reason"]] = m.GetCounter().GetValue()
		}
	}
	return out
}

// clientToken gets a client_credentials access token.
func clientToken(t *testing.T, base, clientID, secret string) string {
	t.Helper()
	resp, err := http.PostForm(base+"/id/connect/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
		t.Fatalf("token for %s: %d %v", clientID, resp.StatusCode, err)
	}
	return tr.AccessToken
}

// TestExplainBrowserRoute: with browser login on (gateway.client_id), a
// route with on_missing_token: login says browsers are sent to sign in.
func TestExplainBrowserRoute(t *testing.T) {
	f, set := load(t, "../config.example.yaml")
	x, out, err := explainText(t, f, set, Request{Method: "GET", Path: "/api/domain/html/home"})
	if err != nil || x.Allowed() {
		t.Fatalf("err %v, allowed %v\n%s", err, x != nil && x.Allowed(), out)
	}
	for _, want := range []string{
		"route     web (routes[0])",
		"no token  browsers (GET/HEAD with Accept: text/html) are sent to login, others get 401 (on_missing_token: login)",
		"reason    missing_credentials\n",
		`or a login redirect for a browser`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// FuzzExplainToken: reading an untrusted token never panics, what it
// yields is always an authenticated caller, and its explanation prints.
func FuzzExplainToken(f *testing.F) {
	f.Add(header + "." + enc(`{"aud":["DomainAPI"],"scope":["read"]}`) + ".sig")
	f.Add(header + "." + enc(`{"aud":["A","B"],"scope":"read update","exp":1}`) + ".x")
	f.Add("e30.eyJhdWQiOlsiQSIsIkIiXSwic2NvcGUiOiJyZWFkIHVwZGF0ZSIsImV4cCI6MX0.x")
	f.Add("Bearer a.b.c")
	f.Add(reftoken.Prefix + "00")
	f.Add("a..b")
	cfg := &config.File{PublicURL: "http://localhost:8080"}
	set := compile(f, cfg)
	f.Fuzz(func(t *testing.T, tok string) {
		if tok == "" {
			return // no token: no credentials
		}
		x, err := Explain(cfg, set, Request{Method: "GET", Path: "/", Token: tok}, time.Unix(1e9, 0))
		if err != nil {
			return
		}
		if !x.caller.facts.Authenticated {
			t.Fatalf("token %q decoded to an unauthenticated caller", tok)
		}
		if _, err := x.WriteTo(&strings.Builder{}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestExplainStepUp: explain judges a require_auth route from the
// token's acr and auth_time at the given time, and names the reason and
// the RFC 9470 challenge the proxy answers.
func TestExplainStepUp(t *testing.T) {
	f, set := load(t, "testdata/explain.yaml")
	const iss = "http://localhost:8080/id"
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	user := func(acr string, age time.Duration) string {
		return fakeJWT(t, map[string]any{
			"iss": iss, "aud": []string{"DomainAPI"}, "scope": []string{"read"}, "client_id": "com.example/spa",
			"sub": "alice", "sid": "s1", "exp": 4102444800, "acr": acr, "auth_time": now.Add(-age).Unix(),
		})
	}
	service := fakeJWT(t, map[string]any{"iss": iss, "aud": []string{"DomainAPI"}, "scope": []string{"read"},
		"client_id": "com.example/sync", "client_system_user": "svc-sync", "exp": 4102444800})
	for _, tt := range []struct {
		name       string
		req        Request
		wantReason string
		wantOut    []string
	}{
		{"password-only", Request{Token: user("pwd", time.Minute)}, "insufficient_user_authentication", []string{
			`requires  a token for audience "DomainAPI" with scope "read", from a user's sign-in with acr "mfa" or stronger, at most 15m old (require_auth)`,
			`caller    token`, `signed in with acr "pwd" at 2026-12-03T09:59:00Z (1m0s ago)`,
			`why       route "secure" requires a sign-in of class "mfa" at most 15m0s old; the token's sign-in is "pwd"`,
			`answer    401 WWW-Authenticate: Bearer realm="erpgate", error="insufficient_user_authentication", error_description="a stronger or more recent sign-in is required", acr_values="mfa", max_age="900", resource_metadata=`,
			`counted   erpgate_auth_decisions_total{route="secure",decision="deny",reason="insufficient_user_authentication"}`,
		}},
		{"mfa, recent", Request{Token: user("mfa", 14*time.Minute)}, "allowed", []string{"decision  allow"}},
		{"mfa, too old", Request{Token: user("mfa", time.Hour)}, "insufficient_user_authentication", []string{"the user signed in 1h0m0s ago"}},
		{"service", Request{Token: service}, "no_user_sign_in", []string{
			`answer    403 error="insufficient_user_authentication"`, "a service token has no user sign-in to step up"}},
		{"assumed", Request{Assumed: &Assumed{Scopes: []string{"read"}}}, "insufficient_user_authentication", []string{
			"an assumed token says nothing of its sign-in"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Method, tt.req.Path = "GET", "/api/secure/x"
			x, err := Explain(f, set, tt.req, now)
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			if _, err := x.WriteTo(&out); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "reason    "+tt.wantReason+"\n") {
				t.Errorf("want reason %s:\n%s", tt.wantReason, out.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestExplainStepUpBrowser: with browser login on, explain says that a
// browser's session is sent to step up instead.
func TestExplainStepUpBrowser(t *testing.T) {
	f, set := load(t, "testdata/explain.yaml")
	f.Gateway.ClientID = "erpgate"
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	tok := fakeJWT(t, map[string]any{"iss": "http://localhost:8080/id", "aud": []string{"DomainAPI"}, "scope": []string{"read"},
		"sub": "alice", "exp": 4102444800, "acr": "pwd", "auth_time": now.Unix()})
	x, err := Explain(f, set, Request{Method: "GET", Path: "/api/secure/x", Token: tok}, now)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	_, _ = x.WriteTo(&out)
	if want := "; a browser's session is sent to sign in again with acr_values=mfa max_age=900 and comes back to the page"; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
}
