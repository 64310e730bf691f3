package issuer

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/erpgate/erpgate/accesstoken"
	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/password"
	"github.com/erpgate/erpgate/revocation"
	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// alicePasswordHash is "alice-pw" with a cheap cost, to keep tests fast.
var alicePasswordHash = password.Hash("alice-pw", password.Params{Memory: 64, Time: 1, Threads: 1})

// testConfig is what a test may adjust before the server is built: the
// issuer's Config, and the config file's apps and users, which go into
// the directory table as the gateway puts them there.
type testConfig struct {
	Config
	Apps  []directory.App
	Users []directory.User
	store *memory.Store // what the Config's store interfaces are, to wrap or to wire further
}

// testApps and testUsers are the small instance every test starts from.
func testApps() []directory.App {
	return []directory.App{
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
	}
}

func testUsers() []directory.User {
	return []directory.User{
		{Login: "svc-sync", ID: "u-1", Type: directory.TypeSystem},
		{Login: "alice", ID: "u-2", Name: "Alice Example", Email: "alice@example.com", Type: directory.TypeInternal, PasswordHash: alicePasswordHash},
		{Login: "bob", ID: "u-3", Name: "Bob", Type: directory.TypeCommunity, PasswordHash: alicePasswordHash},
	}
}

// testServer is an issuer on an httptest server, configured like a small
// instance and wired as the gateway wires it.
type testServer struct {
	*httptest.Server
	issuer    string
	keys      *signing.Keyring
	reg       *prometheus.Registry
	metrics   *metrics.Metrics
	store     *memory.Store
	revoked   *revocation.List
	directory *directory.Table
	sessions  *session.Manager
	authority *authority.Authority // the judge of every door, for tests that ask it as a route would
	now       *time.Time           // the issuer's clock; tests move it
}

func (ts *testServer) cfgMetrics() *metrics.Metrics { return ts.metrics }

// newTestServer builds the identity server the way the gateway does
// (gateway.New and its buildSnapshot): a memory store; signing keys and a
// revocation list over it; a directory table holding the apps and users;
// a session manager; the access-token verifier over the issuer's keys;
// and the credential authority over all of them. mutate adjusts the
// config before the server is built.
func newTestServer(t testing.TB, mutate func(*testConfig)) *testServer {
	t.Helper()
	ctx := context.Background()
	hs := httptest.NewUnstartedServer(nil)
	iss := "http://" + hs.Listener.Addr().String() + "/id"
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := testNow
	clock := func() time.Time { return now }
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, metrics.Build{Version: "test", GoVersion: "go"})

	st := memory.New()
	keys, err := signing.Open(ctx, signing.Config{
		Algorithm: "RS256", RotateEvery: 24 * time.Hour, MaxTokenTTL: time.Hour,
		Store: st, Clock: clock, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := revocation.Open(ctx, st, clock, logger)
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.NewTable(st, clock)
	sessions, err := session.New(session.Config{
		Store: st, IdleTimeout: 20 * time.Minute, ServiceMaxLifetime: time.Hour,
		Clock: clock, Logger: logger, Metrics: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sessions.Close() })
	verifier := accesstoken.New(accesstoken.Config{
		Issuer: iss, KeySet: keys, Algorithms: signing.Algorithms, Clock: clock, Leeway: 30 * time.Second,
	})
	auth, err := authority.New(authority.Config{
		Verifier: verifier, Revocations: revoked, Sessions: sessions, Directory: dir,
	})
	if err != nil {
		t.Fatal(err)
	}

	tc := testConfig{
		Config: Config{
			Issuer: iss, AccessTokenTTL: time.Hour, Audiences: []string{"DomainAPI", "TableAPI"},
			Directory: dir,
			CodeTTL:   time.Minute, RefreshTokenTTL: 720 * time.Hour, PublicRefreshTokenTTL: 24 * time.Hour,
			RefreshReuseGrace: 2 * time.Second, IdentitySessionTTL: 12 * time.Hour,
			AuthCodes: st, RefreshTokens: st, IdentitySessions: st, Consents: st, SessionClients: st, Factors: st,
			Revocations: revoked, Authority: auth,
			EndSession: func(ctx context.Context, sid string) error {
				_, err := sessions.End(ctx, sid, store.EndLogout)
				return err
			},
			Signer: keys, Clock: clock, Logger: logger, Metrics: m,
		},
		Apps:  testApps(),
		Users: testUsers(),
		store: st,
	}
	if mutate != nil {
		mutate(&tc)
	}
	dir.SetConfig(tc.Apps, tc.Users)
	if err := dir.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := New(tc.Config)
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = srv
	hs.Start()
	t.Cleanup(hs.Close)
	return &testServer{Server: hs, issuer: iss, keys: keys, reg: reg, metrics: m, store: st,
		revoked: revoked, directory: dir, sessions: sessions, authority: auth, now: &now}
}
