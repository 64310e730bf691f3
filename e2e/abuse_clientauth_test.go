package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Abuse of client authentication and of the identity server's forms,
// against the built binary (issue 15).

// clientPost posts form to the identity-server endpoint path with
// client_secret_basic.
func (g *Gateway) clientPost(t *testing.T, path, clientID, secret string, form url.Values) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, g.Issuer()+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basicAuth(clientID, secret))
	return g.do(t, req)
}

// The client-secret oracle: many wrong guesses, then the right secret.
// Before, wrong guesses emptied the address's token bucket (429) while
// the right secret, charged to the client's own bucket, got 200, so 400
// guesses found the demo secret in 0.12 s; introspection and revocation
// had no limit and no audit line at all. Now, at each of the three
// endpoints, once the guesses are throttled the right secret is refused
// too, every failure is audited, and another client at the same address
// is not affected.
func TestAbuseClientSecretOracle(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{Edit: func(c string) string {
		return c + "\nlimits: {token_requests_per_second: 1, token_burst: 2, client_auth_failures_per_client_address: 5}\n"
	}})
	// Each endpoint is tried on another of the demo's confidential
	// clients, so each starts from its own unblocked (client, address)
	// pair.
	doors := []struct {
		path, name     string
		form           url.Values
		client, secret string
	}{
		{"/connect/token", "token", url.Values{"grant_type": {"client_credentials"}}, syncClient, syncSecret},
		{"/connect/introspect", "introspection", url.Values{"token": {"x.y.z"}}, reportClient, reportSecret},
		{"/connect/revocation", "revocation", url.Values{"token": {"some-token"}}, "erpgate", "gateway-demo-secret"},
	}
	for _, d := range doors {
		t.Run(d.name, func(t *testing.T) {
			client, secret := d.client, d.secret
			statuses := map[int]int{}
			for i := range 60 {
				statuses[g.clientPost(t, d.path, client, fmt.Sprintf("guess-%03d", i), d.form).Status]++
			}
			if statuses[http.StatusOK] != 0 || statuses[http.StatusTooManyRequests] == 0 {
				t.Fatalf("60 wrong guesses: %v", statuses)
			}
			resp := g.clientPost(t, d.path, client, secret, d.form)
			if resp.Status == http.StatusOK {
				t.Fatalf("the right secret after 60 guesses got 200 (%s): the throttle is an oracle", resp)
			}
			if resp.Status != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
				!strings.Contains(string(resp.Body), `"temporarily_unavailable"`) {
				t.Fatalf("the right secret while throttled: %s %v; want 429 temporarily_unavailable with Retry-After", resp, resp.Header)
			}
			if d.name == "token" {
				// Another client from the same address still gets its
				// tokens: the guesses blocked their own pair, not the
				// address.
				if resp, _ := g.requestToken(t, reportClient, reportSecret, secretBasic); resp.Status != http.StatusOK {
					t.Fatalf("another client at the guessing address: %s", resp)
				}
			}
		})
	}

	// Every failed client authentication is one audit line, at every
	// endpoint; no guess appears in the logs.
	var failed, throttled int
	waitFor(t, "the audit lines", func() bool {
		failed, throttled = 0, 0
		for _, e := range auditEvents(t, g.Stderr()) {
			if e.Event != "client_auth.failed" {
				continue
			}
			failed++
			if e.Reason == "throttled" {
				throttled++
			}
		}
		return failed >= 3*61
	})
	if failed != 3*61 || throttled == 0 {
		t.Errorf("%d client_auth.failed lines (%d throttled), want one per refused attempt (%d)", failed, throttled, 3*61)
	}
	for _, line := range strings.Split(g.Stderr(), "\n") {
		if strings.Contains(line, "client_auth.failed") && !strings.Contains(line, `"endpoint"`) {
			t.Errorf("audit line without its endpoint: %s", line)
		}
	}
	if strings.Contains(g.Stdout()+g.Stderr(), "guess-0") {
		t.Error("a guessed secret reached the logs")
	}
}

// An unknown client is audited by the short hash of its id, never the id.
func TestAbuseUnknownClientAudited(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	const id = "com.example/NOT-REGISTERED-marker"
	for _, path := range []string{"/connect/token", "/connect/introspect", "/connect/revocation"} {
		if resp := g.clientPost(t, path, id, "x", url.Values{"grant_type": {"client_credentials"}, "token": {"t"}}); resp.Status != http.StatusUnauthorized {
			t.Fatalf("%s with an unknown client: %s", path, resp)
		}
	}
	var lines []string
	waitFor(t, "three client_auth.failed lines", func() bool {
		lines = lines[:0]
		for _, line := range strings.Split(g.Stderr(), "\n") {
			if strings.Contains(line, `"client_auth.failed"`) {
				lines = append(lines, line)
			}
		}
		return len(lines) >= 3
	})
	for _, line := range lines {
		if !strings.Contains(line, `"client_id_hash":"`) || !strings.Contains(line, `"reason":"unknown_client"`) {
			t.Errorf("unknown client line: %s", line)
		}
	}
	if strings.Contains(g.Stderr(), "NOT-REGISTERED") {
		t.Error("the unknown client id reached the audit log")
	}
}

// A request that declares Content-Length: 1000 and sends 3 bytes was held
// forever (200 such connections: 420 goroutines). Now the body must
// arrive within limits.form_read_timeout: every such connection gets 408
// and is closed, and the process's goroutines come back.
func TestAbuseStalledFormBody(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{Edit: func(c string) string {
		return c + "\nlimits: {form_read_timeout: 1s}\n"
	}})
	addr := strings.TrimPrefix(g.PublicURL, "http://")
	goroutinesBefore, _ := processGauges(t, g)

	paths := []string{"/id/connect/token", "/id/connect/introspect", "/id/connect/revocation", "/id/account/login", "/id/connect/endsession"}
	conns := make([]net.Conn, 100)
	for i := range conns {
		c, err := net.DialTimeout("tcp", addr, httpTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\na=b",
			paths[i%len(paths)], addr)
		conns[i] = c
	}
	start := time.Now()
	for i, c := range conns {
		_ = c.SetDeadline(time.Now().Add(httpTimeout))
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("connection %d (%s): no answer to a stalled body: %v", i, paths[i%len(paths)], err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("connection %d (%s): %d, want 408 (or the login page's 400)", i, paths[i%len(paths)], resp.StatusCode)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("connection %d: still open after the answer: %v", i, err)
		}
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("cutting 100 stalled bodies took %v with a 1s timeout", el)
	}
	var now float64
	waitFor(t, "goroutines back to where they were", func() bool {
		now, _ = processGauges(t, g)
		return now <= goroutinesBefore+5
	})

	// Still serving.
	if resp, _ := g.requestToken(t, syncClient, syncSecret, secretPost); resp.Status != http.StatusOK {
		t.Fatalf("a genuine token request after the stalled bodies: %s", resp)
	}
}
