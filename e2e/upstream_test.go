package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestUpstreamDown: "upstream down → 502 JSON" (SPEC §4). `erpgate serve`
// starts no sample upstream, so every route forwards to a closed port.
func TestUpstreamDown(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{Serve: true})
	token := g.token(t, syncClient, syncSecret)

	for _, c := range []struct{ name, path, token string }{
		{"public route", healthPath, ""},
		{"authorized call", personsPath, token},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := g.call(t, http.MethodGet, g.PublicURL+c.path, c.token)
			if resp.Status != http.StatusBadGateway {
				t.Fatalf("GET %s with the upstream down: %s; want 502", c.path, resp)
			}
			checkJSONError(t, resp, "")
			if strings.Contains(string(resp.Body), g.Upstream) {
				t.Errorf("502 body reveals the upstream address %s: %s", g.Upstream, resp.Body)
			}
		})
	}

	// The gateway itself stays healthy: it still issues tokens and
	// refuses calls without one before trying the upstream.
	if resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, ""); resp.Status != http.StatusUnauthorized {
		t.Errorf("GET persons without a token, upstream down: %s; want 401", resp)
	}
}
