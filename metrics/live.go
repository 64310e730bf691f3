package metrics

import "github.com/prometheus/client_golang/prometheus"

// Live holds the collectors of live connections (package live): proxied
// WebSockets and streams, which outlive their call.
type Live struct {
	// Connections is how many are open now, by kind: "websocket" or
	// "stream".
	Connections *prometheus.GaugeVec // kind
	// Closed counts those the gateway closed, by reason: a credential
	// authority refusal reason (session_ended, revoked, app_disabled, …).
	Closed *prometheus.CounterVec // reason
}

// NewLive creates the live-connection collectors and registers them on
// reg. The gateway calls it once, for the registry that outlives reloads.
func NewLive(reg prometheus.Registerer) *Live {
	l := &Live{
		Connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "live_connections",
			Help: "Proxied WebSockets and streams open now, by kind.",
		}, []string{"kind"}),
		Closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "live_closed_total",
			Help: "Proxied WebSockets and streams the gateway closed because their session ended or their credential may no longer act (or, for WebSockets, because the gateway stopped), by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(l.Connections, l.Closed)
	return l
}
