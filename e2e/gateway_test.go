package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/internal/proc"
)

// Bounds on waiting for the subprocess. They are generous because CI runs
// on two cores with the race detector busy in the test binary.
const (
	readyTimeout = 30 * time.Second // start until /readyz says ready
	stopTimeout  = 15 * time.Second // SIGTERM until exit, then SIGKILL
	httpTimeout  = 15 * time.Second // one request to the gateway
	pollEvery    = 50 * time.Millisecond
)

// buildVersion is stamped into the test binary (main.version), so
// TestCheckCommand can tell that `version` reports it.
const buildVersion = "v0.0.0-e2e"

// The built binary, shared by every test of this run.
var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// repoRoot is the directory holding go.mod.
func repoRoot() (string, error) { return proc.ModuleRoot() }

// erpgateBinary builds ./cmd/erpgate once per test run and returns the
// binary's path.
func erpgateBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "erpgate-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(buildDir, "erpgate")
		buildErr = proc.Build(context.Background(), root, binPath, "./cmd/erpgate", "-ldflags", "-X main.version="+buildVersion)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// runCLI runs a short erpgate subcommand with stdin and returns its
// stdout, stderr and exit code.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, erpgateBinary(t), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		code = exit.ExitCode()
	default:
		t.Fatalf("erpgate %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String(), code
}

// cleanEnv is the test's environment without ERPGATE_* variables, so a
// developer's settings cannot change what the binary does.
func cleanEnv() []string { return proc.Env() }

// syncBuffer is a bytes.Buffer the subprocess's copier goroutine can write
// while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Ports handed out in this run, so two parallel tests never get the same
// one even if the kernel offers it again.
var (
	portsMu   sync.Mutex
	usedPorts = map[int]bool{}
)

// freePorts returns n distinct free loopback TCP ports. They are free when
// returned, not reserved: start retries on "address already in use".
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	var ports []int
	for len(ports) < n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		held = append(held, ln)
		p := ln.Addr().(*net.TCPAddr).Port
		if usedPorts[p] {
			continue
		}
		usedPorts[p] = true
		ports = append(ports, p)
	}
	return ports
}

// gatewayOptions say how to run a gateway; the zero value runs `erpgate
// demo` on config.example.yaml with free ports and a fresh SQLite file.
type gatewayOptions struct {
	// Serve runs `erpgate serve`, which starts no sample upstream.
	Serve bool
	// Edit changes the config text after the ports and dsn are set.
	Edit func(config string) string
}

// Gateway is a running erpgate subprocess.
type Gateway struct {
	Dir        string // temp dir holding the config and the SQLite file
	ConfigPath string
	PublicURL  string // http://127.0.0.1:PORT, the config's public_url
	AdminURL   string // http://127.0.0.1:PORT of admin_listen
	Upstream   string // 127.0.0.1:PORT every route forwards to
	Client     *http.Client

	command        string // demo or serve
	stdout, stderr syncBuffer

	proc *proc.Process // nil while stopped
}

// startGateway starts erpgate on a config derived from
// config.example.yaml, waits until /readyz says ready and stops it with
// SIGTERM when the test ends. The process's output is logged if the test
// failed.
func startGateway(t *testing.T, o gatewayOptions) *Gateway {
	t.Helper()
	bin := erpgateBinary(t)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join(root, "config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{
		Dir:     t.TempDir(),
		command: "demo",
		Client:  &http.Client{Timeout: httpTimeout},
	}
	if o.Serve {
		g.command = "serve"
	}
	g.ConfigPath = filepath.Join(g.Dir, "erpgate.yaml")
	t.Cleanup(func() {
		g.Stop(t)
		if t.Failed() {
			t.Logf("erpgate %s stdout:\n%s", g.command, g.Stdout())
			t.Logf("erpgate %s stderr:\n%s", g.command, g.Stderr())
		}
	})

	// Another process may take a free port before erpgate binds it; then
	// try again with new ports.
	for attempt := 1; ; attempt++ {
		p := freePorts(t, 3)
		g.PublicURL = fmt.Sprintf("http://127.0.0.1:%d", p[0])
		g.AdminURL = fmt.Sprintf("http://127.0.0.1:%d", p[1])
		g.Upstream = fmt.Sprintf("127.0.0.1:%d", p[2])
		cfg := deriveConfig(t, string(example), p[0], p[1], p[2], filepath.Join(g.Dir, "erpgate.db"))
		if o.Edit != nil {
			cfg = o.Edit(cfg)
		}
		if err := os.WriteFile(g.ConfigPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		err := g.start(bin)
		if err == nil {
			return g
		}
		if attempt < 3 && strings.Contains(g.Stderr(), "address already in use") {
			t.Logf("attempt %d: a port was taken, retrying: %v", attempt, err)
			continue
		}
		t.Fatalf("starting erpgate %s: %v", g.command, err)
	}
}

// exampleValues are what deriveConfig replaces in config.example.yaml.
// If the example changes shape, deriveConfig fails loudly rather than
// running the tests against the wrong ports.
var (
	examplePublicURL = "public_url: http://localhost:8080"
	exampleListen    = "\nlisten: 127.0.0.1:8080"
	exampleAdmin     = "admin_listen: 127.0.0.1:9090"
	exampleUpstream  = "upstream: http://127.0.0.1:8081"
	exampleDSN       = "dsn: data/erpgate.db"
	exampleGateway   = "http://localhost:8080/" // the gateway app's redirect URIs
	examplePorts     = regexp.MustCompile(`:(8080|8081|9090)\b`)
)

func deriveConfig(t testing.TB, example string, main, admin, upstream int, dsn string) string {
	t.Helper()
	cfg := example
	for _, r := range []struct{ old, new string }{
		{examplePublicURL, fmt.Sprintf("public_url: http://127.0.0.1:%d", main)},
		{exampleListen, fmt.Sprintf("\nlisten: 127.0.0.1:%d", main)},
		{exampleAdmin, fmt.Sprintf("admin_listen: 127.0.0.1:%d", admin)},
		{exampleUpstream, fmt.Sprintf("upstream: http://127.0.0.1:%d", upstream)},
		{exampleDSN, "dsn: " + strconv.Quote(dsn)},
		{exampleGateway, fmt.Sprintf("http://127.0.0.1:%d/", main)},
	} {
		if !strings.Contains(cfg, r.old) {
			t.Fatalf("config.example.yaml no longer contains %q; update e2e/gateway_test.go", strings.TrimSpace(r.old))
		}
		cfg = strings.ReplaceAll(cfg, r.old, r.new)
	}
	for _, line := range strings.Split(cfg, "\n") {
		code, _, _ := strings.Cut(line, "#")
		if examplePorts.MatchString(code) {
			t.Fatalf("config.example.yaml has a port e2e does not replace: %q; update e2e/gateway_test.go", line)
		}
	}
	return cfg
}

// start runs the process and waits for readiness. On failure the process
// is stopped and the error carries its output.
func (g *Gateway) start(bin string) error {
	args := []string{g.command, "--config", g.ConfigPath}
	if g.command == "demo" {
		args = append(args, "--sample-api", g.Upstream) // where the derived routes forward
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = g.Dir
	cmd.Stdout, cmd.Stderr = &g.stdout, &g.stderr
	p, err := proc.Start(cmd)
	if err != nil {
		return err
	}
	g.proc = p
	if err := p.WaitReady(context.Background(), g.Client, g.AdminURL+"/readyz", pollEvery, readyTimeout); err != nil {
		g.kill()
		return fmt.Errorf("%v\nstdout:\n%s\nstderr:\n%s", err, g.Stdout(), g.Stderr())
	}
	return nil
}

// ready asks /readyz once; state says what it answered.
func (g *Gateway) ready() (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return proc.Ready(ctx, g.Client, g.AdminURL+"/readyz")
}

// Stop sends SIGTERM and waits for a clean exit (status 0), killing the
// process after stopTimeout. Stopping a stopped gateway does nothing.
func (g *Gateway) Stop(t testing.TB) {
	t.Helper()
	if g.proc == nil {
		return
	}
	g.Client.CloseIdleConnections()
	if err := g.proc.Stop(stopTimeout); err != nil {
		t.Errorf("erpgate %s: %v", g.command, err)
	}
	g.proc = nil
}

// kill sends SIGKILL (no shutdown code runs) and waits for the exit.
func (g *Gateway) kill() {
	g.proc.Kill()
	g.proc = nil
}

// Restart stops the gateway and starts it again on the same config,
// ports and SQLite file.
func (g *Gateway) Restart(t *testing.T) {
	t.Helper()
	g.Stop(t)
	if err := g.start(erpgateBinary(t)); err != nil {
		t.Fatalf("restarting erpgate %s: %v", g.command, err)
	}
}

// Stdout and Stderr are everything the process (and its restarts) wrote.
func (g *Gateway) Stdout() string { return g.stdout.String() }
func (g *Gateway) Stderr() string { return g.stderr.String() }

// Issuer is the issuer identifier: public_url + "/id" (SPEC §3).
func (g *Gateway) Issuer() string { return g.PublicURL + "/id" }

// TokenURL is the token endpoint as the README gives it.
func (g *Gateway) TokenURL() string { return g.Issuer() + "/connect/token" }

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) String() string {
	return fmt.Sprintf("%d %s", r.Status, bytes.TrimSpace(r.Body))
}

// do sends a request and reads the whole answer.
func (g *Gateway) do(t testing.TB, req *http.Request) response {
	t.Helper()
	resp, err := g.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// call sends method url with an optional bearer token and extra headers
// (name, value pairs).
func (g *Gateway) call(t testing.TB, method, url, token string, headers ...string) response {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		body = strings.NewReader(`{"FirstName":"Test"}`)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return g.do(t, req)
}

// clientAuth is how a token request authenticates the client (RFC 6749
// §2.3.1).
type clientAuth int

const (
	secretPost  clientAuth = iota // client_id and client_secret in the form body
	secretBasic                   // HTTP Basic of form-urlencoded id and secret
)

// tokenResponse is RFC 6749 §5.1 / §5.2.
type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	Scope            string `json:"scope"`
	RefreshToken     string `json:"refresh_token"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// requestToken asks for a client_credentials token; extra are form
// fields (name, value pairs) such as "scope", "read".
func (g *Gateway) requestToken(t testing.TB, clientID, secret string, how clientAuth, extra ...string) (response, tokenResponse) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	if how == secretPost {
		form.Set("client_id", clientID)
		form.Set("client_secret", secret)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, g.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if how == secretBasic {
		req.Header.Set("Authorization", basicAuth(clientID, secret))
	}
	resp := g.do(t, req)
	var tr tokenResponse
	if err := json.Unmarshal(resp.Body, &tr); err != nil {
		t.Fatalf("token endpoint answered %s: not JSON: %v", resp, err)
	}
	return resp, tr
}

// basicAuth is client_secret_basic as RFC 6749 §2.3.1 defines it: "The
// client identifier is encoded using the application/x-www-form-urlencoded
// encoding algorithm ..., and the encoded value is used as the username;
// the client password is encoded using the same algorithm and used as the
// password." App URIs contain "/", so this differs from plain Basic.
func basicAuth(clientID, secret string) string {
	raw := url.QueryEscape(clientID) + ":" + url.QueryEscape(secret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(raw))
}

// jwtParts decodes a JWT's header and claims without verifying it; tests
// use it to read what the gateway issued.
func jwtParts(t testing.TB, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWS compact serialization: %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err == nil {
			err = json.Unmarshal(b, dst)
		}
		if err != nil {
			t.Fatalf("access token part %d: %v", i, err)
		}
	}
	return header, claims
}

// token returns a client_credentials access token, failing the test if
// none is issued.
func (g *Gateway) token(t testing.TB, clientID, secret string) string {
	t.Helper()
	resp, tr := g.requestToken(t, clientID, secret, secretPost)
	if resp.Status != http.StatusOK || tr.AccessToken == "" {
		t.Fatalf("client_credentials for %s: %s", clientID, resp)
	}
	return tr.AccessToken
}

// metrics returns the admin listener's /metrics text.
func (g *Gateway) metrics(t testing.TB) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, g.AdminURL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp := g.do(t, req)
	if resp.Status != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp)
	}
	return string(resp.Body)
}

// jwksKeyIDs returns the kid of every key in the JWKS.
func (g *Gateway) jwksKeyIDs(t testing.TB) []string {
	t.Helper()
	resp := g.call(t, http.MethodGet, g.Issuer()+"/.well-known/openid-configuration/jwks", "")
	if resp.Status != http.StatusOK {
		t.Fatalf("GET jwks: %s", resp)
	}
	var set struct {
		Keys []struct {
			KeyID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(resp.Body, &set); err != nil {
		t.Fatalf("jwks is not JSON: %v\n%s", err, resp.Body)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

// auditEvent is one audit line (SPEC §8).
type auditEvent struct {
	Msg       string `json:"msg"`
	Event     string `json:"event"`
	ClientID  string `json:"client_id"`
	Subject   string `json:"subject"`
	Session   string `json:"session"`
	RequestID string `json:"request_id"`
	Reason    string `json:"reason"`
}

// auditEvents parses the audit lines among the JSON lines of out.
func auditEvents(t testing.TB, out string) []auditEvent {
	t.Helper()
	var events []auditEvent
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var e auditEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Errorf("log line is not JSON: %v\n%s", err, line)
			continue
		}
		if e.Event != "" {
			events = append(events, e)
		}
	}
	return events
}
