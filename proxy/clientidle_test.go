package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// bodyUpstream reads the whole request body before it answers, after
// wait, and reports what it read.
func bodyUpstream(t *testing.T, wait time.Duration) (*url.URL, <-chan string) {
	got := make(chan string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			got <- "error: " + string(b)
			return
		}
		got <- string(b)
		time.Sleep(wait)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	return u, got
}

func idleFixture(t *testing.T, u *url.URL, idle time.Duration) *httptest.Server {
	f := newFixture(t, func(c *Config) {
		for i := range c.Upstreams {
			c.Upstreams[i] = Upstream{URL: u, ClientIdleTimeout: idle}
		}
	})
	gw := httptest.NewServer(f.proxy)
	t.Cleanup(gw.Close)
	return gw
}

// A client that declares a body and stops sending it is dropped after
// the idle timeout: 408, the connection closed, the upstream call ended.
func TestClientIdleBodyDropped(t *testing.T) {
	u, got := bodyUpstream(t, 0)
	gw := idleFixture(t, u, 300*time.Millisecond)
	c, err := net.Dial("tcp", gw.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, _ = io.WriteString(c, "POST /api/health HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1000\r\n\r\nabc")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "request_timeout") {
		t.Fatalf("got %d %s, want 408 request_timeout", resp.StatusCode, body)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("dropped after %s, want about 300ms", d)
	}
	// The gateway closed the connection.
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("connection still open (%d more bytes)", n)
	}
	select {
	case s := <-got:
		if !strings.HasPrefix(s, "error") {
			t.Errorf("upstream read a whole body: %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Error("the upstream call did not end")
	}
}

// A slow but live client streams on past the idle timeout, and a slow
// upstream after the whole body arrived is no client idleness.
func TestClientSlowBodyStreams(t *testing.T) {
	u, got := bodyUpstream(t, 500*time.Millisecond)
	gw := idleFixture(t, u, 250*time.Millisecond)
	c, err := net.Dial("tcp", gw.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const payload = "0123456789"
	_, _ = fmt.Fprintf(c, "POST /api/health HTTP/1.1\r\nHost: example.com\r\nContent-Length: %d\r\n\r\n", len(payload))
	for i := range len(payload) { // 1s in all, 4× the idle timeout
		time.Sleep(100 * time.Millisecond)
		if _, err := io.WriteString(c, payload[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	if s := <-got; s != payload {
		t.Errorf("upstream read %q", s)
	}
}
