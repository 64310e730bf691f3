package e2e

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/sampleapi"
)

// The demo's Trusted Applications and paths, as config.example.yaml and
// the README give them.
const (
	syncClient   = "com.example/nightly-sync"
	syncSecret   = "demo-secret"
	reportClient = "com.example/reporting"
	reportSecret = "reporting-demo-secret"
	systemUser   = "svc-sync"

	personsPath = "/api/domain/odata/General_Contacts_Persons"
	echoPath    = "/api/domain/odata/e2e_echo" // any other OData path: the sample upstream echoes the request
	healthPath  = "/api/health"
)

// TestQuickstart follows the README: get a token with client credentials,
// call the API through the gateway, and see what the gateway refuses.
func TestQuickstart(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})

	tokens := map[clientAuth]string{}
	for _, tc := range []struct {
		name string
		how  clientAuth
	}{
		{"client_secret_post", secretPost},
		{"client_secret_basic", secretBasic},
	} {
		t.Run("token/"+tc.name, func(t *testing.T) {
			resp, tr := g.requestToken(t, syncClient, syncSecret, tc.how)
			checkServiceToken(t, g, resp, tr, syncClient, "read update")
			tokens[tc.how] = tr.AccessToken
		})
	}
	token := tokens[secretPost]
	if token == "" || tokens[secretBasic] == "" {
		t.Fatal("no access token; the rest of the quickstart cannot run")
	}
	if token == tokens[secretBasic] {
		t.Error("two token requests returned the same access token")
	}

	t.Run("persons", func(t *testing.T) {
		for how, tok := range tokens {
			name := map[clientAuth]string{secretPost: "client_secret_post", secretBasic: "client_secret_basic"}[how]
			// SPEC §4: "client-sent X-Auth-* headers are removed, then set".
			resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, tok, "X-Auth-Subject", "evil")
			if resp.Status != http.StatusOK {
				t.Fatalf("GET persons with the %s token: %s", name, resp)
			}
			p := decodePersons(t, resp)
			if len(p.Value) == 0 {
				t.Error("persons list is empty")
			}
			checkServiceIdentity(t, p.Auth, syncClient, "read update")
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("response has no X-Request-Id")
			}
		}
	})

	t.Run("upstream sees identity and request id", func(t *testing.T) {
		resp := g.call(t, http.MethodGet, g.PublicURL+echoPath, token,
			"X-Auth-Subject", "evil", "X-Auth-Client-Id", "evil-app", "X-Auth-Scope", "sec",
			"X-Auth-Session", "evil-session", "X-Auth-Evil", "evil")
		if resp.Status != http.StatusOK {
			t.Fatalf("GET echo: %s", resp)
		}
		e := decodeEcho(t, resp)
		checkServiceIdentity(t, e.Auth, syncClient, "read update")
		for name, v := range e.HeadersXAuth {
			if strings.Contains(v, "evil") {
				t.Errorf("client-sent %s reached the upstream: %q", name, v)
			}
		}
		if _, ok := e.HeadersXAuth["X-Auth-Evil"]; ok {
			t.Error("client-sent X-Auth-Evil reached the upstream")
		}
		if e.RequestID == "" || e.RequestID != resp.Header.Get("X-Request-Id") {
			t.Errorf("upstream request id %q, response X-Request-Id %q; want the same, non-empty", e.RequestID, resp.Header.Get("X-Request-Id"))
		}
		if e.Authorization != sampleapi.Present {
			t.Errorf("upstream Authorization is %s; SPEC §4 passes the bearer token on by default", e.Authorization)
		}

		// A well-formed request id from the client is kept end to end.
		resp = g.call(t, http.MethodGet, g.PublicURL+echoPath, token, "X-Request-Id", "e2e-quickstart-1")
		if e := decodeEcho(t, resp); e.RequestID != "e2e-quickstart-1" || resp.Header.Get("X-Request-Id") != "e2e-quickstart-1" {
			t.Errorf("client request id: upstream saw %q, response has %q; want e2e-quickstart-1", e.RequestID, resp.Header.Get("X-Request-Id"))
		}
	})

	t.Run("write with update scope", func(t *testing.T) {
		resp := g.call(t, http.MethodPost, g.PublicURL+personsPath, token)
		if resp.Status != http.StatusOK {
			t.Fatalf("POST persons with scope update: %s", resp)
		}
		if e := decodeEcho(t, resp); e.Method != http.MethodPost || e.BodyBytes == 0 {
			t.Errorf("upstream saw %s with %d body bytes; want the POST and its body", e.Method, e.BodyBytes)
		}
	})

	t.Run("no token", func(t *testing.T) {
		resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, "")
		if resp.Status != http.StatusUnauthorized {
			t.Fatalf("GET persons without a token: %s; want 401", resp)
		}
		// RFC 6750 §3.1: "If the request lacks any authentication
		// information ..., the resource server SHOULD NOT include an error
		// code or other error information."
		// RFC 9728 §5.1: and names where the route's requirements are.
		want := `Bearer realm="erpgate", resource_metadata="` + g.PublicURL + "/.well-known/oauth-protected-resource" + personsPath + `"`
		if got := resp.Header.Get("WWW-Authenticate"); got != want {
			t.Errorf(`WWW-Authenticate = %q; want %q`, got, want)
		}
		checkJSONError(t, resp, "")
	})

	t.Run("insufficient scope", func(t *testing.T) {
		rtok := g.token(t, reportClient, reportSecret)
		if resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, rtok); resp.Status != http.StatusOK {
			t.Errorf("GET persons with the read-only token: %s; want 200", resp)
		}
		resp := g.call(t, http.MethodPost, g.PublicURL+personsPath, rtok)
		if resp.Status != http.StatusForbidden {
			t.Fatalf("POST persons with a read-only token: %s; want 403", resp)
		}
		wa := resp.Header.Get("WWW-Authenticate")
		if !strings.HasPrefix(wa, `Bearer realm="erpgate"`) || !strings.Contains(wa, `error="insufficient_scope"`) || !strings.Contains(wa, `scope="update"`) {
			t.Errorf(`WWW-Authenticate = %q; want Bearer realm="erpgate", error="insufficient_scope", scope="update"`, wa)
		}
		checkJSONError(t, resp, "insufficient_scope")
	})

	t.Run("public health", func(t *testing.T) {
		resp := g.call(t, http.MethodGet, g.PublicURL+healthPath, "")
		if resp.Status != http.StatusOK {
			t.Fatalf("GET %s without a token: %s; want 200", healthPath, resp)
		}
		var body struct{ Status string }
		if err := json.Unmarshal(resp.Body, &body); err != nil || body.Status != "ok" {
			t.Errorf("health body %s; want the upstream's {\"status\":\"ok\"}", resp.Body)
		}
	})

	t.Run("unknown path", func(t *testing.T) {
		for _, tok := range []string{"", token} {
			resp := g.call(t, http.MethodGet, g.PublicURL+"/no/such/route", tok)
			if resp.Status != http.StatusNotFound {
				t.Fatalf("GET /no/such/route: %s; want 404", resp)
			}
			checkJSONError(t, resp, "")
		}
	})

	t.Run("metrics", func(t *testing.T) {
		// Request counters are updated once the response is written, so
		// they may trail the client by a moment.
		issued := regexp.MustCompile(`(?m)^erpgate_tokens_issued_total\{client_id="com\.example/nightly-sync",grant_type="client_credentials"\} (\d+)`)
		requests := regexp.MustCompile(`(?m)^erpgate_http_requests_total\{[^}]*route="domain-read"[^}]*\} \d+`)
		var text string
		ok := poll(5*time.Second, func() bool {
			text = g.metrics(t)
			m := issued.FindStringSubmatch(text)
			n := 0
			if m != nil {
				n, _ = strconv.Atoi(m[1])
			}
			return n >= 2 && requests.MatchString(text)
		})
		for _, name := range []string{"erpgate_tokens_issued_total", "erpgate_http_requests_total"} {
			if !strings.Contains(text, name) {
				t.Errorf("/metrics has no %s", name)
			}
		}
		if !ok {
			t.Errorf("/metrics does not count 2 tokens for %s and requests on route domain-read:\n%s", syncClient, grepLines(text, "erpgate_tokens_issued_total", "erpgate_http_requests_total"))
		}
	})
}

// checkServiceToken checks a client_credentials token response (RFC 6749
// §4.4.3, §5.1) and the access token's shape (SPEC §3).
func checkServiceToken(t *testing.T, g *Gateway, resp response, tr tokenResponse, clientID, scope string) {
	t.Helper()
	if resp.Status != http.StatusOK || tr.AccessToken == "" {
		t.Fatalf("token endpoint: %s", resp)
	}
	// RFC 6749 §5.1: "The authorization server MUST include the HTTP
	// "Cache-Control" response header field with a value of "no-store"".
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control = %q; want no-store", cc)
	}
	if !strings.EqualFold(tr.TokenType, "Bearer") {
		t.Errorf("token_type = %q; want Bearer", tr.TokenType)
	}
	if tr.ExpiresIn <= 0 || tr.ExpiresIn > 3600 {
		t.Errorf("expires_in = %d; want 1..3600 (access_token_ttl: 1h)", tr.ExpiresIn)
	}
	// RFC 6749 §4.4.3: "A refresh token SHOULD NOT be included."
	if tr.RefreshToken != "" {
		t.Error("client_credentials response has a refresh_token")
	}
	if tr.Scope != "" && !sameScopes(tr.Scope, scope) {
		t.Errorf("scope = %q; want %q", tr.Scope, scope)
	}
	header, claims := jwtParts(t, tr.AccessToken)
	if header["typ"] != "at+jwt" || header["kid"] == nil || header["kid"] == "" {
		t.Errorf("JWT header %v; want typ at+jwt and a kid", header)
	}
	if claims["iss"] != g.Issuer() {
		t.Errorf("iss = %v; want %s", claims["iss"], g.Issuer())
	}
	if aud, _ := claims["aud"].([]any); !slices.Contains(aud, any("DomainAPI")) {
		t.Errorf("aud = %v; want it to contain DomainAPI", claims["aud"])
	}
	if claims["client_id"] != clientID || claims["client_system_user"] != systemUser {
		t.Errorf("client_id = %v, client_system_user = %v; want %s, %s", claims["client_id"], claims["client_system_user"], clientID, systemUser)
	}
	// SPEC §3: client-credentials tokens carry the system user's id and
	// its type in ERP.net's name.
	if claims["client_system_user_type"] != "SystemUserNoLogin" {
		t.Errorf("client_system_user_type = %v; want SystemUserNoLogin", claims["client_system_user_type"])
	}
	if id, _ := claims["client_system_user_id"].(string); id == "" {
		t.Errorf("client_system_user_id = %v; want the system user's id", claims["client_system_user_id"])
	}
}

// checkServiceIdentity checks the X-Auth-* headers the upstream received
// for a client-credentials call (SPEC §4).
func checkServiceIdentity(t *testing.T, a sampleapi.Auth, clientID, scope string) {
	t.Helper()
	if a.Subject != systemUser {
		t.Errorf("upstream X-Auth-Subject = %q; want %s", a.Subject, systemUser)
	}
	if a.ClientID != clientID {
		t.Errorf("upstream X-Auth-Client-Id = %q; want %s", a.ClientID, clientID)
	}
	if !sameScopes(a.Scope, scope) {
		t.Errorf("upstream X-Auth-Scope = %q; want %q", a.Scope, scope)
	}
	if a.Session == "" {
		t.Error("upstream got no X-Auth-Session")
	}
	// SPEC §3: claim values use ERP.net's names; X-Auth-User-Type is the
	// principal's (here the system user's).
	if a.UserType != "SystemUserNoLogin" {
		t.Errorf("upstream X-Auth-User-Type = %q; want SystemUserNoLogin", a.UserType)
	}
}

// sameScopes compares space-delimited scope lists as sets.
func sameScopes(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// checkJSONError checks an error response's JSON body; code, if set, is
// the expected error code.
func checkJSONError(t *testing.T, resp response, code string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q; want application/json", ct)
	}
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil || body.Error == "" {
		t.Errorf("body %q; want JSON with an error field", resp.Body)
		return
	}
	if code != "" && body.Error != code {
		t.Errorf("error = %q; want %q", body.Error, code)
	}
}

func decodeEcho(t *testing.T, resp response) *sampleapi.Echo {
	t.Helper()
	e, err := sampleapi.DecodeEcho(strings.NewReader(string(resp.Body)))
	if err != nil {
		t.Fatalf("%v\n%s", err, resp)
	}
	return e
}

func decodePersons(t *testing.T, resp response) sampleapi.Persons {
	t.Helper()
	var p sampleapi.Persons
	if err := json.Unmarshal(resp.Body, &p); err != nil {
		t.Fatalf("persons body: %v\n%s", err, resp)
	}
	return p
}

// poll calls cond every pollEvery until it is true or timeout passes.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollEvery)
	}
}

// grepLines returns the lines of text that start with one of prefixes.
func grepLines(text string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
