package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Sample public app of config.example.yaml used by the code-flow interop
// test; its redirect URI is never served, the script reads the Location.
const (
	spaClient     = "com.example/spa"
	spaRedirect   = "http://127.0.0.1:5173/callback"
	spaPostLogout = "http://127.0.0.1:5173/"
	aliceLogin    = "alice"
	alicePassword = "alice-demo-password"
)

// TestAuthlibCodeFlow: Authlib (not used by erpgate) runs authorization
// code + PKCE for a public app, driving the login form over HTTP, then
// verifies the ID token against the JWKS, calls userinfo, refreshes and
// ends the session.
func TestAuthlibCodeFlow(t *testing.T) {
	t.Parallel()
	requireDep(t, hasAuthlib(), systemPython+" with Authlib and requests (apt-get install python3-authlib python3-requests)")
	g := startGateway(t, gatewayOptions{})
	script, _ := filepath.Abs(filepath.Join("testdata", "authlib_code_flow.py"))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, systemPython, script, g.Issuer()+"/.well-known/openid-configuration",
		spaClient, spaRedirect, spaPostLogout, aliceLogin, alicePassword)
	cmd.Env = pythonEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("authlib code flow: %v\nstdout:\n%s\nstderr:\n%s\ngateway:\n%s", err, stdout.String(), stderr.String(), g.Stderr())
	}
	var s struct {
		AuthorizeStatus    int            `json:"authorize_status"`
		LoginPageStatus    int            `json:"login_page_status"`
		XFrameOptions      string         `json:"x_frame_options"`
		LoginStatus        int            `json:"login_status"`
		ResponseIss        string         `json:"response_iss"`
		StateMatches       bool           `json:"state_matches"`
		TokenKeys          []string       `json:"token_keys"`
		IDToken            map[string]any `json:"id_token"`
		UserinfoStatus     int            `json:"userinfo_status"`
		Userinfo           map[string]any `json:"userinfo"`
		RefreshRotated     bool           `json:"refresh_rotated"`
		RefreshSID         string         `json:"refresh_sid"`
		EndsessionStatus   int            `json:"endsession_status"`
		EndsessionLocation string         `json:"endsession_location"`
		RefreshAfterLogout map[string]any `json:"refresh_after_logout"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("not the JSON summary: %v\n%s", err, stdout.String())
	}
	if s.AuthorizeStatus != 302 || s.LoginPageStatus != 200 || s.XFrameOptions != "DENY" || s.LoginStatus != 302 {
		t.Errorf("browser steps: authorize %d, login page %d (X-Frame-Options %q), login %d",
			s.AuthorizeStatus, s.LoginPageStatus, s.XFrameOptions, s.LoginStatus)
	}
	if s.ResponseIss != g.Issuer() || !s.StateMatches {
		t.Errorf("authorization response iss %q (want %s), state matches %v", s.ResponseIss, g.Issuer(), s.StateMatches)
	}
	if s.IDToken["sub"] != aliceLogin || s.IDToken["sid"] == "" || s.IDToken["at_hash"] == "" {
		t.Errorf("ID token claims %v", s.IDToken)
	}
	if s.UserinfoStatus != 200 || s.Userinfo["sub"] != aliceLogin || s.Userinfo["name"] != "Alice Example" {
		t.Errorf("userinfo %d %v", s.UserinfoStatus, s.Userinfo)
	}
	if !s.RefreshRotated || s.RefreshSID != s.IDToken["sid"] {
		t.Errorf("refresh rotated %v, sid %q (want %v)", s.RefreshRotated, s.RefreshSID, s.IDToken["sid"])
	}
	if s.EndsessionStatus != 302 || s.EndsessionLocation != spaPostLogout+"?state=bye-1" {
		t.Errorf("endsession %d %q", s.EndsessionStatus, s.EndsessionLocation)
	}
	if s.RefreshAfterLogout["status"] != float64(400) || s.RefreshAfterLogout["error"] != "invalid_grant" {
		t.Errorf("refresh after logout %v, want 400 invalid_grant", s.RefreshAfterLogout)
	}
}
