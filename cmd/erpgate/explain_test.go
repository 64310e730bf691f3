package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/reftoken"
)

const explainConfig = "testdata/explain.yaml"

// runExplain runs the binary's dispatcher with buffers, as main does.
func runExplain(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	e := env{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		lookup: func(string) (string, bool) { return "", false },
	}
	code = run(context.Background(), args, e)
	return code, out.String(), errb.String()
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

	tests := []struct {
		name       string
		args       []string // after "policy explain --config testdata/explain.yaml"
		stdin      string
		wantCode   int
		wantReason string   // the "reason" line; "" for usage errors
		wantOut    []string // substrings of stdout
		wantErr    string   // substring of stderr
	}{
		{
			name: "public route without credentials", args: []string{"GET", "/api/health"},
			wantCode: explainAllow, wantReason: "public",
			wantOut: []string{
				"route     health (routes[3]): path /api/health, any method",
				"requires  nothing: public route",
				"decision  allow",
				`counted   erpgate_auth_decisions_total{route="health",decision="allow",reason="public"}`,
			},
		},
		{
			name: "protected route without credentials", args: []string{"GET", "/api/domain/odata/x"},
			wantCode: explainDeny, wantReason: "missing_credentials",
			wantOut: []string{
				"caller    no credentials",
				"route     domain-read (routes[1]): path_prefix /api/domain/, methods GET HEAD",
				`requires  a token for audience "DomainAPI" with scope "read"`,
				"no token  401 (on_missing_token: unauthorized; browser login is off",
				`why       route "domain-read" requires a token and the request has none`,
				`answer    401 WWW-Authenticate: Bearer realm="erpgate"`,
				`reason="missing_credentials"}`,
			},
		},
		{
			name: "assumed scopes allow", args: []string{"--scopes", "read", "GET", "/api/domain/odata/x"},
			wantCode: explainAllow, wantReason: "allowed",
			wantOut: []string{
				`audiences "DomainAPI", "TableAPI" (tokens.audiences`,
				`scopes "read"`,
				`why       route "domain-read": token is for "DomainAPI" and has scope "read"`,
				"answer    forwarded to the upstream, once the session opens",
				`{route="domain-read",decision="allow",reason="allowed"}`,
			},
		},
		{
			name: "flags after the operands, as SPEC §1 writes them", args: []string{"POST", "/api/domain/odata/x", "--scopes", "read"},
			wantCode: explainDeny, wantReason: "insufficient_scope",
			wantOut: []string{
				"route     domain-write (routes[2]): path_prefix /api/domain/, any method",
				"upstream  http://127.0.0.1:8081 (timeout 5s), Authorization not passed on",
				`why       route "domain-write" requires scope "update"; token has "read"`,
				`answer    403 WWW-Authenticate: Bearer realm="erpgate", error="insufficient_scope", scope="update"`,
			},
		},
		{
			name: "every missing scope is named", args: []string{"GET", "/api/reports/daily", "--scopes", ""},
			wantCode: explainDeny, wantReason: "insufficient_scope",
			wantOut: []string{
				`requires  a token for audience "TableAPI" with scopes "read", "update"`,
				`route "reports" requires scopes "read", "update"; token has no scopes`,
				`scope="read update"`,
			},
		},
		{
			name: "assumed audience", args: []string{"--scopes", "read", "--audience", "TableAPI", "GET", "/api/domain/x"},
			wantCode: explainDeny, wantReason: "wrong_audience",
			wantOut: []string{
				`audiences "TableAPI" (--audience)`,
				`route "domain-read" requires a token for "DomainAPI"; token is for "TableAPI"`,
				`error="invalid_token"`,
			},
		},
		{
			name: "lower-case method", args: []string{"get", "/api/domain/x", "--scopes", "read"},
			wantCode: explainAllow, wantReason: "allowed",
			wantOut: []string{"request   GET /api/domain/x"},
		},
		{
			name: "token with array claims", args: []string{"--token", userToken, "GET", "/api/domain/odata/x"},
			wantCode: explainAllow, wantReason: "allowed",
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
			name: "token with a string scope", args: []string{"--token", stringScope, "GET", "/api/reports/x"},
			wantCode: explainAllow, wantReason: "allowed",
			wantOut: []string{`system user "svc-sync"`, `audiences "TableAPI"`, `scopes "read", "update"`},
		},
		{
			name: "token for another audience", args: []string{"--token", stringScope, "DELETE", "/api/domain/x"},
			wantCode: explainDeny, wantReason: "wrong_audience",
			wantOut: []string{`token is for "TableAPI"`},
		},
		{
			name: "expired token: policy still explained, with a note", args: []string{"--token", expired, "GET", "/api/domain/x"},
			wantCode: explainAllow, wantReason: "allowed",
			wantOut: []string{"note      the token expired at 1970-01-01T00:00:01Z: the proxy refuses it (401 invalid_token)"},
		},
		{
			name: "token from another issuer", args: []string{"--token", foreign, "GET", "/api/domain/x"},
			wantCode: explainAllow, wantReason: "allowed",
			wantOut: []string{`note      the token's issuer "https://elsewhere.example/id" is not this gateway's (http://localhost:8080/id)`},
		},
		{
			name: "token on stdin with its Bearer prefix", args: []string{"--token", "-", "GET", "/api/domain/x"},
			stdin: "Bearer " + userToken + "\n", wantCode: explainAllow, wantReason: "allowed",
			wantOut: []string{`user "alice"`},
		},
		{
			name: "absolute URL with a query", args: []string{"GET", "https://erp.example.com/api/health?x=1"},
			wantCode: explainAllow, wantReason: "public",
			wantOut: []string{"request   GET /api/health\n"},
		},
		{
			name: "no route", args: []string{"GET", "/nope"},
			wantCode: explainDeny, wantReason: "no_route",
			wantOut: []string{
				"route     none",
				"why       no route matches GET /nope",
				`answer    404 error="not_found"`,
				`counted   erpgate_http_requests_total{route="",method="GET",code="404"}`,
			},
		},
		{
			name: "no route: HEAD is not implied by GET", args: []string{"HEAD", "/api/reports/x", "--scopes", "read update"},
			wantCode: explainDeny, wantReason: "no_route",
			wantOut: []string{`hint      routes[0] "reports" matches the path but only for GET, not HEAD`},
		},
		{
			name: "no route: a prefix with a trailing slash", args: []string{"GET", "/api/reports"},
			wantCode: explainDeny, wantReason: "no_route",
			wantOut: []string{`hint      routes[0] "reports" matches "/api/reports/", with a trailing slash`},
		},
		{
			name: "non-canonical path, percent-encoded dots", args: []string{"GET", "/api/health/%2e%2e/domain/x"},
			wantCode: explainDeny, wantReason: "invalid_path",
			wantOut: []string{
				"request   GET /api/health/../domain/x",
				`answer    400 WWW-Authenticate: Bearer realm="erpgate", error="invalid_request"`,
				`code="400"`,
			},
		},
		{
			name: "non-canonical path, double slash", args: []string{"GET", "/api//domain/x", "--scopes", "read"},
			wantCode: explainDeny, wantReason: "invalid_path",
		},
		{
			name: "operands after --", args: []string{"--scopes", "read", "--", "GET", "/api/domain/x"},
			wantCode: explainAllow, wantReason: "allowed",
		},

		// Usage errors: exit 2, nothing on stdout.
		{name: "no operands", args: nil, wantCode: explainUsage, wantErr: "want METHOD and URL, got 0"},
		{name: "three operands", args: []string{"GET", "/a", "/b"}, wantCode: explainUsage, wantErr: "got 3 operand(s)"},
		{name: "unknown flag", args: []string{"--scope", "read", "GET", "/a"}, wantCode: explainUsage, wantErr: "flag provided but not defined: -scope"},
		{
			name: "token and scopes", args: []string{"--token", userToken, "--scopes", "read", "GET", "/a"},
			wantCode: explainUsage, wantErr: "do not combine it with --scopes",
		},
		{name: "not a JWT", args: []string{"--token", "abc", "GET", "/a"}, wantCode: explainUsage, wantErr: "not a JWT access token the proxy reads (it answers 401 invalid_token)"},
		{name: "payload not base64url", args: []string{"--token", header + ".b*c.d", "GET", "/a"}, wantCode: explainUsage, wantErr: "illegal base64"},
		{name: "header not a JWS header", args: []string{"--token", "a.b.c", "GET", "/a"}, wantCode: explainUsage, wantErr: "not a JWT access token"},
		{
			name: "an ID token is not an access token", args: []string{"--token", idToken, "GET", "/a"},
			wantCode: explainUsage, wantErr: `token type "JWT" is not at+jwt`,
		},
		{
			name: "alg none", args: []string{"--token", enc(`{"alg":"none","typ":"at+jwt"}`) + "." + enc(`{"aud":["DomainAPI"]}`) + ".", "GET", "/a"},
			wantCode: explainUsage, wantErr: "not a JWT access token",
		},
		{
			name: "payload not JSON", args: []string{"--token", header + "." + enc("nope") + ".sig", "GET", "/a"},
			wantCode: explainUsage, wantErr: "not a JSON claim set",
		},
		{
			name: "aud of the wrong type", args: []string{"--token", fakeJWT(t, map[string]any{"aud": 7}), "GET", "/a"},
			wantCode: explainUsage, wantErr: "cannot unmarshal number into Go struct field Access.aud",
		},
		{
			name: "a string aud: the proxy cannot read it", args: []string{"--token", stringAud, "GET", "/api/reports/x"},
			wantCode: explainUsage, wantErr: "payload is not a JSON claim set the proxy reads (it answers 401 invalid_token)",
		},
		{
			name: "two tokens in one", args: []string{"--token", "Bearer " + userToken + " " + userToken, "GET", "/a"},
			wantCode: explainUsage, wantErr: "malformed Authorization header",
		},
		{
			name: "reference token", args: []string{"--token", reftoken.Prefix + strings.Repeat("ab", 32), "GET", "/a"},
			wantCode: explainUsage, wantErr: "reference tokens (" + reftoken.Prefix + "…) are opaque",
		},
		{name: "opaque URL", args: []string{"GET", "mailto:x@example.com"}, wantCode: explainUsage, wantErr: "give a path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"policy", "explain", "--config", explainConfig}, tt.args...)
			code, out, errOut := runExplain(t, tt.stdin, args...)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			if tt.wantReason != "" {
				if want := "reason    " + tt.wantReason + "\n"; !strings.Contains(out, want) {
					t.Errorf("stdout has no %q line:\n%s", strings.TrimSpace(want), out)
				}
			} else if out != "" {
				t.Errorf("usage error printed on stdout:\n%s", out)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, errOut)
			}
			if tt.wantCode != explainUsage && errOut != "" {
				t.Errorf("unexpected stderr:\n%s", errOut)
			}
		})
	}
}

func TestExplainConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("routes:\n  - name: x\n    match: {path: nope}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"missing file", []string{"policy", "explain", "--config", filepath.Join(dir, "none.yaml"), "GET", "/"}, "no such file"},
		{"invalid config", []string{"policy", "explain", "--config", bad, "GET", "/"}, "routes[0]"},
		{"no subcommand", []string{"policy"}, "usage: erpgate policy explain"},
		{"unknown subcommand", []string{"policy", "simulate"}, "usage: erpgate policy explain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runExplain(t, "", tt.args...)
			if code != explainUsage || out != "" || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant exit 2 and %q", code, out, errOut, tt.wantErr)
			}
		})
	}
	if code, out, _ := runExplain(t, "", "policy", "--help"); code != 0 || !strings.Contains(out, "Exit status: 0 allow, 1 deny") {
		t.Errorf("policy --help: exit %d\n%s", code, out)
	}
}

// TestExplainMatchesProxy sends real requests through the in-process
// gateway and checks that, for each, the series `policy explain` says is
// counted is the one erpgate_auth_decisions_total really counted: explain
// and the proxy speak the same reason codes.
func TestExplainMatchesProxy(t *testing.T) {
	front, g := startGateway(t, t.TempDir())
	readToken := explainTestToken(t, front.URL, "com.example/reporting", "reporting-demo-secret") // scope read

	tests := []struct {
		name, method, path, token string
		explainArgs               []string
	}{
		{"public", "GET", "/api/health", "", nil},
		{"missing credentials", "GET", "/api/domain/odata/x", "", nil},
		{"allowed", "GET", "/api/domain/odata/x", readToken, []string{"--token", readToken}},
		{"insufficient scope", "POST", "/api/domain/odata/x", readToken, []string{"--token", readToken}},
		{"insufficient scope, assumed", "DELETE", "/api/domain/odata/x", readToken, []string{"--scopes", "read"}},
	}
	answered := regexp.MustCompile(`(?m)^answer    (forwarded|\d{3}) `)
	counted := regexp.MustCompile(`(?m)^counted   erpgate_auth_decisions_total\{route="([^"]*)",decision="([^"]*)",reason="([^"]*)"\}$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := authDecisions(t, g)
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
			for k, v := range authDecisions(t, g) {
				if v != before[k] {
					got = append(got, k)
				}
			}

			args := append([]string{"policy", "explain", "--config", "../../config.example.yaml"}, tt.explainArgs...)
			code, out, errOut := runExplain(t, "", append(args, tt.method, tt.path)...)
			m := counted.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("explain (exit %d) has no counted line:\n%s%s", code, out, errOut)
			}
			want := m[1] + "," + m[2] + "," + m[3]
			if len(got) != 1 || got[0] != want {
				t.Fatalf("proxy answered %d and counted %q; explain says %q:\n%s", resp.StatusCode, got, want, out)
			}
			if (code == explainAllow) != (m[2] == "allow") {
				t.Errorf("exit code %d for decision %s", code, m[2])
			}
			// The answer explain names is the one the proxy gave.
			a := answered.FindStringSubmatch(out)
			if a == nil || (a[1] == "forwarded" && resp.StatusCode != http.StatusOK) ||
				(a[1] != "forwarded" && a[1] != strconv.Itoa(resp.StatusCode)) {
				t.Errorf("proxy answered %d; explain says:\n%s", resp.StatusCode, out)
			}
		})
	}
}

// authDecisions reads erpgate_auth_decisions_total from the gateway's
// registry as "route,decision,reason" -> count.
func authDecisions(t *testing.T, g *gateway) map[string]float64 {
	t.Helper()
	mfs, err := g.registry.Gather()
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

// explainTestToken gets a client_credentials access token.
func explainTestToken(t *testing.T, base, clientID, secret string) string {
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

// TestExplainReadmeExample keeps the README's `policy explain` example
// true: the command it shows, run on config.example.yaml, prints exactly
// the lines it shows.
func TestExplainReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const prompt = "$ erpgate policy explain "
	_, block, ok := strings.Cut(string(readme), "```console\n"+prompt)
	if !ok {
		t.Fatal("README has no ```console block starting with " + prompt)
	}
	block, _, _ = strings.Cut(block, "```")
	cmdLine, want, _ := strings.Cut(block, "\n")
	args := append([]string{"policy", "explain"}, strings.Fields(strings.ReplaceAll(cmdLine, "erpgate.yaml", "../../config.example.yaml"))...)
	_, got, errOut := runExplain(t, "", args...)
	if got != want {
		t.Errorf("README example is out of date; `erpgate %s` prints:\n%s%s\nREADME shows:\n%s", strings.Join(args, " "), got, errOut, want)
	}
}

// TestExplainBrowserRoute: with browser login on (gateway.client_id), a
// route with on_missing_token: login says browsers are sent to sign in.
func TestExplainBrowserRoute(t *testing.T) {
	code, out, errOut := runExplain(t, "", "policy", "explain", "--config", "../../config.example.yaml", "GET", "/api/domain/html/home")
	if code != explainDeny {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"route     web (routes[0])",
		"no token  browsers (GET/HEAD with Accept: text/html) are sent to login, others get 401 (on_missing_token: login)",
		"reason    missing_credentials\n",
		`or a login redirect for a browser`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}

// FuzzExplainToken: decoding an untrusted --token never panics, and what
// it yields is always an authenticated caller.
func FuzzExplainToken(f *testing.F) {
	f.Add(header + "." + enc(`{"aud":["DomainAPI"],"scope":["read"]}`) + ".sig")
	f.Add(header + "." + enc(`{"aud":["A","B"],"scope":"read update","exp":1}`) + ".x")
	f.Add("e30.eyJhdWQiOlsiQSIsIkIiXSwic2NvcGUiOiJyZWFkIHVwZGF0ZSIsImV4cCI6MX0.x")
	f.Add("Bearer a.b.c")
	f.Add(reftoken.Prefix + "00")
	f.Add("a..b")
	cfg := &config.File{PublicURL: "http://localhost:8080"}
	f.Fuzz(func(t *testing.T, tok string) {
		if tok == "-" {
			return // reads stdin
		}
		c, err := explainToken(tok, cfg, strings.NewReader(""), time.Unix(1e9, 0))
		if err == nil && !c.facts.Authenticated {
			t.Fatalf("token %q decoded to an unauthenticated caller", tok)
		}
	})
}
