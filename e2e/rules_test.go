package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The operations files under deploy/ (README "Operations"): Prometheus
// alerting rules with their unit tests, the Grafana dashboard and the
// docker compose example. These tests keep them valid and in step with
// the metrics the binary really exposes.

// deployDir is the repository's deploy/ directory.
func deployDir(t *testing.T) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "deploy")
}

// TestRulesPromtool checks the rule file and the compose example's
// Prometheus config with promtool, and runs the rules' unit tests
// (deploy/prometheus/alerts_test.yml).
func TestRulesPromtool(t *testing.T) {
	requirePromtool(t)
	dir := filepath.Join(deployDir(t), "prometheus")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"check rules", []string{"check", "rules", "alerts.yml"}, "SUCCESS: 11 rules found"},
		{"test rules", []string{"test", "rules", "alerts_test.yml"}, "SUCCESS"},
		{"check config", []string{"check", "config", "prometheus.yml"}, "is valid prometheus config file syntax"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := promtool(t, dir, "", tc.args...)
			if code != 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("promtool %s: exit %d\n%s", strings.Join(tc.args, " "), code, out)
			}
		})
	}
}

// exposedMetrics are the metric names the binary exposes (SPEC §7), from
// the golden exposition of package metrics, with the series names
// histograms add, plus Prometheus's own "up".
func exposedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	golden, err := os.ReadFile(filepath.Join(deployDir(t), "..", "metrics", "testdata", "exposition.golden"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{"up": true}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)$`).FindAllStringSubmatch(string(golden), -1) {
		names[m[1]] = true
		if m[2] == "histogram" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[m[1]+s] = true
			}
		}
	}
	if len(names) < 10 {
		t.Fatalf("only %d metric names in the golden exposition", len(names))
	}
	return names
}

var metricName = regexp.MustCompile(`\berpgate_[a-z_]+\b`)

// checkMetricNames reports each erpgate_ name in expr that the binary
// does not expose.
func checkMetricNames(t *testing.T, where, expr string, known map[string]bool, used map[string]bool) {
	t.Helper()
	for _, n := range metricName.FindAllString(expr, -1) {
		if !known[n] {
			t.Errorf("%s: %s is not a metric erpgate exposes", where, n)
		}
		used[n] = true
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestRulesAlerts: the alerts the operations issue asks for exist, have
// a severity and words for the person paged, and use only real metrics.
func TestRulesAlerts(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(deployDir(t), "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(raw, &rf); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	known, used := exposedMetrics(t), map[string]bool{}
	var alerts []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			checkMetricNames(t, r.Alert, r.Expr, known, used)
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs a summary and a description", r.Alert)
			}
		}
	}
	for _, want := range []string{
		"ErpgateDown", "ErpgateHighErrorRatio", "ErpgateUpstreamUnavailable",
		"ErpgateLicenseNearlyExhausted", "ErpgateLicenseExhausted", "ErpgateConfigReloadFailed",
	} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alerts.yml has no %s", want)
		}
	}
	unit, err := os.ReadFile(filepath.Join(deployDir(t), "prometheus", "alerts_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tested := 0
	for _, a := range alerts {
		if strings.Contains(string(unit), "alertname: "+a+"\n") {
			tested++
		}
	}
	if tested < 2 {
		t.Errorf("alerts_test.yml tests %d alerts, want at least 2", tested)
	}
}

// TestRulesDashboard: the Grafana dashboard is well-formed, every query
// goes through the data source variable and names real metrics, and the
// panels cover what operators watch.
func TestRulesDashboard(t *testing.T) {
	root := filepath.Dir(deployDir(t))
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "erpgate-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	d := dashboardOf(t, raw)
	if d.UID != "erpgate" || d.Title == "" {
		t.Errorf("uid %q, title %q", d.UID, d.Title)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	for _, want := range []string{"datasource", "job", "instance", "route"} {
		if !slices.Contains(vars, want) {
			t.Errorf("no $%s variable (have %q)", want, vars)
		}
	}

	known, used := exposedMetrics(t), map[string]bool{}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: query %s does not use the ${datasource} variable", p.Title, tg.RefID)
			}
			if refs[tg.RefID] {
				t.Errorf("panel %q: refId %s used twice", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			checkMetricNames(t, "panel "+p.Title, tg.Expr, known, used)
			if strings.Contains(tg.Expr, "rate(") && !strings.Contains(tg.Expr, "[$__rate_interval]") {
				t.Errorf("panel %q: rate without $__rate_interval: %s", p.Title, tg.Expr)
			}
		}
	}
	for _, want := range []string{
		"erpgate_http_requests_total",                      // request rate, error ratio
		"erpgate_http_request_duration_seconds_bucket",     // p50/p99
		"erpgate_upstream_request_duration_seconds_bucket", // upstream latency
		"erpgate_auth_decisions_total",                     // decisions by reason
		"erpgate_tokens_issued_total", "erpgate_token_errors_total",
		"erpgate_logins_total",
		"erpgate_sessions_open", "erpgate_license_slots_limit", "erpgate_license_slots_used",
		"erpgate_config_last_reload_success",
		"erpgate_rate_limit_refusals_total", "erpgate_reference_token_uses_total", "erpgate_signing_key_age_seconds",
	} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
}

func dashboardOf(t *testing.T, raw []byte) grafanaDashboard {
	t.Helper()
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("erpgate-dashboard.json: %v", err)
	}
	return d
}

// composeReplacements turn config.example.yaml into
// deploy/erpgate.example.yaml: listen on every interface of the
// container, keep the state in the compose file's PostgreSQL (the
// example's SQLite file has no place in a gateway that replicas could
// share), and forward to its upstream service instead of the loopback
// port where `erpgate demo` serves the sample API (a container's loopback
// is its own). Each replaces every occurrence (the four routes share one
// upstream).
var composeReplacements = []struct{ old, new string }{
	{"listen: 127.0.0.1:8080", "listen: 0.0.0.0:8080"},
	{"admin_listen: 127.0.0.1:9090", "admin_listen: 0.0.0.0:9090"},
	{"driver: sqlite", "driver: postgres"},
	{"dsn: data/erpgate.db", "dsn: postgres://erpgate:${POSTGRES_PASSWORD}@db:5432/erpgate?sslmode=disable&search_path=erpgate"},
	{"upstream: http://127.0.0.1:8081", "upstream: http://upstream:8081"},
}

// configBody drops the leading comment block and normalises the spaces
// inside each line, so alignment of trailing comments does not matter.
func configBody(s string) []string {
	lines := strings.Split(s, "\n")
	for len(lines) > 0 && (strings.HasPrefix(lines[0], "#") || strings.TrimSpace(lines[0]) == "") {
		lines = lines[1:]
	}
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return lines
}

// TestRulesComposeExample: the compose example's config is
// config.example.yaml with only the container changes, `erpgate check`
// accepts it, and every file the compose file mounts exists.
func TestRulesComposeExample(t *testing.T) {
	dir := deployDir(t)
	example, err := os.ReadFile(filepath.Join(dir, "..", "config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile(filepath.Join(dir, "erpgate.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := string(example)
	for _, r := range composeReplacements {
		if !strings.Contains(want, r.old) {
			t.Fatalf("config.example.yaml no longer contains %q; update e2e/rules_test.go", r.old)
		}
		want = strings.ReplaceAll(want, r.old, r.new)
	}
	wl, gl := configBody(want), configBody(string(compose))
	for i := range max(len(wl), len(gl)) {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			t.Fatalf("deploy/erpgate.example.yaml is not config.example.yaml with %v:\nfirst difference at body line %d:\n got  %q\n want %q",
				composeReplacements, i+1, g, w)
		}
	}

	// The compose file gives the gateway POSTGRES_PASSWORD, which its
	// store.dsn names; check only validates, so any value does.
	t.Setenv("POSTGRES_PASSWORD", "check-only")
	out, errOut, code := runCLI(t, "", "check", "--config", filepath.Join(dir, "erpgate.example.yaml"))
	if code != 0 {
		t.Fatalf("erpgate check deploy/erpgate.example.yaml: exit %d\n%s%s", code, out, errOut)
	}

	var c struct {
		Services map[string]struct {
			Build   any      `yaml:"build"`
			Image   string   `yaml:"image"`
			Command []string `yaml:"command"`
			Volumes []string `yaml:"volumes"`
			Ports   []string `yaml:"ports"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "docker-compose.example.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.example.yml: %v", err)
	}
	gw, ok := c.Services["erpgate"]
	if !ok || gw.Build == nil {
		t.Fatalf("no erpgate service built from the repository: %+v", c.Services)
	}
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, rest, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
				if !strings.HasSuffix(rest, ":ro") {
					t.Errorf("service %s mounts %s read-write; config should be read-only", name, src)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s uses volume %q, which is not declared", name, src)
			}
		}
	}
	if !slices.Contains(gw.Volumes, "./erpgate.example.yaml:/etc/erpgate/erpgate.yaml:ro") {
		t.Errorf("erpgate service does not mount its config read-only at the image's ERPGATE_CONFIG: %q", gw.Volumes)
	}
}
