package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/sampleapi"
	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
	"github.com/erpgate/erpgate/store/postgres"
	"github.com/erpgate/erpgate/store/sqlite"
)

// demoSecret is the client secret whose hash config.example.yaml gives
// its sample service app.
const demoSecret = "demo-secret"

// noEnv is an empty environment for config.Parse.
func noEnv(string) (string, bool) { return "", false }

// newGateway builds the gateway of f as cmd/erpgate's serve does: the
// store f names opened (postgres with what it shares with replicas),
// process log and audit lines as JSON on logOut, files read from disk.
func newGateway(ctx context.Context, f *config.File, logOut io.Writer) (*Gateway, error) {
	level := new(slog.LevelVar) // log.level reloads, as serve's does
	level.Set(logLevel(f.Log))
	cfg := Config{
		File: f, Audit: audit.New(slog.NewJSONHandler(logOut, nil)), LogLevel: level,
		Logger: slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level})), ReadFile: os.ReadFile, Version: "dev",
	}
	var err error
	switch f.Store.Driver {
	case config.DriverPostgres:
		var pg *postgres.Store
		if pg, err = postgres.Open(ctx, f.Store.DSN); err == nil {
			cfg.Store, cfg.Shared = pg, SharedStore{Listen: pg.Listen, LockKeys: pg.LockKeys}
		}
	case config.DriverMemory:
		cfg.Store = memory.New()
	default:
		cfg.Store, err = sqlite.Open(ctx, f.Store.DSN)
	}
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg)
}

func logLevel(l config.Log) slog.Level {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(l.Level))
	return lvl
}

// loadFile reads and validates the config file at path, as SIGHUP does.
func loadFile(path string) (*config.File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return config.Parse(data, noEnv)
}

// startWithConfigFile is startGateway with the config also written to a
// file, for tests that edit and reload it, and the gateway's loops
// running as Run runs them.
func startWithConfigFile(t *testing.T) (front *httptest.Server, g *Gateway, cfgPath string) {
	t.Helper()
	return startWithEditedConfig(t, nil)
}

// startWithEditedConfig is startWithConfigFile with edit applied to the
// example config's text first.
func startWithEditedConfig(t *testing.T, edit func(string) string) (front *httptest.Server, g *Gateway, cfgPath string) {
	t.Helper()
	dir := t.TempDir()
	up := httptest.NewServer(sampleapi.New())
	t.Cleanup(up.Close)
	front = httptest.NewUnstartedServer(nil)
	raw, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yml := strings.NewReplacer(
		"http://localhost:8080", "http://"+front.Listener.Addr().String(),
		"http://127.0.0.1:8081", up.URL,
		"data/erpgate.db", filepath.Join(dir, "erpgate.db"),
	).Replace(string(raw))
	if edit != nil {
		yml = edit(yml)
	}
	cfgPath = filepath.Join(dir, "erpgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := config.Parse([]byte(yml), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	g, err = newGateway(context.Background(), f, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.runLoops(ctx) // as Run does
	front.Config.Handler = g.handler
	front.Start()
	t.Cleanup(func() { cancel(); front.Close(); g.Close() })
	return front, g, cfgPath
}

// mintApp is the Trusted App of the tokens mint signs: the gateway's own
// browser-login app, which every example-based fixture has and which
// lets internal users in. The authority refuses tokens of apps that do
// not exist, and honours only the scopes the app has (withAdminScope).
const mintApp = "erpgate"

// withAdminScope gives mintApp the admin scope sec, for tests that call
// the admin API with minted tokens.
func withAdminScope(yml string) string {
	re := regexp.MustCompile(`(?m)^(  - uri: erpgate\b.*\n(?:    .*\n)*?    scope: read update)$`)
	if !re.MatchString(yml) {
		panic("config.example.yaml changed shape: no erpgate app with scope read update")
	}
	return re.ReplaceAllString(yml, "$1 sec")
}

// allowRefTokens lets the sample service app have reference tokens and
// the admin scope.
func allowRefTokens(yml string) string {
	return strings.Replace(yml,
		"    system_user: svc-sync             # => client credentials allowed, acting as svc-sync\n    scope: read update\n",
		"    system_user: svc-sync\n    scope: read update sec\n    reference_tokens: authenticated_users\n", 1)
}

// mint signs a user access token of mintApp as the gateway's issuer would.
func mint(t *testing.T, g *Gateway, login, sid string, admin bool, scopes ...string) string {
	t.Helper()
	now := time.Now()
	tok, err := g.keys.Sign(signing.TypeAccessToken, claims.Access{
		Issuer: g.file.Issuer(), Audience: g.file.Tokens.Audiences,
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(time.Hour).Unix(),
		ID: "jti-" + sid, Scope: claims.Scopes{Values: scopes}, ClientID: mintApp, SessionID: sid,
		Subject: login, UserID: directory.StableUserID(login), UserType: directory.ClaimInternalUser, IsAdmin: &admin,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func call(t *testing.T, method, url, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getWith(t *testing.T, u string, hdr ...string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func adminDo(t *testing.T, g *Gateway, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, "http://admin"+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	g.admin.ServeHTTP(rec, req)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m
}

// sessionRecord is the store's record of session sid.
func sessionRecord(t *testing.T, g *Gateway, sid string) store.Session {
	t.Helper()
	s, err := g.store.Session(context.Background(), sid)
	if err != nil {
		t.Fatalf("session %s: %v", sid, err)
	}
	return s
}

// demoToken gets a client-credentials token of the example config's
// nightly-sync app from the gateway at base.
func demoToken(t testing.TB, base string) string {
	t.Helper()
	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {"com.example/nightly-sync"}, "client_secret": {demoSecret}}
	resp, err := http.PostForm(base+"/id/connect/token", cc)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.AccessToken == "" {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	return tok.AccessToken
}

// startReplicas starts a gateway on yml behind each of fronts (started
// here), as replicas of one deployment, each with its admin listener;
// all are stopped when the test ends.
func startReplicas(t *testing.T, yml string, fronts []*httptest.Server) (gs []*Gateway, admins []*httptest.Server) {
	t.Helper()
	for i, front := range fronts {
		f, err := config.Parse([]byte(yml), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		g, err := newGateway(context.Background(), f, io.Discard)
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		loops := g.runLoops(ctx)
		front.Config.Handler = g.handler
		front.Start()
		admin := httptest.NewServer(g.admin)
		t.Cleanup(func() { admin.Close(); cancel(); <-loops; front.Close(); g.Close() })
		gs, admins = append(gs, g), append(admins, admin)
	}
	return gs, admins
}
