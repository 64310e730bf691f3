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

	"github.com/erpgate/erpgate/sampleapi"
)

// systemPython is Debian's interpreter, where apt installs python3-authlib;
// the python3 on PATH may be another one (pyenv) without it.
const systemPython = "/usr/bin/python3"

// hasAuthlib reports whether systemPython can import what the client
// script needs.
func hasAuthlib() bool {
	cmd := exec.Command(systemPython, "-c", "import authlib.integrations.requests_client, authlib.jose, requests")
	cmd.Env = pythonEnv()
	return cmd.Run() == nil
}

// pythonEnv keeps proxy settings from sending loopback calls elsewhere
// and user site-packages from shadowing the Debian packages.
func pythonEnv() []string {
	var env []string
	for _, kv := range cleanEnv() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(name) {
		case "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "PYTHONPATH", "PYTHONHOME":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost", "PYTHONNOUSERSITE=1")
}

// authlibSummary is what testdata/authlib_client.py prints.
type authlibSummary struct {
	AuthlibVersion string   `json:"authlib_version"`
	Issuer         string   `json:"issuer"`
	TokenEndpoint  string   `json:"token_endpoint"`
	JWKSURI        string   `json:"jwks_uri"`
	JWKSKeyIDs     []string `json:"jwks_kids"`
	Results        []struct {
		AuthMethod      string            `json:"auth_method"`
		Error           string            `json:"error"`
		TokenType       string            `json:"token_type"`
		ExpiresIn       int               `json:"expires_in"`
		HasRefreshToken bool              `json:"has_refresh_token"`
		Verified        bool              `json:"verified"`
		Header          map[string]string `json:"header"`
		Claims          struct {
			Iss              string   `json:"iss"`
			Aud              []string `json:"aud"`
			ClientID         string   `json:"client_id"`
			Scope            []string `json:"scope"`
			ClientSystemUser string   `json:"client_system_user"`
		} `json:"claims"`
		APIStatus int             `json:"api_status"`
		APIAuth   *sampleapi.Auth `json:"api_auth"`
		APIBody   string          `json:"api_body"`
	} `json:"results"`
}

// TestAuthlibInterop: a client that is no part of erpgate (Authlib) finds
// the endpoints by discovery, authenticates with client_secret_basic and
// client_secret_post, verifies the JWT against the JWKS and calls the API.
func TestAuthlibInterop(t *testing.T) {
	t.Parallel()
	requireDep(t, hasAuthlib(), systemPython+" with Authlib and requests (apt-get install python3-authlib python3-requests)")
	g := startGateway(t, gatewayOptions{})

	script, err := filepath.Abs(filepath.Join("testdata", "authlib_client.py"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, systemPython, script,
		g.Issuer()+"/.well-known/openid-configuration", syncClient, syncSecret, g.PublicURL+personsPath, "DomainAPI")
	cmd.Env = pythonEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("authlib client: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var s authlibSummary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("authlib client output is not the JSON summary: %v\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("Authlib %s", s.AuthlibVersion)

	if s.Issuer != g.Issuer() || s.TokenEndpoint != g.TokenURL() {
		t.Errorf("discovered issuer %q, token_endpoint %q; want %s, %s", s.Issuer, s.TokenEndpoint, g.Issuer(), g.TokenURL())
	}
	if len(s.JWKSKeyIDs) == 0 {
		t.Error("discovered JWKS has no keys")
	}
	methods := []string{}
	for _, r := range s.Results {
		methods = append(methods, r.AuthMethod)
		t.Run(r.AuthMethod, func(t *testing.T) {
			if r.Error != "" {
				t.Fatalf("authlib: %s", r.Error)
			}
			if !r.Verified {
				t.Fatal("authlib did not verify the access token")
			}
			if !strings.EqualFold(r.TokenType, "Bearer") || r.ExpiresIn <= 0 || r.HasRefreshToken {
				t.Errorf("token_type %q, expires_in %d, refresh token %v; want Bearer, > 0, none", r.TokenType, r.ExpiresIn, r.HasRefreshToken)
			}
			if r.Header["typ"] != "at+jwt" || !slices.Contains(s.JWKSKeyIDs, r.Header["kid"]) {
				t.Errorf("JWT header %v; want typ at+jwt and a kid from the JWKS %v", r.Header, s.JWKSKeyIDs)
			}
			c := r.Claims
			if c.Iss != g.Issuer() || !slices.Contains(c.Aud, "DomainAPI") || c.ClientID != syncClient || c.ClientSystemUser != systemUser {
				t.Errorf("claims %+v; want iss %s, aud with DomainAPI, client_id %s, client_system_user %s", c, g.Issuer(), syncClient, systemUser)
			}
			if !sameScopes(strings.Join(c.Scope, " "), "read update") {
				t.Errorf("scope claim %v; want [read update]", c.Scope)
			}
			if r.APIStatus != 200 || r.APIAuth == nil {
				t.Fatalf("API call through the gateway: status %d, body %q", r.APIStatus, r.APIBody)
			}
			checkServiceIdentity(t, *r.APIAuth, syncClient, "read update")
		})
	}
	if !slices.Equal(methods, []string{"client_secret_basic", "client_secret_post"}) {
		t.Errorf("authlib ran %v; want client_secret_basic and client_secret_post", methods)
	}
	if t.Failed() {
		t.Logf("authlib summary:\n%s", stdout.String())
	}
}
