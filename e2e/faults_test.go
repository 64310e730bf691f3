package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/erpgate/erpgate/sampleapi"
)

// faultUpstream is a loopback TCP server that misbehaves on purpose.
type faultUpstream struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// startFault serves each connection with handle, which gets the
// connection after the request head was read.
func startFault(t *testing.T, handle func(c net.Conn)) *faultUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &faultUpstream{ln: ln, conns: map[net.Conn]bool{}}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns[c] = true
			f.mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer func() {
					f.mu.Lock()
					delete(f.conns, c)
					f.mu.Unlock()
					c.Close()
				}()
				r := bufio.NewReader(c)
				for { // the request head
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
				}
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *faultUpstream) url() string { return "http://" + f.ln.Addr().String() }

// reset closes the connection with RST (SO_LINGER 0).
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// hang holds the connection until the gateway gives up on it.
func hang(c net.Conn) { _, _ = io.Copy(io.Discard, c) }

// closedPort returns a loopback URL nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// withRoutes appends routes to the example's, which end the file and
// match none of their paths.
func withRoutes(t *testing.T, cfg, routes string) string {
	if !strings.HasSuffix(cfg, "    public: true\n") {
		t.Fatal("config.example.yaml no longer ends with its routes; update withRoutes")
	}
	return cfg + routes
}

var metricLine = regexp.MustCompile(`(?m)^(go_goroutines|process_open_fds) ([0-9.e+]+)$`)

// processGauges reads go_goroutines and process_open_fds from /metrics.
func processGauges(t *testing.T, g *Gateway) (goroutines, fds float64) {
	t.Helper()
	g.Client.CloseIdleConnections()
	found := 0
	for _, m := range metricLine.FindAllStringSubmatch(g.metrics(t), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		if m[1] == "go_goroutines" {
			goroutines = v
		} else {
			fds = v
		}
		found++
	}
	if found != 2 {
		t.Fatal("/metrics lacks go_goroutines or process_open_fds")
	}
	return goroutines, fds
}

// TestUpstreamFaultsNoLeak drives 200 requests at upstreams that refuse,
// reset and hang, checks each gets its answer (502 or 504, or a cut
// stream) within bounds, and that the gateway's goroutines and open files
// come back to where they were.
func TestUpstreamFaultsNoLeak(t *testing.T) {
	t.Parallel()
	resetBefore := startFault(t, reset)
	resetMid := startFault(t, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{\"partial\":")
		time.Sleep(10 * time.Millisecond)
		reset(c)
	})
	hanging := startFault(t, hang)
	refused := closedPort(t)
	// serve, not demo: demo would start its sample API on every loopback
	// upstream, the fault servers' ports included.
	g := startGateway(t, gatewayOptions{Serve: true, Edit: func(c string) string {
		return withRoutes(t, c, fmt.Sprintf(`  - name: fault-refused
    match: {path_prefix: /fault/refused/}
    upstream: %s
    public: true
  - name: fault-reset
    match: {path_prefix: /fault/reset/}
    upstream: %s
    public: true
  - name: fault-reset-mid
    match: {path_prefix: /fault/reset-mid/}
    upstream: %s
    public: true
  - name: fault-hang
    match: {path_prefix: /fault/hang/}
    upstream: %s
    public: true
    timeout: 300ms
`, refused, resetBefore.url(), resetMid.url(), hanging.url()))
	}})

	type fault struct {
		path  string
		want  int // status; 0: a 200 whose body is cut short
		bound time.Duration
	}
	faults := []fault{
		{"/fault/refused/x", http.StatusBadGateway, 5 * time.Second},
		{"/fault/reset/x", http.StatusBadGateway, 5 * time.Second},
		{"/fault/reset-mid/x", 0, 5 * time.Second}, // the client's connection is cut too
		{"/fault/hang/x", http.StatusGatewayTimeout, 5 * time.Second},
	}
	one := func(f fault) error {
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), httpTimeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.PublicURL+f.path, nil)
		resp, err := g.Client.Do(req)
		if err != nil && f.want == 0 && time.Since(start) <= f.bound {
			return nil // cut before the gateway flushed the header: also a cut stream
		}
		if err != nil {
			return fmt.Errorf("GET %s: %v", f.path, err)
		}
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		switch {
		case took > f.bound:
			return fmt.Errorf("GET %s took %v (bound %v)", f.path, took, f.bound)
		case f.want == 0 && (resp.StatusCode != http.StatusOK || rerr == nil):
			return fmt.Errorf("GET %s: %d, body read error %v; want a cut 200", f.path, resp.StatusCode, rerr)
		case f.want != 0 && (resp.StatusCode != f.want || rerr != nil || !strings.Contains(string(body), `"error"`)):
			return fmt.Errorf("GET %s: %d %s (%v); want %d JSON", f.path, resp.StatusCode, body, rerr, f.want)
		}
		return nil
	}
	// Warm up (pools, lazily started goroutines), then measure.
	for _, f := range faults {
		if err := one(f); err != nil {
			t.Fatal(err)
		}
	}
	gBefore, fdBefore := processGauges(t, g)

	const total, workers = 200, 8
	var next atomic.Int32
	errs := make(chan error, total)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				if err := one(faults[i%len(faults)]); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Connections close asynchronously: allow a few seconds to settle.
	const slack = 10
	var gAfter, fdAfter float64
	ok := poll(10*time.Second, func() bool {
		gAfter, fdAfter = processGauges(t, g)
		return gAfter <= gBefore+slack && fdAfter <= fdBefore+slack
	})
	t.Logf("after %d faulty requests: goroutines %v -> %v, open fds %v -> %v", total, gBefore, gAfter, fdBefore, fdAfter)
	if !ok {
		t.Errorf("leak: goroutines %v -> %v, open fds %v -> %v (slack %d)", gBefore, gAfter, fdBefore, fdAfter, slack)
	}
	if resp := g.call(t, http.MethodGet, g.AdminURL+"/healthz", ""); resp.Status != http.StatusOK {
		t.Errorf("healthz after the faults: %s", resp)
	}
}

// TestKill9UnderLoad: SIGKILL while tokens are issued and sessions opened,
// then a restart on the same SQLite file. Every token whose issuance the
// client saw still works, and every session a client saw opened is listed
// by `erpgate sessions list` (SPEC §5: "a restart loses no session").
func TestKill9UnderLoad(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{Edit: func(c string) string {
		c = strings.Replace(c, "  slots: 10\n", "  slots: 0\n", 1)
		return c + "\nlimits: {token_requests_per_second: 0}\n"
	}})
	type issued struct{ token, sid string }
	var (
		mu   sync.Mutex
		seen []issued // tokens issued, and the session their call opened ("" if none yet)
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: httpTimeout}
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, ok := tryToken(client, g)
				if !ok {
					continue // the kill may cut any request
				}
				mu.Lock()
				seen = append(seen, issued{token: tok})
				i := len(seen) - 1
				mu.Unlock()
				if sid, ok := trySession(client, g, tok); ok {
					mu.Lock()
					seen[i].sid = sid
					mu.Unlock()
				}
			}
		})
	}
	if !poll(20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) >= 100 }) {
		t.Fatal("load did not get going")
	}
	g.kill() // SIGKILL: no shutdown code runs
	close(stop)
	wg.Wait()
	client.CloseIdleConnections()
	if err := g.start(erpgateBinary(t)); err != nil {
		t.Fatalf("restart after kill -9: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	stdout, stderr, code := runCLI(t, "", "sessions", "list", "--config", g.ConfigPath)
	if code != 0 {
		t.Fatalf("sessions list: exit %d\n%s", code, stderr)
	}
	sessions := 0
	for _, s := range seen {
		if s.sid == "" {
			continue
		}
		sessions++
		if !strings.Contains(stdout, s.sid) {
			t.Errorf("session %s opened before the kill is not listed", s.sid)
		}
	}
	for _, s := range seen {
		resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, s.token)
		if resp.Status != http.StatusOK {
			t.Errorf("token issued before the kill: %s", resp)
			continue
		}
		if s.sid != "" && decodePersons(t, resp).Auth.Session != s.sid {
			t.Errorf("token's session changed across the kill: %s -> %s", s.sid, decodePersons(t, resp).Auth.Session)
		}
	}
	t.Logf("%d tokens and %d sessions seen before kill -9; all survived", len(seen), sessions)
}

// tryToken and trySession are the load's requests; errors are expected
// around the kill and only make the result not count.
func tryToken(c *http.Client, g *Gateway) (string, bool) {
	req, _ := http.NewRequest(http.MethodPost, g.TokenURL(), strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basicAuth(syncClient, syncSecret))
	resp, err := c.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	var tr tokenResponse
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&tr) != nil || tr.AccessToken == "" {
		return "", false
	}
	return tr.AccessToken, true
}

func trySession(c *http.Client, g *Gateway, tok string) (string, bool) {
	req, _ := http.NewRequest(http.MethodGet, g.PublicURL+personsPath, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", false
	}
	var p sampleapi.Persons
	if json.Unmarshal(body, &p) != nil || p.Auth.Session == "" {
		return "", false
	}
	return p.Auth.Session, true
}
