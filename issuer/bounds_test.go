package issuer

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

func TestScopeBounds(t *testing.T) {
	words := func(n int, f func(i int) string) string {
		s := make([]string, n)
		for i := range s {
			s[i] = f(i)
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct {
		name    string
		param   string
		want    int    // values kept
		wantErr string // in the description; "" for none
	}{
		{"64 values", words(64, func(i int) string { return fmt.Sprint("s", i) }), 64, ""},
		{"65 values", words(65, func(i int) string { return fmt.Sprint("s", i) }), 0, "more than 64 scope values"},
		{"64 duplicates", words(64, func(int) string { return "read" }), 1, ""},
		{"value of 128 bytes", strings.Repeat("a", 128), 1, ""},
		{"value of 129 bytes", strings.Repeat("a", 129), 0, "longer than 128 bytes"},
		{"parameter over 2 KiB", words(20, func(i int) string { return strings.Repeat(string(rune('a'+i)), 110) }), 0, "longer than 2048 bytes"},
		{"16,000 three-letter scopes", words(16000, func(int) string { return "abc" }), 0, "longer than 2048 bytes"},
		{"malformed", "read\tupdate", 0, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scopeParam(tc.param)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || err.Code != "invalid_scope" || !strings.Contains(err.Description, tc.wantErr)):
				t.Fatalf("err %v, want invalid_scope %q", err, tc.wantErr)
			case len(got) != tc.want:
				t.Fatalf("%d values, want %d", len(got), tc.want)
			}
		})
	}
}

// The request of issue 15 (16,000 three-letter scopes in one
// unauthenticated authorization request) is refused before any scope
// work; a flood that fits the query bound is refused as invalid_scope,
// redirected to the (registered) client.
func TestAuthorizeScopeFlood(t *testing.T) {
	ts := newTestServer(t, nil)
	flood := func(n int) string {
		q := authzQuery(webID, webRedirect, strings.TrimSpace(strings.Repeat("abc ", n)), newPKCE())
		return ts.issuer + "/connect/authorize?" + q.Encode()
	}
	b := newBrowser(t, ts)
	if resp, page := b.get(flood(16000)); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "query string too long") {
		t.Fatalf("16,000 scopes: %d", resp.StatusCode)
	}
	resp, _ := b.get(flood(1000))
	if q := redirectQuery(t, resp, webRedirect); q.Get("error") != "invalid_scope" || !strings.Contains(q.Get("error_description"), "2048") {
		t.Fatalf("1,000 scopes: %v", q)
	}
	resp, _ = b.get(flood(100))
	if q := redirectQuery(t, resp, webRedirect); q.Get("error") != "invalid_scope" || !strings.Contains(q.Get("error_description"), "more than 64") {
		t.Fatalf("100 scopes: %v", q)
	}
}

// Every endpoint that reads parameters caps their number (query and
// body, repeats counted) with a 400 that says so.
func TestParameterCount(t *testing.T) {
	ts := newTestServer(t, nil)
	many := func(n int) url.Values {
		v := ccForm()
		for i := range n - 1 {
			v.Set(fmt.Sprint("p", i), "x")
		}
		return v
	}
	if r := ts.token(t, many(maxFormValues), syncID, syncSecret); r.status != http.StatusOK {
		t.Fatalf("%d parameters: %d %v", maxFormValues, r.status, r.body)
	}
	for _, path := range []string{"/connect/token", "/connect/introspect", "/connect/revocation"} {
		rec := ts.clientCall(path, "192.0.2.1:1", syncID, syncSecret, many(maxFormValues+1))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "too many parameters") {
			t.Errorf("%s with %d parameters: %d %s", path, maxFormValues+1, rec.Code, rec.Body)
		}
	}
	q := authzQuery(webID, webRedirect, "read", newPKCE())
	for i := range maxFormValues {
		q.Set(fmt.Sprint("p", i), "x")
	}
	for _, path := range []string{"/connect/authorize", "/connect/endsession"} {
		resp, page := newBrowser(t, ts).get(ts.issuer + path + "?" + q.Encode())
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "too many parameters") {
			t.Errorf("%s with %d parameters: %d", path, len(q), resp.StatusCode)
		}
	}
}

// stalledPost opens a connection to addr and sends a POST to path that
// declares Content-Length: 1000 and sends 3 bytes.
func stalledPost(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\na=b", path, addr)
	return c
}

// A body that does not arrive within the form read timeout fails (408
// from the OAuth endpoints, 400 from the pages) and the connection is
// closed, at every identity-server endpoint that reads a form: the
// deadline is set for every request with a body, so the login and
// logout forms have it too.
func TestFormReadDeadline(t *testing.T) {
	ts := newTestServer(t, func(c *testConfig) { c.Limits.FormReadTimeout = 200 * time.Millisecond })
	addr := ts.Listener.Addr().String()
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/id/connect/token", http.StatusRequestTimeout},
		{"/id/connect/introspect", http.StatusRequestTimeout},
		{"/id/connect/revocation", http.StatusRequestTimeout},
		{"/id/connect/authorize", http.StatusRequestTimeout},
		{"/id/connect/endsession", http.StatusRequestTimeout},
		{"/id/account/login", http.StatusRequestTimeout},
	} {
		t.Run(tc.path, func(t *testing.T) {
			c := stalledPost(t, addr, tc.path)
			_ = c.SetDeadline(time.Now().Add(5 * time.Second)) // the test's bound, far above the server's
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer to a stalled body: %v", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("the connection stays open after the answer: %v", err)
			}
		})
	}
}

// Stalled bodies do not hold goroutines: 50 connections that each
// declare 1000 bytes and send 3 are all answered and closed, and the
// server's goroutines come back.
func TestFormReadDeadlineFreesGoroutines(t *testing.T) {
	ts := newTestServer(t, func(c *testConfig) { c.Limits.FormReadTimeout = 200 * time.Millisecond })
	addr := ts.Listener.Addr().String()
	before := runtime.NumGoroutine()
	conns := make([]net.Conn, 50)
	for i := range conns {
		conns[i] = stalledPost(t, addr, "/id/connect/token")
	}
	for i, c := range conns {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("connection %d not closed by the server: %v", i, err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+5 {
		t.Fatalf("%d goroutines after the stalled bodies were cut, %d before", n, before)
	}
}

// slowRefreshTokens delays refresh-token lookups and fails them if the
// request's context ended meanwhile.
type slowRefreshTokens struct {
	RefreshTokens
	delay time.Duration
}

func (g slowRefreshTokens) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	select {
	case <-time.After(g.delay):
	case <-ctx.Done():
	}
	if err := ctx.Err(); err != nil {
		return store.RefreshToken{}, err
	}
	return g.RefreshTokens.RefreshToken(ctx, hash)
}

// The deadline bounds the body, not the handler: a handler slower than
// the form read timeout after reading the whole body is not cut (were the
// deadline still on, the server's background read would fail and cancel
// the request's context; net/http lifts it at the end of the body).
func TestFormReadDeadlineSparesSlowHandlers(t *testing.T) {
	ts := newTestServer(t, func(c *testConfig) {
		c.Limits.FormReadTimeout = 100 * time.Millisecond
		c.RefreshTokens = slowRefreshTokens{RefreshTokens: c.RefreshTokens, delay: 400 * time.Millisecond}
	})
	r := ts.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"unknown"}}, webID, webSecret)
	if r.status != http.StatusBadRequest || r.body["error"] != "invalid_grant" {
		t.Fatalf("slow handler after a complete body: %d %v; want the grant's own invalid_grant", r.status, r.body)
	}
}

// A recorder has no connection: no deadline, the caps still apply.
func TestBoundBodyWithoutConnection(t *testing.T) {
	ts := newTestServer(t, nil)
	body := strings.Repeat("a=b&", maxFormValues+1)
	req := httptest.NewRequest(http.MethodPost, ts.issuer+"/connect/token", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	ts.Config.Handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "too many parameters") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
