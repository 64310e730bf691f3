package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/erpgate/erpgate/config"
	gw "github.com/erpgate/erpgate/gateway"
	"github.com/erpgate/erpgate/sampleapi"
	"github.com/erpgate/erpgate/store"
)

// gateway is a gateway as serve wires it (gatewayConfig, then
// gateway.New), with what the tests look at: its config, its store and
// its admin handler. Because this package has a type of that name, its
// files import package gateway as gw.
type gateway struct {
	*gw.Gateway
	file  *config.File
	store store.Backend // as opened; the gateway bounds its operations
	admin http.Handler
}

// newGateway builds the gateway of f as serve does, with its logs and
// audit lines on logOut; it is closed when the test ends.
func newGateway(t *testing.T, f *config.File, logOut io.Writer) *gateway {
	t.Helper()
	cfg, closeAudit, err := gatewayConfig(context.Background(), f, logOut, logOut)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gw.New(context.Background(), cfg)
	if err != nil {
		closeAudit()
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close(); closeAudit() })
	return &gateway{Gateway: g, file: f, store: cfg.Store, admin: g.AdminHandler()}
}

// exampleConfig is config.example.yaml with public_url at front, the
// sample upstream at up and the store in dir.
func exampleConfig(t *testing.T, front, up, dir string) string {
	t.Helper()
	raw, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(
		"http://localhost:8080", front,
		"http://127.0.0.1:8081", up,
		"data/erpgate.db", filepath.Join(dir, "erpgate.db"),
	).Replace(string(raw))
}

// startGateway runs serve's wiring in-process from config.example.yaml,
// with the sample upstream and public_url pointed at test servers and
// the store in dataDir.
func startGateway(t *testing.T, dataDir string) (*httptest.Server, *gateway) {
	t.Helper()
	up := httptest.NewServer(sampleapi.New())
	t.Cleanup(up.Close)
	front := httptest.NewUnstartedServer(nil)
	yml := exampleConfig(t, "http://"+front.Listener.Addr().String(), up.URL, dataDir)
	f, err := config.Parse([]byte(yml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	g := newGateway(t, f, io.Discard)
	front.Config.Handler = g.Handler()
	front.Start()
	t.Cleanup(front.Close)
	return front, g
}

// TestHealthcheckCommand: `erpgate healthcheck` exits 0 while the
// instance's /readyz says ready, 1 once its store is down.
func TestHealthcheckCommand(t *testing.T) {
	_, g := startGateway(t, t.TempDir())
	admin := httptest.NewServer(g.admin)
	defer admin.Close()
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	raw, _ := os.ReadFile("../../config.example.yaml")
	yml := strings.Replace(string(raw), "127.0.0.1:9090", strings.TrimPrefix(admin.URL, "http://"), 1)
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, lookup: func(string) (string, bool) { return "", false }}
	if code := run(context.Background(), []string{"healthcheck", "--config", cfg}, e); code != 0 {
		t.Fatalf("healthcheck on a ready instance: exit %d: %s", code, errb.String())
	}
	g.store.Close()
	if code := run(context.Background(), []string{"healthcheck", "--config", cfg}, e); code != 1 {
		t.Fatalf("healthcheck with the store down: exit %d, want 1", code)
	}
}
