package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
)

// livePage is the upstream's HTML page on the login route: it opens a
// WebSocket back through the gateway (the browser sends the gateway's
// session cookie with it), and records what happens to it in
// window.wsLog.
const livePage = `<!doctype html><html lang="en"><head><title>Live</title></head><body><p id="state">connecting</p>
<script>
window.wsLog = [];
const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/domain/html/ws");
ws.onopen = () => { document.getElementById("state").textContent = "open"; ws.send("ping"); };
ws.onmessage = (e) => window.wsLog.push("message " + e.data);
ws.onclose = (e) => { window.wsLog.push("close " + e.code + " " + e.reason); document.getElementById("state").textContent = "closed"; };
</script></body></html>`

// TestLiveConnectionsBrowserSignOut is pomerium#1279 in a real browser: a
// page signed in through the gateway holds a WebSocket; the user signs
// out in another tab; the page's socket gets Close 1008 "session ended"
// within the second instead of living on.
func TestLiveConnectionsBrowserSignOut(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath(chromiumPath)
	requireDep(t, err == nil, "Chromium at "+chromiumPath+" (apt-get install chromium)")
	var gatewayHost atomic.Value // string: the gateway's host, once it runs
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/domain/html/live":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, livePage)
		case "/api/domain/html/ws":
			// The browser's Origin is the gateway's; the Host the upstream
			// sees is its own.
			c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: []string{gatewayHost.Load().(string)}})
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
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(up.Close)
	g := startGateway(t, gatewayOptions{Serve: true, Edit: func(c string) string {
		return upstreamLine.ReplaceAllString(c, "upstream: "+up.URL)
	}})
	pu, _ := url.Parse(g.PublicURL)
	gatewayHost.Store(pu.Host)

	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	ctx = newBrowser(t, ctx)
	b := newChromeTab(t, ctx, g)
	b.step("sign in to the live page",
		chromedp.Navigate(g.PublicURL+"/api/domain/html/live"),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#login"), aliceLogin),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.CSS("#state")),
	)
	wsLog := func() string {
		return strings.Join(readAs(b, "wsLog", chromedp.Evaluate[[]string](`window.wsLog || []`)), "; ")
	}
	waitLog := func(what, want string) time.Time {
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(wsLog(), want) {
			if time.Now().After(deadline) {
				b.fatalf("%s: the page's WebSocket log is %q, want %q", what, wsLog(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Now()
	}
	waitLog("the echo through the gateway", "message ping")

	// Sign out in a second tab of the same browser (same cookies).
	other, closeOther := chromedp.NewContext(ctx)
	defer closeOther()
	start := time.Now()
	sctx, cancelStep := context.WithTimeout(other, browserStepTimeout)
	defer cancelStep()
	if err := chromedp.Do(sctx, chromedp.Navigate(g.PublicURL+"/oauth2/sign_out")); err != nil {
		t.Fatalf("sign out in the second tab: %v", err)
	}
	closed := waitLog("after signing out in another tab", "close 1008 session ended")
	// The bound includes polling the page and the sign-out's redirects.
	t.Logf("the page's WebSocket closed with 1008 %v after the sign-out began", closed.Sub(start))
}
