package metrics

import (
	"time"

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
	// FederatedLogins counts sign-ins through external identity
	// providers (SPEC §10), by provider id and result: success, or the
	// reason of the failure (idp_unavailable, idp_state_mismatch, …).
	FederatedLogins *prometheus.CounterVec // provider, result
	// MFA counts second-factor checks (issue 20), by factor (totp,
	// recovery, passkey) and result (success, failure, throttled).
	MFA *prometheus.CounterVec // factor, result
	// MFAEnrolments counts TOTP enrolments confirmed.
	MFAEnrolments  prometheus.Counter
	SessionsOpen   prometheus.Gauge
	LicenseUsed    prometheus.Gauge
	LicenseLimit   prometheus.Gauge
	ConfigReloadOK prometheus.Gauge
	// RateLimitRefusals counts requests a limiter refused before judging
	// them (429), by limiter: one of the Limiter* values.
	RateLimitRefusals *prometheus.CounterVec // limiter
	// ReferenceTokenUses counts reference tokens presented at a door
	// that records uses (introspection does not), by outcome: "allowed"
	// or the credential authority's refusal reason.
	ReferenceTokenUses *prometheus.CounterVec // outcome
	// StoreDuration and StoreErrors are per store operation (the
	// store.Backend method name, store/traced): its latency, and the
	// operations that failed (not the store's answers: not found,
	// conflict, no free license slot, session ended).
	StoreDuration *prometheus.HistogramVec // operation
	StoreErrors   *prometheus.CounterVec   // operation
}

// Limiters: the label values of erpgate_rate_limit_refusals_total.
const (
	// LimiterToken is the token endpoint's per-client request rate
	// (limits.token_requests_per_second).
	LimiterToken = "token"
	// LimiterClientAuth is the failed client-authentication throttle
	// (limits.client_auth_failures_*).
	LimiterClientAuth = "client_auth"
	// LimiterLogin is the sign-in throttle (limits.login_*): the login
	// form and the account page's current-password check.
	LimiterLogin = "login"
)

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
		FederatedLogins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "federated_logins_total",
			Help: "Sign-ins through external identity providers, by provider and result (success or the failure's reason).",
		}, []string{"provider", "result"}),
		MFA: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "mfa_total",
			Help: "Second-factor checks at sign-in and on the account page, by factor (totp, recovery, passkey) and result (success, failure, throttled).",
		}, []string{"factor", "result"}),
		MFAEnrolments: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "mfa_enrolments_total",
			Help: "TOTP enrolments confirmed with a first code.",
		}),
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
		RateLimitRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "rate_limit_refusals_total",
			Help: "Requests refused with 429 by a rate limit or throttle, by limiter (token|client_auth|login).",
		}, []string{"limiter"}),
		ReferenceTokenUses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "reference_token_uses_total",
			Help: "Reference tokens presented, by outcome (allowed or the refusal reason).",
		}, []string{"outcome"}),
		StoreDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "store_operation_duration_seconds",
			Help:    "Time a store operation took, by operation (the store method).",
			Buckets: proxyBuckets,
		}, []string{"operation"}),
		StoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "store_operation_errors_total",
			Help: "Store operations that failed (timeout, database error), by operation.",
		}, []string{"operation"}),
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help: "Always 1; labels say which build is running.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(b.Version, b.GoVersion).Set(1)
	reg.MustRegister(m.HTTPRequests, m.HTTPDuration, m.UpstreamDuration, m.AuthDecisions,
		m.TokensIssued, m.TokenErrors, m.Logins, m.FederatedLogins, m.MFA, m.MFAEnrolments, m.SessionsOpen, m.LicenseUsed,
		m.LicenseLimit, m.ConfigReloadOK, m.RateLimitRefusals, m.ReferenceTokenUses,
		m.StoreDuration, m.StoreErrors, buildInfo)
	return m
}

// RegisterSigningKeyAge registers erpgate_signing_key_age_seconds on
// reg, read from age at every scrape: the age of the key that signs new
// tokens. A gauge set only when keys refresh would freeze at its last
// value exactly when rotation stops working (a store refusing writes),
// so the age is computed when asked. The gateway calls it once its
// keyring is open (gateway/gateway.go).
func RegisterSigningKeyAge(reg prometheus.Registerer, age func() time.Duration) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "signing_key_age_seconds",
		Help: "Age of the active signing key; rotation (signing.rotate_every) brings it back near 0.",
	}, func() float64 { return age().Seconds() }))
}

// Backchannel are the collectors of back-channel logout (package
// backchannel).
type Backchannel struct {
	// Logouts counts logout tokens by final result: delivered, refused,
	// failed, dropped or skipped (backchannel.Result*).
	Logouts *prometheus.CounterVec // result
	// Queued is the work waiting: session ends and tokens queued, and
	// tokens waiting to be retried.
	Queued prometheus.Gauge
}

// RegisterBackchannel creates the back-channel logout collectors and
// registers them on reg (gateway/backchannel.go).
func RegisterBackchannel(reg prometheus.Registerer) *Backchannel {
	b := &Backchannel{
		Logouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "backchannel_logout_total",
			Help: "Back-channel logout tokens by final result (delivered|refused|failed|dropped|skipped).",
		}, []string{"result"}),
		Queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "backchannel_logout_queued",
			Help: "Back-channel logout work waiting: queued, or waiting to be retried.",
		}),
	}
	reg.MustRegister(b.Logouts, b.Queued)
	return b
}
