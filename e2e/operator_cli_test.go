package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The demo's app for operator scripts (config.example.yaml).
const (
	adminCLIClient = "com.example/admin-cli"
	adminCLISecret = "admin-cli-demo-secret"
)

// TestOperatorCLI runs the operator's commands against a running demo,
// as the README gives them: `erpgate admin token` and the admin-scripts
// app's client credentials both reach the admin API; `erpgate backup`
// copies the live SQLite store: the copy has the session the original
// opened, and a gateway started on it the original's signing keys.
func TestOperatorCLI(t *testing.T) {
	g := startGateway(t, gatewayOptions{})

	// A session of the nightly sync, opened by a proxied call.
	syncToken := g.token(t, syncClient, syncSecret)
	if r := g.call(t, "GET", g.PublicURL+personsPath, syncToken); r.Status != 200 {
		t.Fatalf("proxied call: %s", r)
	}

	out, errOut, code := runCLI(t, "", "admin", "token", "--config", g.ConfigPath, "--ttl", "5m")
	if code != 0 {
		t.Fatalf("admin token: exit %d: %s", code, errOut)
	}
	cliToken := strings.TrimSpace(out)
	for name, tok := range map[string]string{
		"admin token":              cliToken,
		"client credentials token": g.token(t, adminCLIClient, adminCLISecret),
	} {
		r := g.call(t, "GET", g.AdminURL+"/admin/license", tok)
		var lic struct {
			Used  int `json:"used"`
			Total int `json:"total"`
		}
		if r.Status != 200 || json.Unmarshal(r.Body, &lic) != nil || lic.Total != 10 || lic.Used < 1 {
			t.Errorf("GET /admin/license with the %s: %s, want 200 with 10 slots and the sync's session", name, r)
		}
	}
	if _, claims := jwtParts(t, cliToken); claims["client_id"] != adminCLIClient || claims["client_system_user"] != "svc-admin" {
		t.Errorf("admin token acts as %v of %v, want svc-admin of %s", claims["client_system_user"], claims["client_id"], adminCLIClient)
	}
	// An app without sec is refused by the admin API.
	if r := g.call(t, "GET", g.AdminURL+"/admin/license", syncToken); r.Status != 403 {
		t.Errorf("the sync's token at the admin API: %s, want 403", r)
	}

	copyPath := filepath.Join(t.TempDir(), "copy.db")
	if _, errOut, code := runCLI(t, "", "backup", "--config", g.ConfigPath, copyPath); code != 0 {
		t.Fatalf("backup of the running gateway's store: exit %d: %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "", "backup", "--config", g.ConfigPath, copyPath); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("backup onto an existing file: exit %d: %s, want 1 and \"already exists\"", code, errOut)
	}
	sessions, errOut, code := runCLI(t, "", "sessions", "list", "--config", copyConfig(t, g.ConfigPath, copyPath))
	if code != 0 || !strings.Contains(sessions, systemUser) {
		t.Errorf("sessions list on the copy: exit %d, %s%s; want the sync's session", code, sessions, errOut)
	}

	// A gateway started on the copy has the original's signing keys (it
	// generates none and publishes the same key ids).
	restored := startGateway(t, gatewayOptions{Serve: true, Edit: func(cfg string) string {
		return dsnLine.ReplaceAllString(cfg, "dsn: "+copyPath)
	}})
	if got, want := restored.jwksKeyIDs(t), g.jwksKeyIDs(t); !slices.Equal(got, want) {
		t.Errorf("the restored gateway publishes keys %v, the original %v", got, want)
	}
	if strings.Contains(restored.Stderr(), "generated signing key") {
		t.Errorf("the restored gateway generated a signing key; the copy should hold the original's:\n%s", restored.Stderr())
	}
}

// dsnLine is the store's dsn line of a derived config.
var dsnLine = regexp.MustCompile(`(?m)dsn: .*$`)

// copyConfig writes a copy of the config at path whose store is dsn.
func copyConfig(t *testing.T, path, dsn string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "copy.yaml")
	if err := os.WriteFile(out, []byte(dsnLine.ReplaceAllString(string(b), "dsn: "+dsn)), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVersionFromVCS: a binary built with VCS stamping from a git
// checkout (as `go build` does by default) names its commit, never
// "unknown" or "not recorded". The e2e binary is stamped by -ldflags
// instead, so this builds one of its own.
func TestVersionFromVCS(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		requireDep(t, false, "a git checkout with git installed ("+err.Error()+")")
		return
	}
	if fi, err := os.Stat(filepath.Join(root, ".git")); err != nil || !fi.IsDir() {
		// In a linked worktree .git is a file, and go build records no
		// VCS info; CI and release builds use a clone.
		requireDep(t, false, "a git clone, not a linked worktree (go build records no VCS info there)")
		return
	}
	bin := filepath.Join(t.TempDir(), "erpgate")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-buildvcs=true", "-o", bin, "./cmd/erpgate")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, b)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	line := string(out)
	if !strings.Contains(line, "commit "+strings.TrimSpace(string(head))) || strings.Contains(line, "unknown") || strings.Contains(line, "not recorded") {
		t.Errorf("erpgate version built from %s: %q, want it to name that commit", strings.TrimSpace(string(head)), line)
	}
}
