package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/erpgate/erpgate/sampleapi"
)

// The one Trusted Application the benchmark uses: confidential, acting as
// a system user, scopes read and update.
const (
	benchClientID   = "com.example/bench"
	benchSystemUser = "svc-bench"
)

const readyTimeout = 30 * time.Second

// gatewayConfig is an erpgate config with one service app and one route
// to upstream. Audit lines go to a file, as in a deployment that keeps
// them; the process log only says what goes wrong.
func gatewayConfig(listen, admin int, upstream, driver, dir, alg, secretHash string) string {
	dsn := ""
	if driver == "sqlite" {
		dsn = "\n  dsn: " + strconv.Quote(filepath.Join(dir, "erpgate.db"))
	}
	return fmt.Sprintf(`# written by go run ./bench
public_url: http://127.0.0.1:%[1]d
listen: 127.0.0.1:%[1]d
admin_listen: 127.0.0.1:%[2]d
store:
  driver: %[3]s%[4]s
signing:
  algorithm: %[5]s
users:
  - login: %[6]s
    name: Benchmark service
    type: system
apps:
  - uri: %[7]s
    name: Benchmark
    type: confidential
    secret_hash: %[8]s
    system_user: %[6]s
    scope: read update
    reference_tokens: administrators_only
limits:
  token_requests_per_second: 0   # measure token issuance, not the rate limit
routes:
  - name: domain-read
    match: {path_prefix: /api/domain/, methods: [GET, HEAD]}
    upstream: %[9]s
    audience: DomainAPI
    scopes: [read]
log:
  level: warn
  audit: %[10]s
`, listen, admin, driver, dsn, alg, benchSystemUser, benchClientID, secretHash, upstream,
		strconv.Quote(filepath.Join(dir, "audit.log")))
}

// gateway is a running `erpgate serve`.
type gateway struct {
	proc      *process
	alg       string
	publicURL string
	adminURL  string
	secret    string
	bin       string // the erpgate binary, for `tokens issue`
	cfgPath   string
	readyIn   time.Duration // from exec to the first ready /readyz
	idleRSS   int64         // KiB, just after ready
	idleErr   error
}

// startGateway writes a config for alg into a new dir under tmp and runs
// bin serve on it until /readyz says ready, retrying with new ports if one
// was taken in between.
func startGateway(ctx context.Context, cs *children, bin, tmp, alg, driver, upstream string) (*gateway, error) {
	dir, err := os.MkdirTemp(tmp, "erpgate-"+alg+"-")
	if err != nil {
		return nil, err
	}
	secret := newNonce()
	sum := sha256.Sum256([]byte(secret))
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			return nil, err
		}
		cfgPath := filepath.Join(dir, "erpgate.yaml")
		cfg := gatewayConfig(ports[0], ports[1], upstream, driver, dir, alg, base64.StdEncoding.EncodeToString(sum[:]))
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "serve", "--config", cfgPath)
		cmd.Dir = dir
		p, err := cs.start("erpgate "+alg, cmd, filepath.Join(dir, "erpgate.log"))
		if err != nil {
			return nil, err
		}
		g := &gateway{
			proc: p, alg: alg, secret: secret, bin: bin, cfgPath: cfgPath,
			publicURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
			adminURL:  fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		}
		err = g.waitReady(ctx)
		if err == nil {
			// Let start-up work (key generation, migrations) settle
			// before taking the idle footprint.
			time.Sleep(500 * time.Millisecond)
			g.idleRSS, g.idleErr = p.statusKiB("VmRSS")
			return g, nil
		}
		p.stop()
		if attempt < 3 && strings.Contains(p.logTail(20), "address already in use") {
			continue
		}
		return nil, fmt.Errorf("erpgate serve (%s): %w\n%s", alg, err, p.logTail(20))
	}
}

// waitReady polls /readyz every 5 ms and records how long the process
// took from exec to ready.
func (g *gateway) waitReady(ctx context.Context) error {
	c := &http.Client{Timeout: 2 * time.Second}
	defer c.CloseIdleConnections()
	deadline := g.proc.started.Add(readyTimeout)
	last := "no answer"
	for {
		if g.proc.exited() {
			return fmt.Errorf("exited before it was ready (%v)", g.proc.waitErr)
		}
		resp, err := c.Get(g.adminURL + "/readyz")
		now := time.Now()
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			var st struct {
				Status string `json:"status"`
			}
			_ = json.Unmarshal(body, &st)
			if resp.StatusCode == http.StatusOK && st.Status == "ready" {
				g.readyIn = now.Sub(g.proc.started)
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		if now.After(deadline) {
			return fmt.Errorf("not ready after %s (last /readyz: %s)", readyTimeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (g *gateway) tokenURL() string      { return g.publicURL + "/id/connect/token" }
func (g *gateway) introspectURL() string { return g.publicURL + "/id/connect/introspect" }
func (g *gateway) personsURL() string    { return g.publicURL + sampleapi.PersonsPath }

// tokenTarget is a client_credentials request, secret in the body
// (client_secret_post), all of the app's scopes.
func (g *gateway) tokenTarget() target {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {benchClientID},
		"client_secret": {g.secret},
	}
	return target{
		method: http.MethodPost,
		url:    g.tokenURL(),
		header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		body:   []byte(form.Encode()),
		check:  wants(http.StatusOK, `"access_token"`),
	}
}

// introspectTarget asks about token with the app's HTTP Basic
// credentials (RFC 7662 §2.1); an inactive answer counts as an error.
func (g *gateway) introspectTarget(token string) target {
	return target{
		method: http.MethodPost,
		url:    g.introspectURL(),
		header: http.Header{
			"Content-Type":  {"application/x-www-form-urlencoded"},
			"Authorization": {g.basicAuth()},
		},
		body:  []byte(url.Values{"token": {token}, "token_type_hint": {"access_token"}}.Encode()),
		check: wants(http.StatusOK, `"active":true`),
	}
}

// issueReferenceToken has the CLI issue a service access token (SAT) for
// the benchmark app in the running gateway's store; it needs a file store.
func (g *gateway) issueReferenceToken(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, g.bin, "tokens", "issue", "--config", g.cfgPath,
		"--type", "sat", "--app", benchClientID, "--scope", "read", "--expires", "1h").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("erpgate tokens issue: %v: %s", err, truncate(string(out), 200))
	}
	tok, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(tok), nil
}

// apiKeyTarget sends a reference token the way automation does.
func (g *gateway) apiKeyTarget(token string) target {
	return target{
		method: http.MethodGet,
		url:    g.personsURL(),
		header: http.Header{"X-Api-Key": {token}},
	}
}

func (g *gateway) bearerTarget(token string) target {
	return target{
		method: http.MethodGet,
		url:    g.personsURL(),
		header: http.Header{"Authorization": {"Bearer " + token}},
	}
}

// basicAuth is RFC 6749 §2.3.1: id and secret form-urlencoded first.
func (g *gateway) basicAuth() string {
	raw := url.QueryEscape(benchClientID) + ":" + url.QueryEscape(g.secret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(raw))
}

// fetchToken gets one access token from the token endpoint.
func (g *gateway) fetchToken(ctx context.Context, c *http.Client) (string, error) {
	t := g.tokenTarget()
	req, err := http.NewRequestWithContext(ctx, t.method, t.url, bytes.NewReader(t.body))
	if err != nil {
		return "", err
	}
	req.Header = t.header.Clone()
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("token endpoint: %w", err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("token endpoint answered %d %s", resp.StatusCode, truncate(string(bytes.TrimSpace(body)), 120))
	}
	return tr.AccessToken, nil
}

// wants accepts status with a body containing substr.
func wants(status int, substr string) func(int, []byte) string {
	return func(got int, body []byte) string {
		switch {
		case got != status:
			return strconv.Itoa(got)
		case !bytes.Contains(body, []byte(substr)):
			return fmt.Sprintf("%d without %s", got, substr)
		}
		return ""
	}
}

// newNonce is 130 random bits as text.
func newNonce() string { return rand.Text() }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
