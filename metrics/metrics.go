package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "erpgate"

// Metrics holds every erpgate collector. Label values are bounded: route
// names from the config (never raw paths), client ids of configured apps,
// fixed reason and error codes.
type Metrics struct {
	HTTPRequests     *prometheus.CounterVec   // route, method, code
	HTTPDuration     *prometheus.HistogramVec // route
	UpstreamDuration *prometheus.HistogramVec // route
	AuthDecisions    *prometheus.CounterVec   // route, decision, reason
	TokensIssued     *prometheus.CounterVec   // grant_type, client_id
	TokenErrors      *prometheus.CounterVec   // grant_type, error
	Logins           *prometheus.CounterVec   // result
	SessionsOpen     prometheus.Gauge
	LicenseUsed      prometheus.Gauge
	LicenseLimit     prometheus.Gauge
	ConfigReloadOK   prometheus.Gauge
}

// Build describes the running binary for erpgate_build_info.
type Build struct {
	Version   string
	GoVersion string
}

// proxyBuckets span a fast in-memory hop (100µs) to a slow ERP call (10s).
var proxyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer, b Build) *Metrics {
	m := &Metrics{
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests handled, by route name (\"\" for none), method and status code.",
		}, []string{"route", "method", "code"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "Time from request received to response written, by route.",
			Buckets: proxyBuckets,
		}, []string{"route"}),
		UpstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "upstream_request_duration_seconds",
			Help:    "Time the upstream took to answer with headers, by route.",
			Buckets: proxyBuckets,
		}, []string{"route"}),
		AuthDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "auth_decisions_total",
			Help: "Authorization decisions at the proxy, by route, decision (allow|deny) and reason.",
		}, []string{"route", "decision", "reason"}),
		TokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "tokens_issued_total",
			Help: "Access tokens issued by the identity server, by grant type and client id.",
		}, []string{"grant_type", "client_id"}),
		TokenErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "token_errors_total",
			Help: "Token endpoint errors, by grant type and OAuth error code.",
		}, []string{"grant_type", "error"}),
		Logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "logins_total",
			Help: "Interactive login attempts, by result.",
		}, []string{"result"}),
		SessionsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "sessions_open",
			Help: "ERP sessions currently open.",
		}),
		LicenseUsed: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "license_slots_used",
			Help: "License slots held by open sessions.",
		}),
		LicenseLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "license_slots_limit",
			Help: "License slots configured (0 = unlimited).",
		}),
		ConfigReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_success",
			Help: "1 if the last configuration load succeeded, 0 if it was rejected.",
		}),
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help: "Always 1; labels say which build is running.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(b.Version, b.GoVersion).Set(1)
	reg.MustRegister(m.HTTPRequests, m.HTTPDuration, m.UpstreamDuration, m.AuthDecisions,
		m.TokensIssued, m.TokenErrors, m.Logins, m.SessionsOpen, m.LicenseUsed,
		m.LicenseLimit, m.ConfigReloadOK, buildInfo)
	return m
}
