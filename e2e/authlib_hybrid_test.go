package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAuthlibHybridFlow: Authlib runs the OpenID Connect hybrid flow
// (response_type=code id_token, as ERP.net's samples and the ASP.NET Core
// OIDC handler use it) with PKCE for the sample public app of
// config.example.yaml: the response comes in the fragment, the ID token
// verifies against the JWKS with c_hash and nonce checked, the code is
// redeemed once, cross-origin from the app's origin, and a query-mode
// request is refused in the fragment.
func TestAuthlibHybridFlow(t *testing.T) {
	t.Parallel()
	requireDep(t, hasAuthlib(), systemPython+" with Authlib and requests (apt-get install python3-authlib python3-requests)")
	g := startGateway(t, gatewayOptions{})
	script, _ := filepath.Abs(filepath.Join("testdata", "authlib_hybrid.py"))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, systemPython, script, g.Issuer()+"/.well-known/openid-configuration",
		spaClient, spaRedirect, aliceLogin, alicePassword)
	cmd.Env = pythonEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("authlib hybrid flow: %v\nstdout:\n%s\nstderr:\n%s\ngateway:\n%s", err, stdout.String(), stderr.String(), g.Stderr())
	}
	type flags struct {
		Status           int    `json:"status"`
		AllowOrigin      string `json:"allow_origin"`
		AllowCredentials string `json:"allow_credentials"`
	}
	var s struct {
		Origin                string         `json:"origin"`
		ResponseTypes         []string       `json:"response_types_supported"`
		AuthorizeStatus       int            `json:"authorize_status"`
		LoginPageStatus       int            `json:"login_page_status"`
		LoginStatus           int            `json:"login_status"`
		LocationBase          string         `json:"location_base"`
		LocationQuery         string         `json:"location_query"`
		ResponseKeys          []string       `json:"response_keys"`
		ResponseIss           string         `json:"response_iss"`
		StateMatches          bool           `json:"state_matches"`
		AuthlibValid          bool           `json:"authlib_valid"`
		AuthlibError          string         `json:"authlib_error"`
		Alg                   string         `json:"id_token_alg"`
		IDToken               map[string]any `json:"id_token"`
		CHashMatches          bool           `json:"c_hash_matches"`
		CHashMatchesOtherCode bool           `json:"c_hash_matches_other_code"`
		NonceMatches          bool           `json:"nonce_matches"`
		Preflight             flags          `json:"preflight"`
		TokenAllowOrigin      string         `json:"token_allow_origin"`
		TokenKeys             []string       `json:"token_keys"`
		TokenIDTokenValid     bool           `json:"token_id_token_valid"`
		TokenIDTokenError     string         `json:"token_id_token_error"`
		TokenIDToken          map[string]any `json:"token_id_token"`
		Replay                map[string]any `json:"replay"`
		QueryMode             map[string]any `json:"query_mode"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("not the JSON summary: %v\n%s", err, stdout.String())
	}
	if !slices.Contains(s.ResponseTypes, "code id_token") {
		t.Errorf("discovery response_types_supported %v", s.ResponseTypes)
	}
	if s.AuthorizeStatus != 302 || s.LoginPageStatus != 200 || s.LoginStatus != 302 {
		t.Errorf("browser steps: authorize %d, login page %d, login %d", s.AuthorizeStatus, s.LoginPageStatus, s.LoginStatus)
	}
	// OIDC Core §3.3.2.5: the response is in the fragment, never the query.
	if s.LocationBase != spaRedirect || s.LocationQuery != "" ||
		strings.Join(s.ResponseKeys, " ") != "code id_token iss state" {
		t.Errorf("authorization response to %q, query %q, fragment keys %v", s.LocationBase, s.LocationQuery, s.ResponseKeys)
	}
	if s.ResponseIss != g.Issuer() || !s.StateMatches {
		t.Errorf("authorization response iss %q (want %s), state matches %v", s.ResponseIss, g.Issuer(), s.StateMatches)
	}
	if !s.AuthlibValid {
		t.Errorf("Authlib refused the hybrid ID token: %s", s.AuthlibError)
	}
	if !s.CHashMatches || s.CHashMatchesOtherCode || !s.NonceMatches {
		t.Errorf("c_hash matches the code %v, another code %v; nonce matches %v (alg %s, claims %v)",
			s.CHashMatches, s.CHashMatchesOtherCode, s.NonceMatches, s.Alg, s.IDToken)
	}
	if s.IDToken["sub"] != aliceLogin || s.IDToken["azp"] != spaClient || s.IDToken["sid"] == nil || s.IDToken["at_hash"] != nil {
		t.Errorf("front-channel ID token claims %v", s.IDToken)
	}
	if s.Preflight.Status != 204 || s.Preflight.AllowOrigin != s.Origin || s.Preflight.AllowCredentials != "" || s.TokenAllowOrigin != s.Origin {
		t.Errorf("CORS for %s: preflight %+v, token response Access-Control-Allow-Origin %q", s.Origin, s.Preflight, s.TokenAllowOrigin)
	}
	if !s.TokenIDTokenValid {
		t.Errorf("Authlib refused the token endpoint's ID token: %s", s.TokenIDTokenError)
	}
	// OIDC Core §3.3.3.6: the same iss and sub; erpgate keeps nonce and sid too.
	if s.TokenIDToken["sub"] != s.IDToken["sub"] || s.TokenIDToken["sid"] != s.IDToken["sid"] ||
		s.TokenIDToken["nonce"] != s.IDToken["nonce"] || s.TokenIDToken["at_hash"] == nil || s.TokenIDToken["c_hash"] != nil {
		t.Errorf("token endpoint ID token %v, front channel's %v", s.TokenIDToken, s.IDToken)
	}
	if s.Replay["status"] != float64(400) || s.Replay["error"] != "invalid_grant" {
		t.Errorf("replayed code %v, want 400 invalid_grant", s.Replay)
	}
	q := s.QueryMode
	if q["status"] != float64(302) || q["location_base"] != spaRedirect || q["location_query"] != "" ||
		q["error"] != "invalid_request" || q["iss"] != g.Issuer() || q["state_matches"] != true || q["has_code"] != false {
		t.Errorf("response_mode=query: %v, want invalid_request in the fragment", q)
	}
}
