package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Attack suite against the built binary: each attempt is refused, the
// process survives, and nothing was opened on the attacker's behalf.
// Token-level attacks (jku/x5u/jwk headers, logout CSRF, open redirect at
// login) are in issuer/attack_test.go and proxy/attack_test.go; the OAuth
// mix-up (a callback whose iss differs) in
// browserlogin.TestCallbackIssuerMismatch.

// rawRequest writes req on a fresh connection and returns the status
// line's code; -1 when the gateway closed the connection without one.
func rawRequest(t *testing.T, addr, req string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, httpTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(httpTimeout))
	if _, err := c.Write([]byte(req)); err != nil {
		return -1 // the server may stop reading a huge header early
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return -1
	}
	resp.Body.Close()
	return resp.StatusCode
}

func sessionsOpen(t *testing.T, g *Gateway) string {
	t.Helper()
	for _, line := range strings.Split(g.metrics(t), "\n") {
		if strings.HasPrefix(line, "erpgate_sessions_open ") {
			return line
		}
	}
	t.Fatal("no erpgate_sessions_open in /metrics")
	return ""
}

// The listener's header limit is 64 KiB (Go adds 4 KiB of slack): a
// bigger header block gets 431 Request Header Fields Too Large; a bearer
// token just under it is read and refused as invalid. Neither crashes
// the gateway or opens a session.
func TestAttackOversizedHeaders(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	addr := strings.TrimPrefix(g.PublicURL, "http://")
	before := sessionsOpen(t, g)

	t.Run("bearer token of 60 KiB", func(t *testing.T) {
		resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, strings.Repeat("A", 60<<10))
		if resp.Status != http.StatusUnauthorized {
			t.Fatalf("60 KiB bearer: %s; want 401", resp)
		}
	})
	t.Run("bearer token of 80 KiB", func(t *testing.T) {
		req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", personsPath, addr, strings.Repeat("A", 80<<10))
		if code := rawRequest(t, addr, req); code != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("80 KiB bearer: %d; want 431", code)
		}
	})
	t.Run("header block of 256 KiB", func(t *testing.T) {
		var b strings.Builder
		fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", healthPath, addr)
		for i := range 256 {
			fmt.Fprintf(&b, "X-Pad-%d: %s\r\n", i, strings.Repeat("p", 1000))
		}
		b.WriteString("\r\n")
		if code := rawRequest(t, addr, b.String()); code != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("256 KiB header block: %d; want 431", code)
		}
	})

	// Still serving, and nothing was opened.
	if resp := g.call(t, http.MethodGet, g.AdminURL+"/healthz", ""); resp.Status != http.StatusOK {
		t.Fatalf("healthz after the attempts: %s", resp)
	}
	if after := sessionsOpen(t, g); after != before {
		t.Errorf("sessions changed: %q -> %q", before, after)
	}
	tok := g.token(t, syncClient, syncSecret)
	if resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, tok); resp.Status != http.StatusOK {
		t.Fatalf("a genuine call after the attempts: %s", resp)
	}
}

// limits: in the config reaches the token endpoint: over the burst, 429
// with Retry-After and RFC 6749 §5.2 JSON; another client is unaffected.
func TestTokenRateLimit(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{Edit: func(c string) string {
		return c + "\nlimits: {token_requests_per_second: 1, token_burst: 3}\n"
	}})
	for i := range 3 {
		if resp, _ := g.requestToken(t, syncClient, syncSecret, secretBasic); resp.Status != http.StatusOK {
			t.Fatalf("request %d inside the burst: %s", i, resp)
		}
	}
	resp, tr := g.requestToken(t, syncClient, syncSecret, secretBasic)
	if resp.Status != http.StatusTooManyRequests || tr.Error != "temporarily_unavailable" ||
		resp.Header.Get("Retry-After") == "" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("over the burst: %s %v", resp, resp.Header)
	}
	if resp, _ := g.requestToken(t, reportClient, reportSecret, secretBasic); resp.Status != http.StatusOK {
		t.Fatalf("another client: %s", resp)
	}
	if !strings.Contains(g.metrics(t), `erpgate_token_errors_total{error="temporarily_unavailable",grant_type="client_credentials"} 1`) {
		t.Error("the refusal is not counted in token_errors_total")
	}
}
