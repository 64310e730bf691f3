package metrics

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

const goldenFile = "testdata/exposition.golden"

// observed returns a fresh registry holding New's collectors after a few
// observations of each kind, as a short run of the gateway leaves them.
func observed(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := New(reg, Build{Version: "v1.2.3", GoVersion: "go1.26.0"})

	m.HTTPRequests.WithLabelValues("domain-read", "GET", "200").Add(3)
	m.HTTPRequests.WithLabelValues("domain-write", "POST", "403").Inc()
	m.HTTPRequests.WithLabelValues("", "GET", "404").Inc()
	for _, s := range []float64{0.0003, 0.004, 0.2} {
		m.HTTPDuration.WithLabelValues("domain-read").Observe(s)
	}
	m.HTTPDuration.WithLabelValues("domain-write").Observe(0.0008)
	m.UpstreamDuration.WithLabelValues("domain-read").Observe(0.003)
	m.UpstreamDuration.WithLabelValues("domain-read").Observe(12) // past the last bucket: +Inf only
	m.AuthDecisions.WithLabelValues("domain-read", "allow", "allowed").Add(3)
	m.AuthDecisions.WithLabelValues("domain-write", "deny", "insufficient_scope").Inc()
	m.AuthDecisions.WithLabelValues("secure", "deny", "insufficient_user_authentication").Inc() // RFC 9470 step-up
	m.TokensIssued.WithLabelValues("client_credentials", "com.example/nightly-sync").Add(2)
	m.TokenErrors.WithLabelValues("client_credentials", "invalid_client").Inc()
	m.Logins.WithLabelValues("success").Inc()
	m.Logins.WithLabelValues("failure").Add(2)
	m.FederatedLogins.WithLabelValues("entra", "success").Inc()
	m.FederatedLogins.WithLabelValues("entra", "idp_unavailable").Inc()
	m.MFA.WithLabelValues("totp", "success").Inc()
	m.MFA.WithLabelValues("totp", "failure").Add(2)
	m.MFA.WithLabelValues("recovery", "success").Inc()
	m.MFAEnrolments.Inc()
	m.SessionsOpen.Set(2)
	m.LicenseUsed.Set(2)
	m.LicenseLimit.Set(10)
	m.ConfigReloadOK.Set(1)
	m.RateLimitRefusals.WithLabelValues(LimiterLogin).Add(2)
	m.RateLimitRefusals.WithLabelValues(LimiterToken).Inc()
	m.ReferenceTokenUses.WithLabelValues("allowed").Add(4)
	m.ReferenceTokenUses.WithLabelValues("revoked").Inc()
	m.StoreDuration.WithLabelValues("OpenSession").Observe(0.002)
	m.StoreErrors.WithLabelValues("OpenSession").Inc()
	RegisterSigningKeyAge(reg, func() time.Duration { return 36 * time.Hour })
	bc := RegisterBackchannel(reg)
	bc.Logouts.WithLabelValues("delivered").Add(3)
	bc.Logouts.WithLabelValues("failed").Inc()
	bc.Queued.Set(1)
	lv := NewLive(reg)
	lv.Connections.WithLabelValues("websocket").Set(3)
	lv.Closed.WithLabelValues("session_ended").Inc()
	return reg
}

// exposition renders reg as /metrics does, in the text format.
func exposition(t *testing.T, reg *prometheus.Registry) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

// TestMetricsGolden pins every name, help text, type, label and bucket
// of the exposition (SPEC §7): dashboards and alerts in deploy/ query
// these names. After an intended change run
//
//	go test ./metrics -run MetricsGolden -update
//
// and review the diff of testdata/exposition.golden.
func TestMetricsGolden(t *testing.T) {
	reg := observed(t)
	if *update {
		if err := os.MkdirAll(filepath.Dir(goldenFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, exposition(t, reg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("%v (create it with -update)", err)
	}
	// Semantic comparison (names, help, types, labels, values) ...
	if err := testutil.GatherAndCompare(reg, bytes.NewReader(golden)); err != nil {
		t.Errorf("exposition differs from %s (rerun with -update if intended):\n%v", goldenFile, err)
	}
	// ... and the bytes, so the text format itself is pinned too.
	if got := exposition(t, reg); !bytes.Equal(got, golden) {
		t.Errorf("exposition text differs from %s (rerun with -update if intended); got:\n%s", goldenFile, got)
	}
}

// TestMetricsSpecNames: every metric SPEC §7 lists is exposed, with its
// labels, under the erpgate_ prefix.
func TestMetricsSpecNames(t *testing.T) {
	want := map[string][]string{ // name -> labels (histograms: without "le")
		"erpgate_http_requests_total":               {"code", "method", "route"},
		"erpgate_http_request_duration_seconds":     {"route"},
		"erpgate_upstream_request_duration_seconds": {"route"},
		"erpgate_auth_decisions_total":              {"decision", "reason", "route"},
		"erpgate_tokens_issued_total":               {"client_id", "grant_type"},
		"erpgate_token_errors_total":                {"error", "grant_type"},
		"erpgate_logins_total":                      {"result"},
		"erpgate_sessions_open":                     nil,
		"erpgate_license_slots_used":                nil,
		"erpgate_license_slots_limit":               nil,
		"erpgate_config_last_reload_success":        nil,
		"erpgate_build_info":                        {"goversion", "version"},
		// Issue 17: beyond SPEC §7's list.
		"erpgate_rate_limit_refusals_total":  {"limiter"},
		"erpgate_reference_token_uses_total": {"outcome"},
		"erpgate_signing_key_age_seconds":    nil,
		// Issue 17 part 2: per store operation (store/traced).
		"erpgate_store_operation_duration_seconds": {"operation"},
		"erpgate_store_operation_errors_total":     {"operation"},
		// Issue 21: back-channel logout (package backchannel).
		"erpgate_backchannel_logout_total":  {"result"},
		"erpgate_backchannel_logout_queued": nil,
		// Issue 21: live connections (package live).
		"erpgate_live_connections":  {"kind"},
		"erpgate_live_closed_total": {"reason"},
		// Issue 19: sign-in through external identity providers.
		"erpgate_federated_logins_total": {"provider", "result"},
		"erpgate_mfa_total":              {"factor", "result"},
		"erpgate_mfa_enrolments_total":   nil,
	}
	mfs, err := observed(t).Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, mf := range mfs {
		var labels []string
		for _, l := range mf.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		got[mf.GetName()] = labels
	}
	for name, labels := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s is not exposed", name)
			continue
		}
		if strings.Join(g, ",") != strings.Join(labels, ",") {
			t.Errorf("%s labels = %q, want %q", name, g, labels)
		}
	}
	if len(got) != len(want) {
		t.Errorf("exposed %d metrics, want the %d of SPEC §7; update this test and the dashboards for a new one", len(got), len(want))
	}
}

// TestMetricsLint runs client_golang's promlint (the checks of `promtool
// check metrics`) over the exposition: it must find nothing. There are no
// exceptions: the license cap is license_slots_limit since a gauge named
// *_total reads as a counter (SPEC §7).
func TestMetricsLint(t *testing.T) {
	problems, err := testutil.GatherAndLint(observed(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestMetricsGaugesNotTotal: no gauge ends in _total, which Prometheus
// tooling reads as a counter (the old erpgate_license_slots_total).
func TestMetricsGaugesNotTotal(t *testing.T) {
	mfs, err := observed(t).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetType().String() != "COUNTER" && strings.HasSuffix(mf.GetName(), "_total") {
			t.Errorf("%s is a %s named like a counter", mf.GetName(), mf.GetType())
		}
	}
}

// TestSigningKeyAgeAtScrape: the age is read when scraped, not when
// keys last refreshed, so it keeps growing if rotation stalls.
func TestSigningKeyAgeAtScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	age := time.Hour
	RegisterSigningKeyAge(reg, func() time.Duration { return age })
	want := func(v string) {
		t.Helper()
		exp := "# HELP erpgate_signing_key_age_seconds Age of the active signing key; rotation (signing.rotate_every) brings it back near 0.\n" +
			"# TYPE erpgate_signing_key_age_seconds gauge\nerpgate_signing_key_age_seconds " + v + "\n"
		if err := testutil.GatherAndCompare(reg, strings.NewReader(exp)); err != nil {
			t.Error(err)
		}
	}
	want("3600")
	age = 90 * time.Minute
	want("5400")
}

// TestMetricsNoDefaultRegistry: New registers only on the registry it is
// given (STYLE: no hidden globals), so two gateways in one process, or a
// test next to a gateway, never collide.
func TestMetricsNoDefaultRegistry(t *testing.T) {
	before := defaultFamilies(t)
	New(prometheus.NewRegistry(), Build{Version: "a"})
	New(prometheus.NewRegistry(), Build{Version: "b"}) // would panic on a shared registry
	for name := range defaultFamilies(t) {
		if !before[name] && strings.HasPrefix(name, namespace+"_") {
			t.Errorf("%s appeared on the default registry", name)
		}
	}
}

func defaultFamilies(t *testing.T) map[string]bool {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, mf := range mfs {
		out[mf.GetName()] = true
	}
	return out
}

// TestMetricsBuckets: the latency histograms share increasing buckets
// from 100µs to 10s, which the dashboard's quantiles rely on.
func TestMetricsBuckets(t *testing.T) {
	if proxyBuckets[0] != 0.0001 || proxyBuckets[len(proxyBuckets)-1] != 10 {
		t.Errorf("buckets span %v..%v, want 0.0001..10", proxyBuckets[0], proxyBuckets[len(proxyBuckets)-1])
	}
	for i := 1; i < len(proxyBuckets); i++ {
		if proxyBuckets[i] <= proxyBuckets[i-1] {
			t.Errorf("bucket %d (%v) is not above %v", i, proxyBuckets[i], proxyBuckets[i-1])
		}
	}
}
