package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/sampleapi"
	"github.com/erpgate/erpgate/signing"
)

// startWithConfigFile is startGateway with the config also written to a
// file, so CLI subcommands can work on the same store, and the gateway's
// session loop running as `serve` runs it.
func startWithConfigFile(t *testing.T) (front *httptest.Server, g *gateway, cfgPath string) {
	t.Helper()
	return startWithEditedConfig(t, nil)
}

// startWithEditedConfig is startWithConfigFile with edit applied to the
// example config's text first.
func startWithEditedConfig(t *testing.T, edit func(string) string) (front *httptest.Server, g *gateway, cfgPath string) {
	t.Helper()
	dir := t.TempDir()
	up := httptest.NewServer(sampleapi.New())
	t.Cleanup(up.Close)
	front = httptest.NewUnstartedServer(nil)
	raw, err := os.ReadFile("../../config.example.yaml")
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
	f, err := config.Parse([]byte(yml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	g, err = newGateway(context.Background(), f, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.runLoops(ctx) // as serve does
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

// mint signs a user access token of mintApp as the gateway's issuer would.
func mint(t *testing.T, g *gateway, login, sid string, admin bool, scopes ...string) string {
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

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, lookup: func(string) (string, bool) { return "", false }}
	code = run(context.Background(), args, e)
	return code, out.String(), errb.String()
}

// TestSessionsCLI: `erpgate sessions list` and `end` work on the store of
// the config while the gateway runs, and the running gateway refuses the
// ended session's tokens within 2 seconds.
func TestSessionsCLI(t *testing.T) {
	front, g, cfg := startWithConfigFile(t)
	alice := mint(t, g, "alice", "sid-cli-alice", false, "read")
	if code, body := call(t, "GET", front.URL+sampleapi.PersonsPath, alice); code != 200 {
		t.Fatalf("alice: %d %s", code, body)
	}

	code, out, errOut := runCmd(t, "sessions", "list", "--config", cfg)
	if code != 0 {
		t.Fatalf("sessions list: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"ID", "SUBJECT", "CLIENT", "KIND", "OPENED", "LAST SEEN", "1 of 10 slots used, 9 free (1 reserved)"} {
		if !strings.Contains(out, want) {
			t.Errorf("sessions list lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^sid-cli-alice +alice +` + regexp.QuoteMeta(mintApp) + ` +user `).MatchString(out) {
		t.Errorf("sessions list lacks the row of alice's session (id, subject, client, kind):\n%s", out)
	}

	code, out, errOut = runCmd(t, "sessions", "end", "--config", cfg, "sid-cli-alice")
	if code != 0 || !strings.Contains(out, "sid-cli-alice ended") {
		t.Fatalf("sessions end: exit %d: %s %s", code, out, errOut)
	}
	ended := time.Now()
	for {
		code, body := call(t, "GET", front.URL+sampleapi.PersonsPath, alice)
		if code == 401 {
			break
		}
		if time.Since(ended) > 2*time.Second {
			t.Fatalf("the running gateway still answers %d %s 2s after `sessions end`", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Ending it again says so; an unknown id fails; bad usage fails.
	if code, out, _ := runCmd(t, "sessions", "end", "sid-cli-alice", "--config", cfg); code != 0 || !strings.Contains(out, "already ended") {
		t.Errorf("second end: exit %d %s", code, out)
	}
	if code, _, errOut := runCmd(t, "sessions", "end", "--config", cfg, "nope"); code != 1 || !strings.Contains(errOut, "no session") {
		t.Errorf("end of an unknown id: exit %d %s", code, errOut)
	}
	if code, _, _ := runCmd(t, "sessions", "end", "--config", cfg); code != 1 {
		t.Errorf("end without an id: exit %d, want 1", code)
	}
	if code, _, _ := runCmd(t, "sessions", "frobnicate", "--config", cfg); code != 1 {
		t.Errorf("unknown subcommand: exit %d, want 1", code)
	}
}

// TestAdminAPIWiring: /admin/ on the admin listener needs a token with
// sec from an administrator; ending a session there refuses its tokens.
func TestAdminAPIWiring(t *testing.T) {
	front, g, _ := startWithEditedConfig(t, withAdminScope)
	admin := httptest.NewServer(g.admin)
	defer admin.Close()

	alice := mint(t, g, "alice", "sid-api-alice", false, "read")
	if code, body := call(t, "GET", front.URL+sampleapi.PersonsPath, alice); code != 200 {
		t.Fatalf("alice: %d %s", code, body)
	}
	resp, err := http.Get(admin.URL + "/admin/sessions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="erpgate"` {
		t.Fatalf("GET /admin/sessions without a token: %d", resp.StatusCode)
	}
	if code, _ := call(t, "GET", admin.URL+"/admin/sessions", mint(t, g, "alice", "sid-x", false, "sec")); code != 403 {
		t.Errorf("non-admin with sec: %d, want 403", code)
	}

	adminTok := mint(t, g, "admin", "sid-api-admin", true, "sec")
	code, body := call(t, "GET", admin.URL+"/admin/license", adminTok)
	var lic struct{ Used, Total, Reserved, Free int }
	if err := json.Unmarshal([]byte(body), &lic); code != 200 || err != nil || lic.Used != 1 || lic.Total != 10 || lic.Reserved != 1 || lic.Free != 9 {
		t.Fatalf("GET /admin/license: %d %s", code, body)
	}
	if code, body := call(t, "DELETE", admin.URL+"/admin/sessions/sid-api-alice", adminTok); code != 200 {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if code, _ := call(t, "GET", front.URL+sampleapi.PersonsPath, alice); code != 401 {
		t.Fatalf("alice after the admin ended her session: %d, want 401", code)
	}
}
