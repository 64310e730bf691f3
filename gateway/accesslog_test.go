package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/sampleapi"
)

// logBuffer is an io.Writer the gateway's goroutines may share.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines decodes the JSON lines whose msg is msg ("" for all).
func (l *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if s == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, s)
		}
		if msg == "" || m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// secret is in every credential-bearing part of the test requests; it
// must appear in no log line.
const secret = "s3cr3t-do-not-log"

func secretRequest(target string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target+"?access_token="+secret+"&code="+secret, strings.NewReader("client_secret="+secret))
	r.Header.Set("Authorization", "Bearer "+secret)
	r.Header.Set("Cookie", "_erpgate="+secret)
	r.Header.Set("X-Api-Key", secret)
	r.Header.Set("Proxy-Authorization", "Basic "+secret)
	r.Header.Set("User-Agent", "erp-client/1.0")
	r.Header.Set(requestid.Header, "req-42")
	return r
}

// handlerFunc is a comparable http.Handler (a pointer), so a test can
// tell whether withAccessLog returned the very handler it was given.
type handlerFunc struct{ f http.HandlerFunc }

func (h *handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.f(w, r) }

func TestAccessLog(t *testing.T) {
	t.Run("on: one line after the response, no secrets", func(t *testing.T) {
		var buf logBuffer
		logger := slog.New(slog.NewJSONHandler(&buf, nil))
		inner := &handlerFunc{func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, "hello")
			if buf.String() != "" {
				t.Error("access line written before the response was done")
			}
		}}
		h := requestid.Middleware(withAccessLog(true, logger, inner))
		h.ServeHTTP(httptest.NewRecorder(), secretRequest("/api/domain/odata/x"))

		all := buf.lines(t, "")
		if len(all) != 1 {
			t.Fatalf("%d lines, want 1:\n%s", len(all), buf.String())
		}
		got := all[0]
		for k, want := range map[string]any{
			"msg": "access", "level": "INFO", "method": "POST", "path": "/api/domain/odata/x",
			"status": 201.0, "bytes": 5.0, "remote_addr": "192.0.2.1:1234",
			"request_id": "req-42", "user_agent": "erp-client/1.0",
		} {
			if got[k] != want {
				t.Errorf("%s = %v, want %v", k, got[k], want)
			}
		}
		// Seconds as a float: an in-memory handler takes far below one
		// (in nanoseconds, as slog writes a time.Duration, it would be
		// thousands).
		if d, ok := got["duration_seconds"].(float64); !ok || d <= 0 || d >= 60 {
			t.Errorf("duration_seconds = %v, want a positive number of seconds", got["duration_seconds"])
		}
		for _, k := range []string{"aborted", "route", "query", "authorization", "cookie", "duration"} {
			if _, ok := got[k]; ok {
				t.Errorf("unexpected field %s", k)
			}
		}
		if strings.Contains(buf.String(), secret) || strings.Contains(buf.String(), "?") {
			t.Errorf("a secret or the query string is in the access log:\n%s", buf.String())
		}
	})

	t.Run("no user agent: no empty field", func(t *testing.T) {
		var buf logBuffer
		inner := &handlerFunc{func(w http.ResponseWriter, r *http.Request) {}}
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.Header.Del("User-Agent")
		requestid.Middleware(withAccessLog(true, slog.New(slog.NewJSONHandler(&buf, nil)), inner)).ServeHTTP(httptest.NewRecorder(), req)
		line := buf.lines(t, "access")[0]
		if _, ok := line["user_agent"]; ok {
			t.Errorf("user_agent written without one: %v", line)
		}
		for k, v := range line {
			if v == "" {
				t.Errorf("%s is empty: %v", k, line)
			}
		}
	})

	t.Run("off: not installed, nothing logged", func(t *testing.T) {
		var buf logBuffer
		inner := &handlerFunc{func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello") }}
		h := withAccessLog(false, slog.New(slog.NewJSONHandler(&buf, nil)), inner)
		if h != http.Handler(inner) {
			t.Fatalf("withAccessLog(false) wrapped the handler: %T", h)
		}
		requestid.Middleware(h).ServeHTTP(httptest.NewRecorder(), secretRequest("/x"))
		if buf.String() != "" {
			t.Errorf("logged with access_log off:\n%s", buf.String())
		}
	})

	for _, tc := range []struct {
		name       string
		handler    http.HandlerFunc
		wantStatus float64
		wantBytes  float64
		aborted    bool
	}{
		{"nothing written is 200", func(http.ResponseWriter, *http.Request) {}, 200, 0, false},
		{"body only is 200", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "abc") }, 200, 3, false},
		{"early hints are not the status", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusNoContent)
		}, 204, 0, false},
		{"flush sends 200", func(w http.ResponseWriter, _ *http.Request) {
			w.(http.Flusher).Flush()
			w.WriteHeader(http.StatusTeapot) // too late; net/http ignores it
		}, 200, 0, false},
		{"panic is logged as aborted", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "par")
			panic(http.ErrAbortHandler)
		}, 200, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf logBuffer
			h := withAccessLog(true, slog.New(slog.NewJSONHandler(&buf, nil)), tc.handler)
			func() {
				defer func() {
					if v := recover(); (v != nil) != tc.aborted {
						t.Errorf("panic %v", v)
					}
				}()
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/p", nil))
			}()
			lines := buf.lines(t, "access")
			if len(lines) != 1 {
				t.Fatalf("%d lines:\n%s", len(lines), buf.String())
			}
			got := lines[0]
			if got["status"] != tc.wantStatus || got["bytes"] != tc.wantBytes || (got["aborted"] == true) != tc.aborted {
				t.Errorf("status %v bytes %v aborted %v; want %v %v %v", got["status"], got["bytes"], got["aborted"], tc.wantStatus, tc.wantBytes, tc.aborted)
			}
		})
	}

	t.Run("protocol switch through ResponseController is 101", func(t *testing.T) {
		var buf logBuffer
		h := withAccessLog(true, slog.New(slog.NewJSONHandler(&buf, nil)), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// As ReverseProxy passes on an upstream's 101.
			c, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
			_ = rw.Flush()
		}))
		srv := httptest.NewServer(h)
		defer srv.Close()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ws", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "test")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// The line is written when the handler returns, which may be after
		// the client read the 101; Close does not wait for hijacked
		// connections, so wait for the line.
		var lines []map[string]any
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if lines = buf.lines(t, "access"); len(lines) > 0 || time.Now().After(deadline) {
				break
			}
		}
		if resp.StatusCode != 101 || len(lines) != 1 || lines[0]["status"] != 101.0 {
			t.Fatalf("response %d, lines %v", resp.StatusCode, lines)
		}
	})

	t.Run("long user agent is cut", func(t *testing.T) {
		var buf logBuffer
		h := withAccessLog(true, slog.New(slog.NewJSONHandler(&buf, nil)), http.NotFoundHandler())
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("User-Agent", strings.Repeat("a", 10_000))
		h.ServeHTTP(httptest.NewRecorder(), r)
		if ua, _ := buf.lines(t, "access")[0]["user_agent"].(string); len(ua) != maxUserAgent {
			t.Errorf("user_agent has %d bytes, want %d", len(ua), maxUserAgent)
		}
	})
}

// TestAccessLogRequestIDs: every process-log line written with a
// request's context carries its request_id, once.
func TestAccessLogRequestIDs(t *testing.T) {
	var buf logBuffer
	logger := slog.New(withRequestIDs(slog.NewJSONHandler(&buf, nil)))
	ctx := requestid.With(context.Background(), "req-7")
	logger.InfoContext(ctx, "implicit")
	logger.InfoContext(ctx, "explicit", "request_id", "req-7")
	logger.With("request_id", "req-7").InfoContext(ctx, "with")
	logger.WithGroup("g").InfoContext(ctx, "grouped", "k", "v")
	logger.Info("no request")
	for _, s := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		n := strings.Count(s, `"request_id":"req-7"`)
		want := 1
		if strings.Contains(s, `"no request"`) {
			want = 0
		}
		if n != want {
			t.Errorf("request_id %d times, want %d: %s", n, want, s)
		}
	}
}

// TestAccessLogGateway: with log.access_log on, each request through the
// real wiring (proxy and identity server) gets one access line whose
// request_id is the X-Request-Id answered; no token or secret is in any
// log line. Off (the default), there are no access lines.
func TestAccessLogGateway(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(map[bool]string{true: "on", false: "off"}[on], func(t *testing.T) {
			var logs logBuffer
			front := startGatewayLogging(t, &logs, on)

			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"com.example/nightly-sync"}, "client_secret": {demoSecret}}
			resp, err := http.PostForm(front.URL+"/id/connect/token", form)
			if err != nil {
				t.Fatal(err)
			}
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			err = json.NewDecoder(resp.Body).Decode(&tok)
			resp.Body.Close()
			if err != nil || tok.AccessToken == "" {
				t.Fatalf("token: %d %v", resp.StatusCode, err)
			}
			ids := map[string]string{resp.Header.Get(requestid.Header): "/id/connect/token"}

			for _, target := range []string{
				sampleapi.PersonsPath + "?$top=1",                 // allowed
				sampleapi.PersonsPath + "?access_token=" + secret, // token in the query: refused
			} {
				req, _ := http.NewRequest(http.MethodGet, front.URL+target, nil)
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				ids[resp.Header.Get(requestid.Header)] = sampleapi.PersonsPath
			}

			all := logs.String()
			for _, s := range []string{tok.AccessToken, secret, demoSecret, "access_token=", "$top"} {
				if strings.Contains(all, s) {
					t.Errorf("the log holds %q:\n%s", s, all)
				}
			}
			lines := logs.lines(t, "access")
			if !on {
				if len(lines) != 0 {
					t.Errorf("access lines with access_log off: %v", lines)
				}
				return
			}
			if len(lines) != len(ids) {
				t.Fatalf("%d access lines for %d requests:\n%s", len(lines), len(ids), all)
			}
			for _, l := range lines {
				id, _ := l["request_id"].(string)
				if want, ok := ids[id]; !ok || l["path"] != want {
					t.Errorf("line %v: request_id or path does not match a response (%v)", l, ids)
				}
			}
		})
	}
}

// startGatewayLogging is startGateway with the process and audit log
// written to logs, and log.access_log set to accessLog.
func startGatewayLogging(t *testing.T, logs io.Writer, accessLog bool) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(sampleapi.New())
	t.Cleanup(up.Close)
	extra := ""
	if accessLog {
		extra = "log: {access_log: true}\n"
	}
	return startExampleGateway(t, logs, up.URL, extra)
}
