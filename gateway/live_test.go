package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/erpgate/erpgate/store"
)

// Live connections as the gateway wires them (live.go): session ends and
// revocations, on this replica or another, close the WebSockets of that
// session or token within a second (SPEC §12), and a reload keeps them.

// liveCloseWait bounds each wait for a close; the feature is one second
// (propagationBound), and the measured delay is logged.
const liveCloseWait = 3 * time.Second

// wsEcho is a WebSocket upstream that echoes every message.
func wsEcho(t *testing.T) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if c.Write(context.Background(), typ, msg) != nil {
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	return up
}

// upstreamLine is an upstream: line of the example config's routes.
var upstreamLine = regexp.MustCompile(`(?m)^(    upstream: )http://\S+$`)

// toUpstream points every route at up.
func toUpstream(yml, up string) string { return upstreamLine.ReplaceAllString(yml, "${1}"+up) }

// wsDial opens a WebSocket to base's /api/domain/ws with the bearer tok.
func wsDial(t *testing.T, base, tok string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), liveCloseWait)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/api/domain/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}},
	})
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", base, err, resp)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func wsEchoes(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), liveCloseWait)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	if _, got, err := c.Read(ctx); err != nil || string(got) != msg {
		t.Fatalf("echo %q, %v; want %q", got, err, msg)
	}
}

// wsClosed waits for the gateway's Close frame, 1008 with reason, and
// returns how long after since it came.
func wsClosed(t *testing.T, c *websocket.Conn, since time.Time, reason string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), liveCloseWait)
	defer cancel()
	_, _, err := c.Read(ctx)
	took := time.Since(since)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != reason {
		t.Fatalf("after %v: %v; want a Close frame 1008 %q", took, err, reason)
	}
	return took
}

// TestLiveConnectionsOfOneGateway: a socket survives a reload, is closed
// when an administrator ends its session (admin API) or its token is
// revoked, and the metric counts it.
func TestLiveConnectionsOfOneGateway(t *testing.T) {
	up := wsEcho(t)
	front, g, cfgPath := startWithEditedConfig(t, func(yml string) string { return withAdminScope(toUpstream(yml, up.URL)) })
	ended := wsDial(t, front.URL, mint(t, g, "admin", "sid-ended", true, "read"))
	revoked := wsDial(t, front.URL, mint(t, g, "admin", "sid-revoked", true, "read"))
	wsEchoes(t, ended, "hello")
	wsEchoes(t, revoked, "hello")

	// The proxy is rebuilt on reload; the registry is the gateway's.
	f, err := loadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	wsEchoes(t, ended, "after the reload")
	if n := g.live.Len(); n != 2 {
		t.Fatalf("%d live connections after the reload, want 2", n)
	}

	start := time.Now()
	if code, body := adminDo(t, g, http.MethodDelete, "/admin/sessions/sid-ended", mint(t, g, "admin", "sid-admin", true, "sec"), nil); code != http.StatusOK {
		t.Fatalf("end the session: %d %v", code, body)
	}
	t.Logf("closed %v after the administrator ended the session", wsClosed(t, ended, start, "session ended"))
	wsEchoes(t, revoked, "still open")

	start = time.Now()
	if err := g.revoked.Revoke(context.Background(), "jti-sid-revoked", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	t.Logf("closed %v after the revocation", wsClosed(t, revoked, start, "token revoked"))

	body := scrape(t, g)
	for _, want := range []string{`erpgate_live_closed_total{reason="session_ended"} 1`, `erpgate_live_closed_total{reason="revoked"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// scrape is the admin listener's /metrics.
func scrape(t *testing.T, g *Gateway) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://admin/metrics", nil)
	rec := httptest.NewRecorder()
	g.admin.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// TestLiveConnectionsAcrossReplicas: the socket is on replica B; the
// session is ended, or the token revoked, on replica A. B closes it
// within the second: PostgreSQL notifies B of the change.
func TestLiveConnectionsAcrossReplicas(t *testing.T) {
	dsn := replicaSchemaDSN(t)
	up := wsEcho(t)
	fronts := []*httptest.Server{httptest.NewUnstartedServer(nil), httptest.NewUnstartedServer(nil)}
	raw, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yml := toUpstream(strings.NewReplacer(
		"http://localhost:8080", "http://"+fronts[0].Listener.Addr().String(),
		"driver: sqlite ", "driver: postgres",
		"dsn: data/erpgate.db", "dsn: "+fmt.Sprintf("%q", dsn),
	).Replace(string(raw)), up.URL) + fmt.Sprintf("allowed_hosts: [%q]\n", fronts[1].Listener.Addr().String())
	gs, _ := startReplicas(t, yml, fronts)
	a, b := gs[0], gs[1]
	for _, tc := range []struct {
		name   string
		sid    string
		change func(t *testing.T)
		reason string
	}{
		{"session ended on A", "sid-end", func(t *testing.T) {
			if _, err := a.sessions.End(context.Background(), "sid-end", store.EndAdmin); err != nil {
				t.Fatal(err)
			}
		}, "session ended"},
		// Only the end event closes it: an idle end is not for good, so
		// B's recheck would let the socket be.
		{"idle end on A", "sid-idle", func(t *testing.T) {
			if _, err := a.sessions.End(context.Background(), "sid-idle", store.EndIdle); err != nil {
				t.Fatal(err)
			}
		}, "session ended"},
		{"token revoked on A", "sid-revoke", func(t *testing.T) {
			if err := a.revoked.Revoke(context.Background(), "jti-sid-revoke", time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, "token revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := wsDial(t, fronts[1].URL, mint(t, b, "admin", tc.sid, true, "read"))
			wsEchoes(t, c, "on B")
			start := time.Now()
			tc.change(t)
			took := wsClosed(t, c, start, tc.reason)
			t.Logf("closed on B %v after the change on A", took)
		})
	}
}
