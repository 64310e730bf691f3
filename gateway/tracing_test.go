package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/sampleapi"
	"github.com/erpgate/erpgate/tracing/tracingtest"
)

// TestTracingThroughTheGateway: with tracing on, a proxied request that
// carries a caller's traceparent is exported over each OTLP protocol to a
// real receiver as one trace: the server span under the caller's, the
// credential check and the session under the server span, and the
// upstream call as a client span whose id is the parent the upstream
// receives. Every log line of the request names the trace; no span
// carries the token.
func TestTracingThroughTheGateway(t *testing.T) {
	for _, exporter := range []string{"otlp-http", "otlp-grpc"} {
		t.Run(exporter, func(t *testing.T) {
			rcv := tracingtest.Start(t)
			endpoint, insecure := rcv.HTTPURL, false // the URL's scheme says plain text
			if exporter == "otlp-grpc" {
				endpoint, insecure = rcv.GRPCAddr, true
			}
			var mu sync.Mutex
			var upstreamParent string
			api := sampleapi.New()
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				upstreamParent = r.Header.Get("Traceparent")
				mu.Unlock()
				api.ServeHTTP(w, r)
			}))
			t.Cleanup(up.Close)
			var logs logBuffer
			front := startExampleGateway(t, &logs, up.URL, fmt.Sprintf(
				"tracing: {exporter: %s, endpoint: %q, insecure: %t, sampling_ratio: \"1\"}\nlog: {access_log: true}\n", exporter, endpoint, insecure))

			token := demoToken(t, front.URL)

			const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
			req, _ := http.NewRequest(http.MethodGet, front.URL+sampleapi.PersonsPath, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Traceparent", "00-"+traceID+"-"+callerSpan+"-01")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("proxied call: %d", resp.StatusCode)
			}

			spans := rcv.WaitTrace(t, traceID, 20*time.Second, "GET domain-read", "GET", "authority.authenticate", "session.acquire")
			byID := map[string]tracingtest.Span{}
			var server, client tracingtest.Span
			for _, s := range spans {
				byID[s.SpanID] = s
				switch {
				case s.ParentSpanID == callerSpan:
					server = s
				case s.Kind == tracepb.Span_SPAN_KIND_CLIENT && s.Name == "GET":
					client = s
				}
				for k, v := range s.Attributes {
					if strings.Contains(v, token) {
						t.Errorf("span %s attribute %s carries the token", s.Name, k)
					}
				}
			}
			if server.Name != "GET domain-read" || server.Attributes["http.route"] != "domain-read" {
				t.Fatalf("server span under the caller's %s: %q %v, want it named by its route: %v", callerSpan, server.Name, server.Attributes, tracingtest.Names(spans))
			}
			auth, _ := tracingtest.Named(spans, "authority.authenticate")
			sess, _ := tracingtest.Named(spans, "session.acquire")
			if auth.ParentSpanID != server.SpanID {
				t.Errorf("authority.authenticate's parent %s, want the server span %s", auth.ParentSpanID, server.SpanID)
			}
			if !descends(byID, sess, server.SpanID) {
				t.Errorf("session.acquire is not under the server span: parent %s", sess.ParentSpanID)
			}
			if client.SpanID == "" || !descends(byID, client, server.SpanID) {
				t.Errorf("no upstream client span under the server span: %v", tracingtest.Names(spans))
			}
			mu.Lock()
			got := upstreamParent
			mu.Unlock()
			if want := "00-" + traceID + "-" + client.SpanID + "-01"; got != want {
				t.Errorf("the upstream's traceparent %q, want %q (the client span as parent)", got, want)
			}
			// The access line of the call names its trace.
			found := false
			for _, line := range strings.Split(logs.String(), "\n") {
				found = found || strings.Contains(line, `"trace_id":"`+traceID+`"`) && strings.Contains(line, sampleapi.PersonsPath)
			}
			if !found {
				t.Errorf("no log line of the call carries trace_id %s:\n%s", traceID, logs.String())
			}
		})
	}
}

// descends: s is id's child or a child of its descendants in byID.
func descends(byID map[string]tracingtest.Span, s tracingtest.Span, id string) bool {
	for range 8 {
		if s.ParentSpanID == id {
			return true
		}
		p, ok := byID[s.ParentSpanID]
		if !ok {
			return false
		}
		s = p
	}
	return false
}

// startExampleGateway runs the example config with extra appended, in
// front of upstream, logging to logs.
func startExampleGateway(t testing.TB, logs io.Writer, upstream, extra string) *httptest.Server {
	t.Helper()
	front := httptest.NewUnstartedServer(nil)
	raw, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yml := strings.NewReplacer(
		"http://localhost:8080", "http://"+front.Listener.Addr().String(),
		"http://127.0.0.1:8081", upstream,
		"data/erpgate.db", filepath.Join(t.TempDir(), "erpgate.db"),
	).Replace(string(raw)) + "\n" + extra
	f, err := config.Parse([]byte(yml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	g, err := newGateway(context.Background(), f, logs)
	if err != nil {
		t.Fatal(err)
	}
	front.Config.Handler = g.handler
	front.Start()
	t.Cleanup(func() { front.Close(); g.Close() })
	return front
}
