package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The Debian package "prometheus" ships both (.ci/run installs it).
const (
	prometheusPath = "/usr/bin/prometheus"
	promtoolPath   = "/usr/bin/promtool"
	prometheusDep  = " (apt-get install prometheus)"
)

// Waiting bounds for the Prometheus server.
const (
	prometheusReadyTimeout = 30 * time.Second // start until /-/ready
	prometheusDataTimeout  = 30 * time.Second // first proxied call until the query API has it
	scrapeInterval         = "1s"
)

func requirePromtool(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath(promtoolPath)
	requireDep(t, err == nil, "promtool at "+promtoolPath+prometheusDep)
}

// promtool runs promtool with args in dir and returns its combined output
// and exit code.
func promtool(t *testing.T, dir, stdin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtoolPath, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return string(out), exit.ExitCode()
	}
	t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	return "", -1
}

// trafficForMetrics makes the gateway count a bit of everything: an
// issued token, allowed and refused proxied calls, a token error, a 404.
func trafficForMetrics(t *testing.T, g *Gateway) {
	t.Helper()
	tok := g.token(t, syncClient, syncSecret)
	api := g.PublicURL + "/api/domain/odata/General_Contacts_Persons"
	for _, c := range []struct {
		method, url, token string
		want               int // 0: any 2xx
	}{
		{http.MethodGet, api, tok, http.StatusOK},
		{http.MethodGet, api, tok, http.StatusOK},
		{http.MethodPost, api, tok, 0},
		{http.MethodGet, api, "", http.StatusUnauthorized},
		{http.MethodGet, g.PublicURL + "/no/such/route", "", http.StatusNotFound},
	} {
		resp := g.call(t, c.method, c.url, c.token)
		if c.want == 0 && resp.Status/100 == 2 {
			continue
		}
		if resp.Status != c.want {
			t.Fatalf("%s %s: %s; want %d", c.method, c.url, resp, c.want)
		}
	}
	if resp, _ := g.requestToken(t, syncClient, "wrong-secret", secretPost); resp.Status != http.StatusUnauthorized {
		t.Fatalf("token with a wrong secret: %s; want 401", resp)
	}
}

// TestMetricsPromtool lints the live /metrics of the built binary, Go and
// process collectors included, with `promtool check metrics`: it parses
// the exposition as Prometheus does and applies the naming rules.
func TestMetricsPromtool(t *testing.T) {
	requirePromtool(t)
	g := startGateway(t, gatewayOptions{})
	trafficForMetrics(t, g)

	var text string
	if !poll(5*time.Second, func() bool {
		text = g.metrics(t)
		return strings.Contains(text, `erpgate_auth_decisions_total{`) && strings.Contains(text, `route="domain-read"`)
	}) {
		t.Fatalf("/metrics never counted the calls:\n%s", grepLines(text, "erpgate_"))
	}
	for _, name := range []string{"erpgate_build_info", "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(text, "\n"+name) {
			t.Errorf("/metrics has no %s", name)
		}
	}

	out, code := promtool(t, t.TempDir(), text, "check", "metrics")
	// Exit 0: clean; 3: lint findings (one per line); 1: unparsable.
	if code != 0 && code != 3 {
		t.Fatalf("promtool check metrics: exit %d\n%s", code, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" { // no exceptions: SPEC §7's names lint clean
			t.Errorf("promtool check metrics: %s", line)
		}
	}
}

// promServer is a running Prometheus server.
type promServer struct {
	URL            string // http://127.0.0.1:PORT
	stdout, stderr syncBuffer
	cmd            *exec.Cmd
	done           chan struct{}
	waitErr        error
}

// startPrometheus runs the Prometheus server on a fresh TSDB in a temp
// dir with the given configuration, waits until it is ready and stops it
// when the test ends.
func startPrometheus(t *testing.T, config string) *promServer {
	t.Helper()
	_, err := exec.LookPath(prometheusPath)
	requireDep(t, err == nil, "the Prometheus server at "+prometheusPath+prometheusDep)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &promServer{}
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("prometheus config:\n%s", config)
			t.Logf("prometheus stderr:\n%s", p.stderr.String())
		}
	})
	for attempt := 1; ; attempt++ {
		addr := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
		p.URL = "http://" + addr
		err := p.start(cfgPath, filepath.Join(dir, fmt.Sprintf("tsdb-%d", attempt)), addr)
		if err == nil {
			return p
		}
		if attempt < 3 && strings.Contains(p.stderr.String(), "address already in use") {
			t.Logf("attempt %d: port taken, retrying: %v", attempt, err)
			continue
		}
		t.Fatalf("starting prometheus: %v", err)
	}
}

func (p *promServer) start(cfgPath, tsdb, addr string) error {
	cmd := exec.Command(prometheusPath,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+tsdb,
		"--web.listen-address="+addr,
		"--log.level=info",
	)
	cmd.Dir = filepath.Dir(cfgPath)
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	killWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		p.waitErr = cmd.Wait()
		close(done)
	}(p.done)

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(prometheusReadyTimeout)
	for {
		select {
		case <-p.done:
			p.cmd = nil
			return fmt.Errorf("exited before it was ready (%v)\n%s", p.waitErr, p.stderr.String())
		default:
		}
		if resp, err := client.Get(p.URL + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("not ready after %s", prometheusReadyTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *promServer) stop(t *testing.T) {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		t.Errorf("prometheus still running %s after SIGTERM; killed", stopTimeout)
		p.kill()
	}
	p.cmd = nil
}

func (p *promServer) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd = nil
}

// promSample is one series of an instant-query result.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query runs an instant query through the HTTP API. It returns the
// vector (nil for other result types) or the API's error.
func (p *promServer) query(t *testing.T, expr string) ([]promSample, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/query?"+url.Values{"query": {expr}}.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query %q: HTTP %d, not JSON: %v", expr, resp.StatusCode, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s: %s", expr, body.ErrorType, body.Error)
	}
	if body.Data.ResultType != "vector" {
		return nil, nil
	}
	var vec []promSample
	if err := json.Unmarshal(body.Data.Result, &vec); err != nil {
		return nil, fmt.Errorf("query %q: %v", expr, err)
	}
	return vec, nil
}

// promRule is one rule of /api/v1/rules.
type promRule struct {
	Name      string `json:"name"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
	State     string `json:"state"`
}

func (p *promServer) rules(t *testing.T) []promRule {
	t.Helper()
	resp, err := http.Get(p.URL + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Groups []struct {
				Rules []promRule `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("/api/v1/rules: %v", err)
	}
	var out []promRule
	for _, g := range body.Data.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// TestPrometheusScrapesGateway runs a real Prometheus server that scrapes
// the built gateway's admin listener every second and evaluates
// deploy/prometheus/alerts.yml, sends proxied calls through the gateway,
// and waits until the query API returns them. Then every rule must have
// evaluated without error, and every query of the Grafana dashboard must
// be accepted by this Prometheus.
func TestPrometheusScrapesGateway(t *testing.T) {
	_, err := exec.LookPath(prometheusPath)
	requireDep(t, err == nil, "the Prometheus server at "+prometheusPath+prometheusDep)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, gatewayOptions{})
	admin, err := url.Parse(g.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	p := startPrometheus(t, fmt.Sprintf(`global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  evaluation_interval: %[1]s
rule_files:
  - %[2]q
scrape_configs:
  - job_name: erpgate
    static_configs:
      - targets: [%[3]q]
`, scrapeInterval, filepath.Join(root, "deploy", "prometheus", "alerts.yml"), admin.Host))

	trafficForMetrics(t, g)

	// The calls are in the gateway's counters at once; Prometheus sees
	// them at its next scrape.
	const wantSeries = `erpgate_http_requests_total{job="erpgate",route="domain-read",method="GET",code="200"}`
	var (
		vec     []promSample
		lastErr error
	)
	ok := poll(prometheusDataTimeout, func() bool {
		vec, lastErr = p.query(t, "erpgate_http_requests_total")
		for _, s := range vec {
			m := s.Metric
			if m["job"] == "erpgate" && m["instance"] == admin.Host && m["route"] == "domain-read" && m["method"] == "GET" && m["code"] == "200" {
				return s.Value[1] == "2"
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("after %s the query API has no %s = 2 (last error: %v); it returned:\n%+v", prometheusDataTimeout, wantSeries, lastErr, vec)
	}

	t.Run("up", func(t *testing.T) {
		vec, err := p.query(t, `up{job="erpgate"}`)
		if err != nil || len(vec) != 1 || vec[0].Value[1] != "1" {
			t.Fatalf(`up{job="erpgate"} = %+v, %v; want one series = 1`, vec, err)
		}
	})

	t.Run("auth decisions and tokens", func(t *testing.T) {
		for _, expr := range []string{
			`erpgate_auth_decisions_total{route="domain-read",decision="allow",reason="allowed"}`,
			`erpgate_auth_decisions_total{route="domain-read",decision="deny",reason="missing_credentials"}`,
			`erpgate_tokens_issued_total{grant_type="client_credentials",client_id="com.example/nightly-sync"}`,
			`erpgate_token_errors_total{grant_type="client_credentials",error="invalid_client"}`,
			`erpgate_build_info{version="` + buildVersion + `"}`,
		} {
			if vec, err := p.query(t, expr); err != nil || len(vec) != 1 {
				t.Errorf("%s = %+v, %v; want one series", expr, vec, err)
			}
		}
	})

	t.Run("alerting rules evaluate", func(t *testing.T) {
		var rules []promRule
		healthy := poll(10*time.Second, func() bool {
			rules = p.rules(t)
			for _, r := range rules {
				if r.Health != "ok" {
					return false
				}
			}
			return len(rules) > 0
		})
		if !healthy {
			t.Fatalf("rules not all healthy: %+v", rules)
		}
		for _, r := range rules {
			if r.State != "inactive" {
				t.Errorf("alert %s is %s on a healthy gateway", r.Name, r.State)
			}
		}
	})

	t.Run("dashboard queries", func(t *testing.T) {
		exprs := dashboardExprs(t, root)
		vars := strings.NewReplacer(
			"$__rate_interval", "1m", "$job", "erpgate", "$instance", ".*", "$route", ".*",
		)
		withData := 0
		for _, e := range exprs {
			vec, err := p.query(t, vars.Replace(e.Expr))
			if err != nil {
				t.Errorf("panel %q: %v", e.Panel, err)
				continue
			}
			if len(vec) > 0 {
				withData++
			}
		}
		// Rates need two scrapes; by now the request counters have them.
		if withData == 0 {
			t.Errorf("none of the %d dashboard queries returned data", len(exprs))
		}
	})
}

// dashboardExpr is one query of the Grafana dashboard.
type dashboardExpr struct {
	Panel, Expr string
}

// dashboardExprs reads every target expression of
// deploy/grafana/erpgate-dashboard.json.
func dashboardExprs(t *testing.T, root string) []dashboardExpr {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "erpgate-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	d := dashboardOf(t, raw)
	var out []dashboardExpr
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, dashboardExpr{Panel: p.Title, Expr: tg.Expr})
		}
	}
	return out
}

// grafanaDashboard is the part of Grafana's dashboard JSON the tests read.
type grafanaDashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		GridPos struct {
			H, W, X, Y int
		} `json:"gridPos"`
		Targets []struct {
			Expr       string `json:"expr"`
			RefID      string `json:"refId"`
			Datasource *struct {
				Type string `json:"type"`
				UID  string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}
