package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Token exchange (RFC 8693, SPEC §12) against the built binary: at the
// token endpoint, for an app allowed it, and at the edge, where a route
// forwards its upstream a token exchanged for it alone.

const (
	txGrant        = "urn:ietf:params:oauth:grant-type:token-exchange"
	txAccessToken  = "urn:ietf:params:oauth:token-type:access_token"
	txUpstreamAud  = "erp-billing-internal"
	txBillingPath  = "/api/billing/invoices"
	txLedgerPath   = "/api/ledger/entries"
	txTablePath    = "/api/table/Crm_Customers"
	txReportingApp = "    scope: read\n  - uri: com.example/admin-cli"
)

// txGateway runs the example config (serve: no sample API) with the
// reporting app allowed token exchange and three routes to a recording
// upstream: billing exchanges the caller's token for erp-billing-internal
// with read; ledger for the same audience with update; table takes
// TableAPI tokens as they are.
func txGateway(t *testing.T) (*Gateway, *recorder) {
	t.Helper()
	rec := startRecorder(t)
	g := startGateway(t, gatewayOptions{Serve: true, Edit: func(c string) string {
		if !strings.Contains(c, txReportingApp) {
			t.Fatal("config.example.yaml's reporting app changed; update e2e/token_exchange_test.go")
		}
		c = strings.Replace(c, txReportingApp, "    scope: read\n    token_exchange: true\n  - uri: com.example/admin-cli", 1)
		return withRoutes(t, c, fmt.Sprintf(`  - name: billing
    match: {path_prefix: /api/billing/}
    upstream: %[1]s
    audience: DomainAPI
    scopes: [read]
    upstream_token:
      exchange: {audience: %[2]s, scopes: [read]}
  - name: ledger
    match: {path_prefix: /api/ledger/}
    upstream: %[1]s
    audience: DomainAPI
    scopes: [read]
    upstream_token:
      exchange: {audience: %[2]s, scopes: [update]}
  - name: table
    match: {path_prefix: /api/table/}
    upstream: %[1]s
    audience: TableAPI
    scopes: [read]
`, rec.URL, txUpstreamAud))
	}})
	return g, rec
}

// upstreamVerifier checks tokens as an upstream of the gateway would:
// go-oidc, the keys from the gateway's discovery and JWKS, the issuer,
// and the upstream's own audience.
func upstreamVerifier(t *testing.T, g *Gateway, audience string) *oidc.IDTokenVerifier {
	t.Helper()
	ctx := oidc.ClientContext(t.Context(), g.Client)
	p, err := oidc.NewProvider(ctx, g.Issuer())
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return p.Verifier(&oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{"RS256", "ES256", "EdDSA"}})
}

// exchangedClaims are the claims of an exchanged token this test reads.
type exchangedClaims struct {
	Aud              []string `json:"aud"`
	Scope            []string `json:"scope"`
	ClientID         string   `json:"client_id"`
	SID              string   `json:"sid"`
	ClientSystemUser string   `json:"client_system_user"`
	Act              *struct {
		Sub string `json:"sub"`
	} `json:"act"`
}

// TestTokenExchangeAtTheEdge: the upstream of an exchange route receives
// a token that is not the caller's, verifies with the gateway's JWKS for
// its own audience, names the gateway as actor — and is refused at every
// route of the gateway. A caller lacking the exchange's scopes is refused
// before anything reaches the upstream.
func TestTokenExchangeAtTheEdge(t *testing.T) {
	t.Parallel()
	g, rec := txGateway(t)
	caller := g.token(t, syncClient, syncSecret) // read update
	if resp := g.call(t, http.MethodGet, g.PublicURL+txBillingPath, caller); resp.Status != http.StatusOK {
		t.Fatalf("billing with the caller's token: %s", resp)
	}
	r, _ := rec.take()
	if r == nil {
		t.Fatal("the upstream was not reached")
	}
	fwd, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || fwd == "" || strings.Contains(r.Header.Get("Authorization"), caller) {
		t.Fatalf("the upstream got Authorization %q, want a bearer token other than the caller's", r.Header.Get("Authorization"))
	}
	idt, err := upstreamVerifier(t, g, txUpstreamAud).Verify(t.Context(), fwd)
	if err != nil {
		t.Fatalf("the forwarded token does not verify with the gateway's JWKS for %s: %v", txUpstreamAud, err)
	}
	var c exchangedClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	_, callerClaims := jwtParts(t, caller)
	if !slices.Equal(c.Aud, []string{txUpstreamAud}) || !slices.Equal(c.Scope, []string{"read"}) || c.ClientID != syncClient ||
		c.ClientSystemUser != systemUser || c.SID != callerClaims["sid"] || c.Act == nil || c.Act.Sub != "erpgate" {
		t.Errorf("forwarded token claims = %+v", c)
	}
	if _, err := upstreamVerifier(t, g, "DomainAPI").Verify(t.Context(), fwd); err == nil {
		t.Error("the forwarded token verifies for DomainAPI too")
	}

	// The second call reuses it (cached per session and token).
	g.call(t, http.MethodGet, g.PublicURL+txBillingPath, caller)
	if r, _ := rec.take(); r == nil || r.Header.Get("Authorization") != "Bearer "+fwd {
		t.Error("the second call did not forward the cached token")
	}

	// Sent back to the gateway, it works nowhere.
	for _, p := range []string{txBillingPath, txLedgerPath, txTablePath, personsPath} {
		resp := g.call(t, http.MethodGet, g.PublicURL+p, fwd)
		if resp.Status != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s with the forwarded token: %s %q, want 401 invalid_token", p, resp, resp.Header.Get("WWW-Authenticate"))
		}
		if r, _ := rec.take(); r != nil {
			t.Errorf("%s: the forwarded token reached an upstream", p)
		}
	}

	// The reporting app has read alone: the ledger's upstream token
	// would carry update.
	reader := g.token(t, reportClient, reportSecret)
	resp := g.call(t, http.MethodGet, g.PublicURL+txLedgerPath, reader)
	if ch := resp.Header.Get("WWW-Authenticate"); resp.Status != http.StatusForbidden || !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, "update") {
		t.Errorf("ledger without update: %s %q, want 403 insufficient_scope naming update", resp, ch)
	}
	if r, _ := rec.take(); r != nil {
		t.Error("a refused call reached the upstream")
	}
}

// txExchange posts an RFC 8693 token exchange as clientID (form fields
// as name, value pairs).
func txExchange(t *testing.T, g *Gateway, clientID, secret string, kv ...string) (response, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {txGrant}, "subject_token_type": {txAccessToken}}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Set(kv[i], kv[i+1])
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, g.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basicAuth(clientID, secret))
	resp := g.do(t, req)
	var body map[string]any
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		t.Fatalf("token endpoint answered %s: not JSON: %v", resp, err)
	}
	return resp, body
}

// TestTokenExchangeGrant: the grant over HTTP (RFC 8693 §2): discovery
// advertises it; the reporting app (token_exchange: true) trades the sync
// app's token for one for TableAPI alone, with the scopes both have, and
// act naming itself; that token works at the TableAPI route and not at
// DomainAPI's; introspection reports act; an app not allowed, a wider
// scope and an unknown audience are refused.
func TestTokenExchangeGrant(t *testing.T) {
	t.Parallel()
	g, rec := txGateway(t)
	var disco struct {
		Grants []string `json:"grant_types_supported"`
	}
	if err := json.Unmarshal(g.call(t, http.MethodGet, g.Issuer()+"/.well-known/openid-configuration", "").Body, &disco); err != nil || !slices.Contains(disco.Grants, txGrant) {
		t.Errorf("discovery grant_types_supported = %v (%v), want the token exchange grant", disco.Grants, err)
	}

	subject := g.token(t, syncClient, syncSecret) // read update
	resp, body := txExchange(t, g, reportClient, reportSecret, "subject_token", subject, "audience", "TableAPI")
	if resp.Status != http.StatusOK || body["issued_token_type"] != txAccessToken || body["token_type"] != "Bearer" || body["scope"] != "read" || body["refresh_token"] != nil {
		t.Fatalf("exchange: %s", resp)
	}
	tok := body["access_token"].(string)
	idt, err := upstreamVerifier(t, g, "TableAPI").Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("the exchanged token does not verify for TableAPI: %v", err)
	}
	var c exchangedClaims
	_ = idt.Claims(&c)
	if !slices.Equal(c.Aud, []string{"TableAPI"}) || c.Act == nil || c.Act.Sub != reportClient || c.ClientID != syncClient {
		t.Errorf("exchanged token claims = %+v", c)
	}
	if resp := g.call(t, http.MethodGet, g.PublicURL+txTablePath, tok); resp.Status != http.StatusOK {
		t.Errorf("at the TableAPI route: %s", resp)
	}
	if r, _ := rec.take(); r == nil || r.Header.Get("Authorization") != "Bearer "+tok {
		t.Error("the TableAPI route did not forward the exchanged token")
	}
	if resp := g.call(t, http.MethodGet, g.PublicURL+txBillingPath, tok); resp.Status != http.StatusUnauthorized {
		t.Errorf("at a DomainAPI route: %s, want 401", resp)
	}

	// Introspection names the actor (RFC 8693 §4.1).
	form := url.Values{"token": {tok}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, g.Issuer()+"/connect/introspect", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basicAuth(syncClient, syncSecret))
	var intro map[string]any
	_ = json.Unmarshal(g.do(t, req).Body, &intro)
	if act, _ := intro["act"].(map[string]any); intro["active"] != true || act["sub"] != reportClient {
		t.Errorf("introspection = %v, want active with act.sub %s", intro, reportClient)
	}

	for _, tc := range []struct {
		name, client, secret string
		kv                   []string
		want                 string
	}{
		{"app not allowed", syncClient, syncSecret, []string{"subject_token", subject, "audience", "TableAPI"}, "unauthorized_client"},
		{"wider scope", reportClient, reportSecret, []string{"subject_token", subject, "audience", "TableAPI", "scope", "read update"}, "invalid_scope"},
		{"unknown audience", reportClient, reportSecret, []string{"subject_token", subject, "audience", txUpstreamAud}, "invalid_target"},
		{"not a token", reportClient, reportSecret, []string{"subject_token", "not-a-token", "audience", "TableAPI"}, "invalid_request"},
	} {
		resp, body := txExchange(t, g, tc.client, tc.secret, tc.kv...)
		if resp.Status != http.StatusBadRequest || body["error"] != tc.want || body["access_token"] != nil {
			t.Errorf("%s: %s, want 400 %s", tc.name, resp, tc.want)
		}
	}
	if m := g.metrics(t); !strings.Contains(m, `erpgate_tokens_issued_total{client_id="com.example/reporting",grant_type="token_exchange"} 1`) {
		t.Errorf("/metrics lacks the token_exchange grant:\n%s", grepLines(m, "erpgate_tokens_issued_total"))
	}
}

// TestTokenExchangeWithAuthlib: an independent client (Authlib) finds
// the grant in discovery, exchanges the sync app's token as the reporting
// app for a TableAPI token, verifies it with the JWKS for that audience
// and calls the TableAPI route with it.
func TestTokenExchangeWithAuthlib(t *testing.T) {
	t.Parallel()
	requireDep(t, hasAuthlib(), systemPython+" with Authlib and requests (apt-get install python3-authlib python3-requests)")
	g, rec := txGateway(t)
	script, err := filepath.Abs(filepath.Join("testdata", "authlib_token_exchange.py"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, systemPython, script, g.Issuer()+"/.well-known/openid-configuration",
		syncClient, syncSecret, reportClient, reportSecret, "TableAPI", g.PublicURL+txTablePath)
	cmd.Env = pythonEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("authlib client: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var s struct {
		Version         string   `json:"authlib_version"`
		Grants          []string `json:"grant_types_supported"`
		Error           string   `json:"error"`
		IssuedTokenType string   `json:"issued_token_type"`
		TokenType       string   `json:"token_type"`
		Scope           string   `json:"scope"`
		HasRefresh      bool     `json:"has_refresh_token"`
		SameAsSubject   bool     `json:"same_as_subject"`
		Verified        bool     `json:"verified"`
		Claims          struct {
			Aud      []string          `json:"aud"`
			Act      map[string]string `json:"act"`
			ClientID string            `json:"client_id"`
			Scope    []string          `json:"scope"`
		} `json:"claims"`
		APIStatus int `json:"api_status"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("authlib client output is not the JSON summary: %v\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("Authlib %s", s.Version)
	if s.Error != "" || !s.Verified {
		t.Fatalf("authlib: %q (verified %v)\n%s", s.Error, s.Verified, stdout.String())
	}
	if !slices.Contains(s.Grants, txGrant) || s.IssuedTokenType != txAccessToken || !strings.EqualFold(s.TokenType, "Bearer") ||
		s.Scope != "read" || s.HasRefresh || s.SameAsSubject {
		t.Errorf("authlib summary:\n%s", stdout.String())
	}
	c := s.Claims
	if !slices.Equal(c.Aud, []string{"TableAPI"}) || c.Act["sub"] != reportClient || c.ClientID != syncClient || !slices.Equal(c.Scope, []string{"read"}) {
		t.Errorf("exchanged token claims as Authlib read them: %+v", c)
	}
	if s.APIStatus != http.StatusOK {
		t.Errorf("the TableAPI route with the exchanged token: %d", s.APIStatus)
	}
	if r, _ := rec.take(); r == nil {
		t.Error("the TableAPI route's upstream was not reached")
	}
}
