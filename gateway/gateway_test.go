package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/sampleapi"
)

// startGateway runs the real wiring (New, through newGateway) in-process
// from config.example.yaml, with the sample upstream and public_url
// pointed at test servers and the store in a temp dir.
func startGateway(t *testing.T, dataDir string) (*httptest.Server, *Gateway) {
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
		"data/erpgate.db", filepath.Join(dataDir, "erpgate.db"),
	).Replace(string(raw))
	f, err := config.Parse([]byte(yml), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	g, err := newGateway(context.Background(), f, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	front.Config.Handler = g.handler
	front.Start()
	t.Cleanup(func() { front.Close(); g.Close() })
	return front, g
}

// TestStandardClients drives the gateway with the clients real users use:
// go-oidc discovery, x/oauth2 client credentials, then a proxied call.
func TestStandardClients(t *testing.T) {
	front, g := startGateway(t, t.TempDir())
	ctx := context.Background()
	issuer := front.URL + "/id"

	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	var meta struct {
		TokenEndpoint string   `json:"token_endpoint"`
		ISSParam      bool     `json:"authorization_response_iss_parameter_supported"`
		PKCE          []string `json:"code_challenge_methods_supported"`
	}
	if err := provider.Claims(&meta); err != nil {
		t.Fatal(err)
	}
	if meta.TokenEndpoint != issuer+"/connect/token" || !meta.ISSParam || strings.Join(meta.PKCE, ",") != "S256" {
		t.Fatalf("discovery = %+v", meta)
	}

	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		t.Run(fmt.Sprintf("auth style %d", style), func(t *testing.T) {
			cc := clientcredentials.Config{
				ClientID: "com.example/nightly-sync", ClientSecret: demoSecret,
				TokenURL: provider.Endpoint().TokenURL, AuthStyle: style,
			}
			tok, err := cc.Token(ctx)
			if err != nil {
				t.Fatalf("client credentials: %v", err)
			}
			// The access token verifies with go-oidc against the published JWKS.
			v := provider.Verifier(&oidc.Config{ClientID: "DomainAPI"})
			if _, err := v.Verify(ctx, tok.AccessToken); err != nil {
				t.Fatalf("access token does not verify against the JWKS: %v", err)
			}
			resp, err := cc.Client(ctx).Get(front.URL + sampleapi.PersonsPath)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body sampleapi.Persons
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
				t.Fatalf("proxied call: %d %v", resp.StatusCode, err)
			}
			if body.Auth.Subject != "svc-sync" || body.Auth.ClientID != "com.example/nightly-sync" || body.Auth.Scope != "read update" || body.Auth.Session == "" ||
				body.Auth.UserType != directory.ClaimSystemUser {
				t.Fatalf("upstream saw %+v", body.Auth)
			}
		})
	}

	// The metrics registry is the gateway's own, not the global one.
	admin := httptest.NewServer(g.admin)
	defer admin.Close()
	// Counters are updated after the response is written, so poll.
	var b []byte
	for deadline := time.Now().Add(3 * time.Second); ; {
		resp, err := http.Get(admin.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `erpgate_http_requests_total{code="200",method="GET",route="domain-read"} 2`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{
		`erpgate_tokens_issued_total{client_id="com.example/nightly-sync",grant_type="client_credentials"} 4`, // Token() and Client() each fetch one
		`erpgate_http_requests_total{code="200",method="GET",route="domain-read"} 2`,
		`erpgate_build_info{`, `go_goroutines`, `process_resident_memory_bytes`,
		"\nerpgate_signing_key_age_seconds ", // the keyring's, read at scrape
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for path, want := range map[string]string{"/healthz": `"ok"`, "/readyz": `"ready"`} {
		resp, err := http.Get(admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s = %d %s", path, resp.StatusCode, b)
		}
	}
}

// TestReadyzReportsStoreDown: /readyz fails when the store is unreachable.
func TestReadyzReportsStoreDown(t *testing.T) {
	_, g := startGateway(t, t.TempDir())
	g.store.Close()
	rec := httptest.NewRecorder()
	g.admin.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with a closed store = %d %s", rec.Code, rec.Body)
	}
}
