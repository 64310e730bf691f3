package main

import (
	"context"
	"io"
	"log/slog"
	"net"
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

// startWithConfigFile starts the gateway as `serve` runs it (its
// listeners served, its loops running), with the config also written to
// a file, so CLI subcommands can work on the same store. base is the
// main listener's URL.
func startWithConfigFile(t *testing.T) (base string, g *gateway, cfgPath string) {
	t.Helper()
	return startWithEditedConfig(t, nil)
}

// startWithEditedConfig is startWithConfigFile with edit applied to the
// example config's text first.
func startWithEditedConfig(t *testing.T, edit func(string) string) (base string, g *gateway, cfgPath string) {
	t.Helper()
	dir := t.TempDir()
	up := httptest.NewServer(sampleapi.New())
	t.Cleanup(up.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base = "http://" + ln.Addr().String()
	yml := exampleConfig(t, base, up.URL, dir)
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
	g = newGateway(t, f, io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, ln, aln) }()
	t.Cleanup(func() { cancel(); <-served }) // before the gateway closes
	return base, g, cfgPath
}

// mintApp is the Trusted App of the tokens mint signs: the gateway's own
// browser-login app, which lets internal users in.
const mintApp = "erpgate"

// mint signs a user access token of mintApp as the gateway's issuer
// would, with the signing key it keeps in its store (read as another
// process sharing the store reads it).
func mint(t *testing.T, g *gateway, login, sid string, admin bool, scopes ...string) string {
	t.Helper()
	keys, err := signing.Open(context.Background(), signing.Config{
		Algorithm: g.file.Signing.Algorithm, RotateEvery: g.file.Signing.RotateEvery.D(), MaxTokenTTL: g.file.Tokens.AccessTokenTTL.D(),
		Store: g.store, Clock: time.Now, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := keys.Sign(signing.TypeAccessToken, claims.Access{
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
	base, g, cfg := startWithConfigFile(t)
	alice := mint(t, g, "alice", "sid-cli-alice", false, "read")
	if code, body := call(t, "GET", base+sampleapi.PersonsPath, alice); code != 200 {
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
		code, body := call(t, "GET", base+sampleapi.PersonsPath, alice)
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
	if code, _, errOut := runCmd(t, "sessions", "end", "--config", cfg); code != 2 || !strings.Contains(errOut, "want ID, got 0 operand(s)") {
		t.Errorf("end without an id: exit %d, want 2 (usage): %s", code, errOut)
	}
	if code, _, errOut := runCmd(t, "sessions", "frobnicate", "--config", cfg); code != 2 || !strings.Contains(errOut, `unknown subcommand "frobnicate"`) {
		t.Errorf("unknown subcommand: exit %d, want 2 (usage): %s", code, errOut)
	}
}
