package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/erpgate/erpgate/sampleapi"
)

// slowPath is served by lifecycleUpstream as a stream: one line at once,
// the last when the test releases it.
const slowPath = "/api/domain/odata/e2e_slow"

// lifecycleUpstream is the sample ERP API plus slowPath, for `serve`
// (which starts no upstream). Closing release ends every stream.
func lifecycleUpstream(t *testing.T) (url string, release chan struct{}) {
	t.Helper()
	release = make(chan struct{})
	api := sampleapi.New()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != slowPath {
			api.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "last\n")
	}))
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
		up.Close()
	})
	return up.URL, release
}

var upstreamLine = regexp.MustCompile(`upstream: http://127\.0\.0\.1:\d+`)

// serveWithUpstream runs `erpgate serve` with every route forwarding to
// upstream.
func serveWithUpstream(t *testing.T, upstream string) *Gateway {
	t.Helper()
	return startGateway(t, gatewayOptions{Serve: true, Edit: func(c string) string {
		return upstreamLine.ReplaceAllString(c, "upstream: "+upstream)
	}})
}

// waitFor polls cond every pollEvery for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(pollEvery)
	}
}

// TestSIGHUPReload: SIGHUP makes a running `serve` re-read its config
// file. A valid change applies to the next request; an invalid file is
// rejected (every problem logged with its path, the reload gauge at 0,
// audited) and the running config stays; the process keeps serving.
func TestSIGHUPReload(t *testing.T) {
	t.Parallel()
	upstream, _ := lifecycleUpstream(t)
	g := serveWithUpstream(t, upstream)
	report := g.token(t, reportClient, reportSecret) // scope read
	if resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, report); resp.Status != http.StatusOK {
		t.Fatalf("before reload, GET persons with read: %s", resp)
	}
	raw, err := os.ReadFile(g.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	// domain-read now needs update, which the reporting app lacks.
	cfg := string(raw)
	i := strings.Index(cfg, "- name: domain-read")
	j := strings.Index(cfg[i:], "scopes: [read]")
	if i < 0 || j < 0 {
		t.Fatal("config.example.yaml changed shape: no domain-read route with scopes: [read]")
	}
	valid := cfg[:i+j] + "scopes: [update]" + cfg[i+j+len("scopes: [read]"):]
	if err := os.WriteFile(g.ConfigPath, []byte(valid), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reloaded route to refuse read", func() bool {
		return g.call(t, http.MethodGet, g.PublicURL+personsPath, report).Status == http.StatusForbidden
	})
	if m := g.metrics(t); !strings.Contains(m, "\nerpgate_config_last_reload_success 1\n") {
		t.Errorf("after an applied reload, /metrics lacks erpgate_config_last_reload_success 1")
	}

	// An invalid file: rejected, problems logged, gauge 0, old config kept.
	invalid := strings.Replace(valid, "scopes: [update]", "scopes: [bogus]", 1) + "\nno_such_key: 1\n"
	if err := os.WriteFile(g.ConfigPath, []byte(invalid), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "erpgate_config_last_reload_success 0", func() bool {
		return strings.Contains(g.metrics(t), "\nerpgate_config_last_reload_success 0\n")
	})
	if resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, report); resp.Status != http.StatusForbidden {
		t.Errorf("after a rejected reload, GET persons with read: %s; want the applied config's 403", resp)
	}
	if ok, state := g.ready(); !ok {
		t.Errorf("not ready after a rejected reload: %s", state)
	}
	var reasons []string
	for _, e := range auditEvents(t, g.Stderr()) {
		if e.Event == "config.reloaded" {
			reasons = append(reasons, e.Reason)
		}
	}
	if strings.Join(reasons, ",") != "applied,rejected" {
		t.Errorf("config.reloaded audit reasons %v; want [applied rejected]", reasons)
	}
	for _, want := range []string{`"path":"no_such_key"`, `"msg":"config reload: problem","path":"routes[`} {
		if !strings.Contains(g.Stderr(), want) {
			t.Errorf("the log does not name the problem %s", want)
		}
	}
}

// TestSIGTERMDrains: on SIGTERM a request in flight (a stream) completes,
// /readyz turns 503 meanwhile, and the process then exits 0.
func TestSIGTERMDrains(t *testing.T) {
	t.Parallel()
	upstream, release := lifecycleUpstream(t)
	g := serveWithUpstream(t, upstream)
	token := g.token(t, syncClient, syncSecret)

	ctx, cancel := context.WithTimeout(t.Context(), httpTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.PublicURL+slowPath, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := g.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); resp.StatusCode != http.StatusOK || line != "first\n" {
		t.Fatalf("stream start: %d %q %v", resp.StatusCode, line, err)
	}

	if err := g.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/readyz to say shutting down", func() bool {
		_, state := g.ready()
		return strings.Contains(state, "shutting down")
	})
	select {
	case <-g.proc.Done():
		t.Fatalf("erpgate exited with a request in flight (%v)", g.proc.Err())
	default:
	}

	close(release)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "last\n" {
		t.Errorf("the stream in flight at SIGTERM: %q %v; want it completed", rest, err)
	}
	select {
	case <-g.proc.Done():
		if g.proc.Err() != nil {
			t.Errorf("erpgate serve after SIGTERM: %v; want exit 0", g.proc.Err())
		}
	case <-time.After(stopTimeout):
		t.Errorf("erpgate serve still running %s after SIGTERM and the last request", stopTimeout)
		g.kill()
	}
	g.proc = nil
}
