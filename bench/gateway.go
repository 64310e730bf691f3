package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/erpgate/erpgate/password"
	"github.com/erpgate/erpgate/sampleapi"
)

// The Trusted Applications and users the benchmark uses: a confidential
// service app acting as a system user (scopes read and update), one with
// scope sec for the admin API (same secret and system user), and a public
// browser app (PKCE) that an internal user signs in to, for the refresh
// grant.
const (
	benchClientID   = "com.example/bench"
	benchSystemUser = "svc-bench"
	benchSPAID      = "com.example/bench-spa"
	benchAdminID    = "com.example/bench-admin" // scope sec: the admin API
	benchLogin      = "bench-user"
	// benchRedirectURI is never contacted: the bench reads the code off
	// the Location header of the last redirect.
	benchRedirectURI = "http://127.0.0.1:1/cb"
)

const readyTimeout = 30 * time.Second

// gatewayParams is what varies between the generated configs.
type gatewayParams struct {
	listen, admin int
	upstream      string
	driver        string // sqlite or memory
	dir           string // the process's working dir: database, audit log
	alg           string
	secretHash    string // base64(sha256) of the service app's secret
	passwordHash  string // argon2id PHC string of benchLogin's password
	// longLived makes tokens and sessions outlast the sessions phase, so
	// nothing it opened expires or is reaped before it is counted.
	longLived bool
}

// gatewayConfig is an erpgate config with the three apps (service, admin,
// browser) and one route to the upstream. Audit lines go to a file, as in a deployment that keeps
// them; the process log only says what goes wrong. The license is
// unlimited, so the sessions phase is never refused a slot.
func gatewayConfig(p gatewayParams) string {
	dsn := ""
	if p.driver == "sqlite" {
		dsn = "\n  dsn: " + strconv.Quote(filepath.Join(p.dir, "erpgate.db"))
	}
	lifetimes := ""
	if p.longLived {
		lifetimes = `tokens:
  access_token_ttl: 6h
sessions:
  idle_timeout: 6h
  service_max_lifetime: 6h
`
	}
	return fmt.Sprintf(`# written by go run ./bench
public_url: http://127.0.0.1:%[1]d
listen: 127.0.0.1:%[1]d
admin_listen: 127.0.0.1:%[2]d
store:
  driver: %[3]s%[4]s
signing:
  algorithm: %[5]s
%[13]slicense:
  slots: 0                       # unlimited
users:
  - login: %[6]s
    name: Benchmark service
    type: system
  - login: %[11]s
    name: Benchmark user
    type: internal
    password_hash: %[12]s
apps:
  - uri: %[7]s
    name: Benchmark
    type: confidential
    secret_hash: %[8]s
    system_user: %[6]s
    scope: read update
    reference_tokens: administrators_only
  - uri: %[16]s
    name: Benchmark admin
    type: confidential
    secret_hash: %[8]s
    system_user: %[6]s
    scope: sec
  - uri: %[14]s
    name: Benchmark browser app
    type: public
    scope: read
    redirect_uris: [%[15]s]
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
`, p.listen, p.admin, p.driver, dsn, p.alg, benchSystemUser, benchClientID, p.secretHash, p.upstream,
		strconv.Quote(filepath.Join(p.dir, "audit.log")), benchLogin, p.passwordHash, lifetimes,
		benchSPAID, benchRedirectURI, benchAdminID)
}

// gateway is a running `erpgate serve`.
type gateway struct {
	proc      *process
	alg       string
	publicURL string
	adminURL  string
	secret    string // the service app's client secret
	password  string // benchLogin's password
	bin       string // the erpgate binary, for `tokens issue`
	cfgPath   string
	readyIn   time.Duration // from exec to the first ready /readyz
	idleRSS   int64         // KiB, just after ready
	idleErr   error
}

// benchPasswordCost is the argon2id cost of benchLogin's password hash:
// the lowest the config accepts. Sign-ins are set-up here, not
// measured, and the default cost (64 MiB per check) would put 64 sign-ins'
// worth of argon2 memory into the gateway's peak RSS.
var benchPasswordCost = password.Params{Memory: 8, Time: 1, Threads: 1}

// startGateway writes a config for p (ports, dir and secrets are filled
// in here) into a new dir under tmp and runs bin serve on it until /readyz
// says ready, retrying with new ports if one was taken in between.
func startGateway(ctx context.Context, cs *children, bin, tmp string, p gatewayParams) (*gateway, error) {
	dir, err := os.MkdirTemp(tmp, "erpgate-"+p.alg+"-")
	if err != nil {
		return nil, err
	}
	secret, pw := newNonce(), newNonce()
	sum := sha256.Sum256([]byte(secret))
	p.dir = dir
	p.secretHash = base64.StdEncoding.EncodeToString(sum[:])
	p.passwordHash = password.Hash(pw, benchPasswordCost)
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			return nil, err
		}
		p.listen, p.admin = ports[0], ports[1]
		cfgPath := filepath.Join(dir, "erpgate.yaml")
		if err := os.WriteFile(cfgPath, []byte(gatewayConfig(p)), 0o600); err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "serve", "--config", cfgPath)
		cmd.Dir = dir
		proc, err := cs.start("erpgate "+p.alg, cmd, filepath.Join(dir, "erpgate.log"))
		if err != nil {
			return nil, err
		}
		g := &gateway{
			proc: proc, alg: p.alg, secret: secret, password: pw, bin: bin, cfgPath: cfgPath,
			publicURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
			adminURL:  fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		}
		err = g.waitReady(ctx)
		if err == nil {
			// Let start-up work (key generation, migrations) settle
			// before taking the idle footprint.
			time.Sleep(500 * time.Millisecond)
			g.idleRSS, g.idleErr = proc.statusKiB("VmRSS")
			return g, nil
		}
		proc.stop()
		if attempt < 3 && strings.Contains(proc.logTail(20), "address already in use") {
			continue
		}
		return nil, fmt.Errorf("erpgate serve (%s): %w\n%s", p.alg, err, proc.logTail(20))
	}
}

// waitReady polls /readyz every 5 ms and records how long the process
// took from exec to ready.
func (g *gateway) waitReady(ctx context.Context) error {
	c := &http.Client{}
	defer c.CloseIdleConnections()
	if err := g.proc.WaitReady(ctx, c, g.adminURL+"/readyz", 5*time.Millisecond, readyTimeout); err != nil {
		return err
	}
	g.readyIn = time.Since(g.proc.Started())
	return nil
}

func (g *gateway) tokenURL() string      { return g.publicURL + "/id/connect/token" }
func (g *gateway) authorizeURL() string  { return g.publicURL + "/id/connect/authorize" }
func (g *gateway) introspectURL() string { return g.publicURL + "/id/connect/introspect" }
func (g *gateway) personsURL() string    { return g.publicURL + sampleapi.PersonsPath }

// clientCredentialsForm asks for a token for the service app, secret in
// the body (client_secret_post), all of the app's scopes.
func (g *gateway) clientCredentialsForm() url.Values {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {benchClientID},
		"client_secret": {g.secret},
	}
}

// tokenTarget is the client_credentials request, repeated.
func (g *gateway) tokenTarget() target {
	return target{
		method: http.MethodPost,
		url:    g.tokenURL(),
		header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		body:   []byte(g.clientCredentialsForm().Encode()),
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
	status, body, err := postForm(ctx, c, g.tokenURL(), g.clientCredentialsForm())
	if err != nil {
		return "", fmt.Errorf("token endpoint: %w", err)
	}
	tr, err := parseTokenResponse(status, body)
	if err != nil {
		return "", fmt.Errorf("token endpoint answered %w", err)
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
