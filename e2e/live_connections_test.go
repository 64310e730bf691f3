package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestLiveConnectionsEndWithTheirSession: the built binary proxies a
// WebSocket to an upstream the test runs; when an administrator ends the
// session through the admin API, or the token is revoked (RFC 7009), the
// client receives a Close frame, status 1008 with the reason (RFC 6455
// §7.4.1), within the second SPEC §12 allows — not the silence Pomerium
// gave (pomerium#1279).
func TestLiveConnectionsEndWithTheirSession(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(context.Background())
			if err != nil || c.Write(context.Background(), typ, msg) != nil {
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	g := startGateway(t, gatewayOptions{Serve: true, Edit: func(c string) string {
		c = upstreamLine.ReplaceAllString(c, "upstream: "+up.URL)
		return strings.Replace(c, "\nroutes:", fmt.Sprintf(`
  - uri: %s
    name: Operations (e2e)
    type: confidential
    secret_hash: %s
    system_user: svc-sync
    scope: read sec

routes:`, opsClient, secretHashB64(opsSecret)), 1)
	}})
	ops := g.token(t, opsClient, opsSecret)

	dial := func(t *testing.T, tok string) *websocket.Conn {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.PublicURL, "http")+"/api/domain/ws", &websocket.DialOptions{
			HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}},
		})
		if err != nil {
			t.Fatalf("WebSocket through the gateway: %v (%v)", err, resp)
		}
		t.Cleanup(func() { c.CloseNow() })
		if err := c.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := c.Read(ctx); err != nil || string(msg) != "ping" {
			t.Fatalf("echo through the gateway: %q, %v", msg, err)
		}
		return c
	}
	closed := func(t *testing.T, c *websocket.Conn, since time.Time, reason string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		_, _, err := c.Read(ctx)
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != reason {
			t.Fatalf("after %v: %v; want a Close frame 1008 %q", time.Since(since), err, reason)
		}
		t.Logf("Close frame 1008 %q %v after the change", reason, time.Since(since))
	}

	t.Run("session ended by an administrator", func(t *testing.T) {
		tok := g.token(t, syncClient, syncSecret)
		_, cl := jwtParts(t, tok)
		sid, _ := cl["sid"].(string)
		c := dial(t, tok)
		start := time.Now()
		if resp := adminCall(t, g, http.MethodDelete, "/admin/sessions/"+url.PathEscape(sid), ops, ""); resp.Status != http.StatusOK {
			t.Fatalf("DELETE /admin/sessions/%s: %s", sid, resp)
		}
		closed(t, c, start, "session ended")
	})
	t.Run("token revoked", func(t *testing.T) {
		tok := g.token(t, syncClient, syncSecret)
		c := dial(t, tok)
		start := time.Now()
		revoke(t, g, syncClient, syncSecret, tok)
		closed(t, c, start, "token revoked")
	})
	if m := g.metrics(t); !strings.Contains(m, `erpgate_live_closed_total{reason="session_ended"} 1`) ||
		!strings.Contains(m, `erpgate_live_closed_total{reason="revoked"} 1`) {
		t.Errorf("/metrics does not count the two closes:\n%s", grepLines(m, "erpgate_live_"))
	}
	if !strings.Contains(g.Stdout()+g.Stderr(), `"live.closed"`) {
		t.Error("no live.closed audit event")
	}

	// SIGTERM: a WebSocket is told the gateway is going away (1001), so
	// its client reconnects, rather than losing the socket without a word
	// when the process exits — and the process does not wait for it.
	c := dial(t, g.token(t, syncClient, syncSecret))
	start := time.Now()
	stopped := make(chan struct{})
	go func() { g.Stop(t); close(stopped) }()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, _, err := c.Read(ctx)
	closedIn := time.Since(start)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway || ce.Reason != "going away" {
		t.Fatalf("after SIGTERM: %v; want a Close frame 1001 \"going away\"", err)
	}
	<-stopped
	t.Logf("Close frame 1001 %v after SIGTERM; the process had exited %v after it", closedIn, time.Since(start))
}
