package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/sampleapi"
)

// reloadLog collects the gateway's log and audit lines.
type reloadLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *reloadLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// find returns the JSON lines whose field key is value.
func (l *reloadLog) find(key, value string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, s := range strings.Split(l.b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) == nil && m[key] == value {
			out = append(out, m)
		}
	}
	return out
}

// reloadFixture is a gateway from config.example.yaml plus a route
// "stream" (/api/stream/, scope read) to an upstream that sends one line,
// then waits for release before sending the last.
type reloadFixture struct {
	front   *httptest.Server
	g       *Gateway
	cfgPath string
	yml     string // the config as started
	log     *reloadLog
	release chan struct{}
}

func startReloadFixture(t *testing.T) *reloadFixture {
	t.Helper()
	return startReloadFixtureWith(t, nil)
}

// startReloadFixtureWith is startReloadFixture with edit applied to the
// config's text first.
func startReloadFixtureWith(t *testing.T, edit func(string) string) *reloadFixture {
	t.Helper()
	x := &reloadFixture{log: &reloadLog{}, release: make(chan struct{})}
	dir := t.TempDir()
	up := httptest.NewServer(sampleapi.New())
	t.Cleanup(up.Close)
	stream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-x.release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "last\n")
	}))
	t.Cleanup(stream.Close)
	t.Cleanup(func() {
		select {
		case <-x.release:
		default:
			close(x.release)
		}
	})
	x.front = httptest.NewUnstartedServer(nil)
	raw, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	x.yml = strings.NewReplacer(
		"http://localhost:8080", "http://"+x.front.Listener.Addr().String(),
		"http://127.0.0.1:8081", up.URL,
		"data/erpgate.db", filepath.Join(dir, "erpgate.db"),
		"\nroutes:", "\nroutes:\n"+
			"  - name: stream\n"+
			"    match: {path_prefix: /api/stream/}\n"+
			"    upstream: "+stream.URL+"\n"+
			"    audience: DomainAPI\n"+
			"    scopes: [read]",
	).Replace(string(raw))
	if edit != nil {
		x.yml = edit(x.yml)
	}
	x.cfgPath = filepath.Join(dir, "erpgate.yaml")
	x.write(t, x.yml)
	f, err := config.Parse([]byte(x.yml), nil)
	if err != nil {
		t.Fatal(err)
	}
	x.g, err = newGateway(context.Background(), f, x.log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	x.g.runLoops(ctx)
	x.front.Config.Handler = x.g.handler
	x.front.Start()
	t.Cleanup(func() { cancel(); x.front.Close(); x.g.Close() })
	return x
}

func (x *reloadFixture) write(t *testing.T, yml string) {
	t.Helper()
	if err := os.WriteFile(x.cfgPath, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// reloadFile does what SIGHUP does: re-read the file and apply it.
func (x *reloadFixture) reloadFile() error {
	return x.g.reloadFrom(context.Background(), func() (*config.File, error) { return loadFile(x.cfgPath) })
}

// clientToken asks for a client-credentials token; it returns the status.
func (x *reloadFixture) clientToken(t *testing.T, id, secret string) int {
	t.Helper()
	resp, err := http.PostForm(x.front.URL+"/id/connect/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The edit TestReload applies: domain-read needs update instead of read,
// and a new service app.
const (
	reloadedApp    = "com.example/added-on-reload"
	reloadedSecret = "added-on-reload-secret"
)

func reloadedConfig(t *testing.T, yml string) string {
	t.Helper()
	old := "  - name: domain-read\n    match: {path_prefix: /api/domain/, methods: [GET, HEAD]}\n    upstream: "
	i := strings.Index(yml, old)
	if i < 0 {
		t.Fatal("config.example.yaml changed shape: no domain-read route")
	}
	j := i + strings.Index(yml[i:], "scopes: [read]")
	yml = yml[:j] + "scopes: [update]" + yml[j+len("scopes: [read]"):]
	if !strings.Contains(yml, "\napps:") {
		t.Fatal("config.example.yaml changed shape: no apps")
	}
	return strings.Replace(yml, "\napps:", "\napps:\n"+
		"  - uri: "+reloadedApp+"\n"+
		"    secret_hash: "+SecretHash(reloadedSecret)+"\n"+
		"    system_user: svc-sync\n"+
		"    scope: read", 1)
}

// TestReload: a valid config is applied to the next request (a route's
// required scope changes, a new app can get tokens) while a stream in
// flight on the old snapshot completes; an invalid one is rejected with
// every problem logged, the gauge at 0 and an audit line, and the running
// config stays; a restart-only change is reported and the rest applied.
func TestReload(t *testing.T) {
	x := startReloadFixture(t)
	alice := mint(t, x.g, "alice", "sid-reload-alice", false, "read")
	if code, body := call(t, "GET", x.front.URL+sampleapi.PersonsPath, alice); code != 200 {
		t.Fatalf("before reload, alice (read) on domain-read: %d %s", code, body)
	}
	if code := x.clientToken(t, reloadedApp, reloadedSecret); code != 401 {
		t.Fatalf("before reload, the new app got a token request answered %d, want 401", code)
	}

	// A stream in flight on the old snapshot.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", x.front.URL+"/api/stream/feed", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	streamResp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer streamResp.Body.Close()
	br := bufio.NewReader(streamResp.Body)
	if line, err := br.ReadString('\n'); streamResp.StatusCode != 200 || line != "first\n" {
		t.Fatalf("stream start: %d %q %v", streamResp.StatusCode, line, err)
	}

	// Valid: applied (the stream route now needs update too).
	next := strings.Replace(reloadedConfig(t, x.yml), "    scopes: [read]", "    scopes: [update]", 1)
	f, err := config.Parse([]byte(next), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.g.Reload(context.Background(), f); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if code, body := call(t, "GET", x.front.URL+sampleapi.PersonsPath, alice); code != 403 {
		t.Errorf("after reload, alice (read) on domain-read (now update): %d %s, want 403", code, body)
	}
	if code, _ := call(t, "GET", x.front.URL+"/api/stream/feed", alice); code != 403 {
		t.Errorf("after reload, a new stream request with read: %d, want 403", code)
	}
	if code := x.clientToken(t, reloadedApp, reloadedSecret); code != 200 {
		t.Errorf("after reload, the new app's token request: %d, want 200", code)
	}
	if v := testutil.ToFloat64(x.g.metrics.ConfigReloadOK); v != 1 {
		t.Errorf("config_last_reload_success = %v after an applied reload", v)
	}
	if ev := x.log.find("event", "config.reloaded"); len(ev) != 1 || ev[0]["reason"] != reloadApplied {
		t.Errorf("audit after an applied reload: %v", ev)
	}
	// The stream started before the reload finishes on its snapshot.
	close(x.release)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "last\n" {
		t.Errorf("stream in flight across the reload: %q %v", rest, err)
	}

	// Invalid: rejected, problems logged with their paths, old config stays.
	x.write(t, strings.Replace(next, "scopes: [update]", "scopes: [bogus]", 1)+"\nno_such_key: 1\n")
	if err := x.reloadFile(); err == nil {
		t.Fatal("reload of an invalid file succeeded")
	}
	if v := testutil.ToFloat64(x.g.metrics.ConfigReloadOK); v != 0 {
		t.Errorf("config_last_reload_success = %v after a rejected reload, want 0", v)
	}
	if ev := x.log.find("event", "config.reloaded"); len(ev) != 2 || ev[1]["reason"] != reloadRejected {
		t.Errorf("audit after a rejected reload: %v", ev)
	}
	var paths []string
	for _, l := range x.log.find("msg", "config reload: problem") {
		paths = append(paths, fmt.Sprint(l["path"]))
	}
	if !strings.Contains(strings.Join(paths, " "), "no_such_key") || !strings.Contains(strings.Join(paths, " "), "routes[") {
		t.Errorf("logged problem paths %v; want routes[…].scopes and no_such_key", paths)
	}
	if code, _ := call(t, "GET", x.front.URL+sampleapi.PersonsPath, alice); code != 403 {
		t.Errorf("after a rejected reload, domain-read answers %d, want the applied config's 403", code)
	}
	if code := x.clientToken(t, reloadedApp, reloadedSecret); code != 200 {
		t.Errorf("after a rejected reload, the added app's token request: %d, want 200", code)
	}

	// Restart-only: listen changes are reported, the rest (back to the
	// original scopes) applied; the gauge is back at 1.
	x.write(t, strings.Replace(x.yml, "\nlisten: 127.0.0.1:8080", "\nlisten: 127.0.0.1:8181", 1))
	if err := x.reloadFile(); err != nil {
		t.Fatalf("reload with a restart-only change: %v", err)
	}
	if l := x.log.find("msg", "config reload: setting not applied, needs a restart"); len(l) != 1 || l[0]["path"] != "listen" {
		t.Errorf("needs-restart lines: %v", l)
	}
	if x.g.current().file.Listen != x.g.file.Listen {
		t.Errorf("listen changed at run time to %q", x.g.current().file.Listen)
	}
	if code, body := call(t, "GET", x.front.URL+sampleapi.PersonsPath, alice); code != 200 {
		t.Errorf("after reloading the original routes, alice: %d %s", code, body)
	}
	if v := testutil.ToFloat64(x.g.metrics.ConfigReloadOK); v != 1 {
		t.Errorf("config_last_reload_success = %v after an applied reload", v)
	}
}

// TestKeepRestartOnly: each restart-only setting that differs is kept at
// its running value and reported by its path; the rest is next's.
func TestKeepRestartOnly(t *testing.T) {
	running := &config.File{PublicURL: "https://a.example", Listen: ":1", AdminListen: ":2",
		TLS: config.TLS{CertFile: "a.pem"}, Store: config.Store{Driver: "sqlite"}, Signing: config.Signing{Algorithm: "RS256"},
		Tokens:   config.Tokens{AccessTokenTTL: config.Duration(time.Minute), Audiences: []string{"A"}, CodeTTL: config.Duration(time.Minute)},
		Sessions: config.Sessions{IdleTimeout: config.Duration(time.Hour)}, License: config.License{Slots: 1}, Log: config.Log{Level: "info"},
		AllowedHosts: []string{"a.example"}}
	next := &config.File{PublicURL: "https://b.example", Listen: ":3", AdminListen: ":4",
		TLS: config.TLS{CertFile: "b.pem"}, Store: config.Store{Driver: "memory"}, Signing: config.Signing{Algorithm: "ES256"},
		Tokens:   config.Tokens{AccessTokenTTL: config.Duration(time.Hour), Audiences: []string{"B"}, CodeTTL: config.Duration(time.Hour)},
		Sessions: config.Sessions{IdleTimeout: config.Duration(time.Minute)}, License: config.License{Slots: 2}, Log: config.Log{Level: "debug"},
		AllowedHosts: []string{"b.example"}}
	merged, changed := keepRestartOnly(running, next)
	want := []string{"public_url", "listen", "admin_listen", "tls", "store", "signing", "tokens.access_token_ttl",
		"tokens.audiences", "sessions"}
	if strings.Join(changed, " ") != strings.Join(want, " ") {
		t.Errorf("changed = %v, want %v", changed, want)
	}
	kept := *running
	// Not restart-only: next's.
	kept.Tokens.CodeTTL, kept.AllowedHosts, kept.License, kept.Log.Level = next.Tokens.CodeTTL, next.AllowedHosts, next.License, next.Log.Level
	if !reflect.DeepEqual(*merged, kept) {
		t.Errorf("merged = %+v\nwant     %+v", *merged, kept)
	}
	if next.PublicURL != "https://b.example" || next.Log.Level != "debug" {
		t.Error("keepRestartOnly changed next")
	}
	if _, changed := keepRestartOnly(running, merged); len(changed) != 0 {
		t.Errorf("no change reported %v", changed)
	}
	// Without a LogLevel to set, log.level is kept too.
	merged, changed = keepRestartOnly(running, next, logLevelRestartOnly)
	if changed[len(changed)-1] != "log.level" || merged.Log.Level != "info" {
		t.Errorf("with log.level restart-only: changed %v, level %q", changed, merged.Log.Level)
	}
	next.AdminTLS, next.MetricsListen, next.Log = config.TLS{CertFile: "x"}, ":9", config.Log{Format: "text", Audit: "stdout", AccessLog: true}
	_, changed = keepRestartOnly(running, next)
	for _, p := range []string{"admin_tls", "metrics_listen", "log.format", "log.audit", "log.access_log"} {
		if !slices.Contains(changed, p) {
			t.Errorf("changed %v, want %s too", changed, p)
		}
	}
}

// TestChangedSettings: the reload report names settings by path, one
// level into a section, lists by their key.
func TestChangedSettings(t *testing.T) {
	a := &config.File{Listen: ":1", License: config.License{Slots: 1}, Limits: config.Limits{TokenBurst: 1}}
	b := &config.File{Listen: ":1", License: config.License{Slots: 2, Reserved: []string{"x"}}, Limits: config.Limits{TokenBurst: 1},
		Apps: []config.App{{URI: "a"}}, Tokens: config.Tokens{CodeTTL: config.Duration(time.Second)}}
	got := strings.Join(changedSettings(a, b), " ")
	if want := "tokens.code_ttl license.slots license.reserved apps"; got != want {
		t.Errorf("changedSettings = %q, want %q", got, want)
	}
	if c := changedSettings(a, a); len(c) != 0 {
		t.Errorf("changedSettings of a file with itself = %v", c)
	}
}
