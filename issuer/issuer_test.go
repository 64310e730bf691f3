package issuer

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/erpgate/erpgate/accesstoken"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/password"
	"github.com/erpgate/erpgate/revocation"
	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
)

const (
	syncID     = "com.example/nightly-sync"
	syncSecret = "s3cret/with+chars&more"
	webID      = "com.example/web"
	webSecret  = "web-secret"
)

func sha(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testServer is an issuer on an httptest server, configured like a small
// instance; mutate adjusts the config before the server is built.
type testServer struct {
	*httptest.Server
	issuer  string
	keys    *signing.Keyring
	reg     *prometheus.Registry
	metrics *metrics.Metrics
	store   *memory.Store
	revoked *revocation.List
	now     *time.Time // the issuer's clock; tests move it
}

// alicePasswordHash is "alice-pw" with a cheap cost, to keep tests fast.
var alicePasswordHash = password.Hash("alice-pw", password.Params{Memory: 64, Time: 1, Threads: 1})

func (ts *testServer) cfgMetrics() *metrics.Metrics { return ts.metrics }

func newTestServer(t testing.TB, mutate func(*Config)) *testServer {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	iss := "http://" + ts.Listener.Addr().String() + "/id"
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := testNow
	clock := func() time.Time { return now }
	st := memory.New()
	keys, err := signing.Open(context.Background(), signing.Config{
		Algorithm: "RS256", RotateEvery: 24 * time.Hour, MaxTokenTTL: time.Hour,
		Store: st, Clock: clock, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := revocation.Open(context.Background(), st, clock, logger)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := Config{
		Issuer: iss, AccessTokenTTL: time.Hour, Audiences: []string{"DomainAPI", "TableAPI"},
		Apps: []App{
			{ID: syncID, Name: "Nightly sync", SecretHash: sha(syncSecret), SystemUser: "svc-sync", Scopes: []string{"read", "update"}, Enabled: true, RequirePKCE: true},
			{ID: "com.example/reporting", SecretHash: sha("r"), Scopes: []string{"read"}, Enabled: true, RedirectURIs: []string{"https://app.example.com/cb"}},
			{ID: "com.example/spa", Public: true, Scopes: []string{"read"}, Enabled: true, RedirectURIs: []string{"http://127.0.0.1:5000/cb"}, AllowInternalUsers: true, RequirePKCE: true},
			{ID: webID, Name: "Web App", SecretHash: sha(webSecret), Scopes: []string{"read", "update"}, Enabled: true, RequirePKCE: true,
				RedirectURIs: []string{"https://app.example.com/cb", "http://127.0.0.1:7000/cb?tenant=1"}, PostLogoutRedirectURIs: []string{"https://app.example.com/bye"}, AllowInternalUsers: true},
			{ID: "com.example/other", Name: "Other", SecretHash: sha("other"), Scopes: []string{"read"}, Enabled: true, RequirePKCE: true,
				RedirectURIs: []string{"https://other.example.com/cb"}, AllowInternalUsers: true, AllowCommunityUsers: true},
			{ID: "com.example/nopkce", Name: "Legacy", SecretHash: sha("legacy"), Scopes: []string{"read"}, Enabled: true, RequirePKCE: false,
				RedirectURIs: []string{"https://legacy.example.com/cb"}, AllowInternalUsers: true},
			{ID: "com.example/off", SecretHash: sha("o"), SystemUser: "svc-sync", Scopes: []string{"read"}, Enabled: false},
		},
		Users: []User{
			{Login: "svc-sync", ID: "u-1", Type: "system"},
			{Login: "alice", ID: "u-2", Name: "Alice Example", Email: "alice@example.com", Type: "internal", PasswordHash: alicePasswordHash},
			{Login: "bob", ID: "u-3", Name: "Bob", Type: "community", PasswordHash: alicePasswordHash},
		},
		CodeTTL: time.Minute, RefreshTokenTTL: 720 * time.Hour, PublicRefreshTokenTTL: 24 * time.Hour,
		RefreshReuseGrace: 2 * time.Second, IdentitySessionTTL: 12 * time.Hour,
		Grants: st, Sessions: st, Revocations: revoked,
		EndSession: func(ctx context.Context, sid string) error {
			_, err := st.EndSession(ctx, sid, store.EndLogout, clock())
			return err
		},
		AccessTokens: accesstoken.New(accesstoken.Config{Issuer: iss, KeySet: keys, Algorithms: signing.Algorithms, Clock: clock, Leeway: 30 * time.Second}),
		Signer:       keys, Clock: clock, Logger: logger,
		Metrics: metrics.New(reg, metrics.Build{Version: "test", GoVersion: "go"}),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	ts.Start()
	t.Cleanup(ts.Close)
	return &testServer{Server: ts, issuer: iss, keys: keys, reg: reg, metrics: cfg.Metrics, store: st, revoked: revoked, now: &now}
}

type tokenResult struct {
	status int
	header http.Header
	body   map[string]any
}

func (ts *testServer) token(t *testing.T, form url.Values, basicID, basicSecret string) tokenResult {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ts.issuer+"/connect/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token response is not JSON: %v", err)
	}
	return tokenResult{resp.StatusCode, resp.Header, body}
}
