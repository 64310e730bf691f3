package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The live-connection collectors are exposed under their names and
// labels, and pass promlint like the others.
func TestLiveMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	l := NewLive(reg)
	l.Connections.WithLabelValues("websocket").Set(3)
	l.Closed.WithLabelValues("session_ended").Inc()
	want := `# HELP erpgate_live_closed_total Proxied WebSockets and streams the gateway closed because their session ended or their credential may no longer act (or, for WebSockets, because the gateway stopped), by reason.
# TYPE erpgate_live_closed_total counter
erpgate_live_closed_total{reason="session_ended"} 1
# HELP erpgate_live_connections Proxied WebSockets and streams open now, by kind.
# TYPE erpgate_live_connections gauge
erpgate_live_connections{kind="websocket"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Fatalf("promlint: %v %v", problems, err)
	}
}
