package tracing_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/erpgate/erpgate/tracing"
	"github.com/erpgate/erpgate/tracing/tracingtest"
)

// A caller's trace: W3C Trace Context §3.2's example ids.
const (
	callerTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerParent = "00f067aa0ba902b7"
	traceparent  = "00-" + callerTrace + "-" + callerParent + "-01"
)

const waitSpans = 20 * time.Second

func newProvider(t *testing.T, cfg tracing.Config) *tracing.Provider {
	t.Helper()
	if cfg.ServiceName == "" {
		cfg.ServiceName = "erpgate"
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := tracing.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// serve runs one request with traceparent through Handler → Transport →
// upstream, and returns the traceparent the upstream received.
func serve(t *testing.T, p *tracing.Provider, header http.Header) string {
	t.Helper()
	got := make(chan http.Header, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() }))
	defer up.Close()
	client := &http.Client{Transport: tracing.Transport(http.DefaultTransport, p.Tracer(), p.Propagator())}
	h := tracing.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, up.URL+"/odata/Persons", nil)
		req.Header = r.Header.Clone() // what a proxy forwards
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		w.WriteHeader(http.StatusTeapot)
	}), p.Tracer(), p.Propagator())
	req := httptest.NewRequest(http.MethodGet, "/api/odata/Persons?secret=1", nil)
	req.Header = header
	h.ServeHTTP(httptest.NewRecorder(), req)
	return (<-got).Get("Traceparent")
}

func TestExportsOverHTTPAndGRPC(t *testing.T) {
	rcv := tracingtest.Start(t)
	for _, tc := range []struct {
		name string
		cfg  tracing.Config
	}{
		{"otlp-http", tracing.Config{Exporter: tracing.ExporterHTTP, Endpoint: rcv.HTTPURL}},
		{"otlp-grpc", tracing.Config{Exporter: tracing.ExporterGRPC, Endpoint: rcv.GRPCAddr, Insecure: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.SamplingRatio = 1
			tc.cfg.ServiceVersion = "v1.2.3"
			tc.cfg.Headers = map[string]string{"X-Api-Key": "collector-key"}
			tc.cfg.Attributes = map[string]string{"deployment.environment.name": "test", "service.name": "not-this"}
			p := newProvider(t, tc.cfg)
			// A new trace id per subtest: the caller's, with another parent.
			trace := strings.Repeat(map[string]string{"otlp-http": "a", "otlp-grpc": "b"}[tc.name], 32)
			up := serve(t, p, http.Header{"Traceparent": {"00-" + trace + "-" + callerParent + "-01"}, "Tracestate": {"vendor=x"}})
			if err := p.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			spans := rcv.WaitTrace(t, trace, waitSpans, "GET")
			var server, client tracingtest.Span
			for _, s := range spans {
				switch s.Kind {
				case tracepb.Span_SPAN_KIND_SERVER:
					server = s
				case tracepb.Span_SPAN_KIND_CLIENT:
					client = s
				}
			}
			if server.ParentSpanID != callerParent {
				t.Errorf("server span's parent = %q, want the caller's %s", server.ParentSpanID, callerParent)
			}
			if client.ParentSpanID != server.SpanID || client.SpanID == "" {
				t.Errorf("client span's parent = %q, want the server span %s", client.ParentSpanID, server.SpanID)
			}
			if want := "00-" + trace + "-" + client.SpanID + "-01"; up != want {
				t.Errorf("upstream got traceparent %q, want %q (the client span)", up, want)
			}
			if server.Via != tc.name[len("otlp-"):] {
				t.Errorf("arrived via %s", server.Via)
			}
			for k, want := range map[string]string{"http.request.method": "GET", "url.path": "/api/odata/Persons", "http.response.status_code": "418"} {
				if server.Attributes[k] != want {
					t.Errorf("server span %s = %q, want %q", k, server.Attributes[k], want)
				}
			}
			if client.Attributes["http.response.status_code"] != "200" || client.Attributes["url.path"] != "/odata/Persons" {
				t.Errorf("client span attributes %v", client.Attributes)
			}
			for k, want := range map[string]string{"service.name": "erpgate", "service.version": "v1.2.3", "deployment.environment.name": "test"} {
				if server.Resource[k] != want {
					t.Errorf("resource %s = %q, want %q", k, server.Resource[k], want)
				}
			}
			if server.Scope != tracing.ScopeName {
				t.Errorf("scope %q", server.Scope)
			}
			found := false
			for _, h := range rcv.Headers() {
				found = found || h["x-api-key"] == "collector-key"
			}
			if !found {
				t.Errorf("no export carried the configured header: %v", rcv.Headers())
			}
		})
	}
}

// The query never reaches a span: it may carry secrets.
func TestNoQueryInSpans(t *testing.T) {
	rcv := tracingtest.Start(t)
	p := newProvider(t, tracing.Config{Exporter: tracing.ExporterHTTP, Endpoint: rcv.HTTPURL, SamplingRatio: 1})
	serve(t, p, http.Header{"Traceparent": {traceparent}})
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, s := range rcv.WaitTrace(t, callerTrace, waitSpans, "GET") {
		for k, v := range s.Attributes {
			if strings.Contains(v, "secret") {
				t.Errorf("span %s attribute %s = %q carries the query", s.Name, k, v)
			}
		}
	}
}

// Ratio 0 exports nothing, even for a caller whose traceparent says
// sampled: the caller's flag does not force sampling. The upstream still
// gets a traceparent of the caller's trace, not sampled.
func TestRatioZeroSendsNothing(t *testing.T) {
	rcv := tracingtest.Start(t)
	p := newProvider(t, tracing.Config{Exporter: tracing.ExporterHTTP, Endpoint: rcv.HTTPURL, SamplingRatio: 0})
	up := serve(t, p, http.Header{"Traceparent": {traceparent}})
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := rcv.Spans(); len(s) != 0 {
		t.Errorf("ratio 0 exported %d spans: %v", len(s), tracingtest.Names(s))
	}
	if !strings.HasPrefix(up, "00-"+callerTrace+"-") || !strings.HasSuffix(up, "-00") || strings.Contains(up, callerParent) {
		t.Errorf("upstream got traceparent %q, want the caller's trace, a new parent, not sampled", up)
	}
}

// A collector that is down does not hold Shutdown past its timeout.
func TestShutdownIsBounded(t *testing.T) {
	stop := make(chan struct{})
	ln := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-stop // never answers while the test runs
	}))
	defer ln.Close()
	defer close(stop)
	p := newProvider(t, tracing.Config{Exporter: tracing.ExporterHTTP, Endpoint: ln.URL, SamplingRatio: 1, ShutdownTimeout: 200 * time.Millisecond})
	serveNoUpstream(p)
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Shutdown with a collector that never answers: no error, want the timeout")
		}
	case <-time.After(waitSpans):
		t.Fatal("Shutdown did not return")
	}
}

func serveNoUpstream(p *tracing.Provider) {
	h := tracing.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), p.Tracer(), p.Propagator())
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}

func TestConfigErrors(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name    string
		cfg     tracing.Config
		wantErr string
	}{
		{"unknown exporter", tracing.Config{Exporter: "zipkin", Endpoint: "c:4317"}, `exporter must be otlp-http or otlp-grpc; got "zipkin"`},
		{"no endpoint", tracing.Config{Exporter: tracing.ExporterHTTP}, "endpoint is required"},
		{"endpoint not a URL", tracing.Config{Exporter: tracing.ExporterHTTP, Endpoint: "collector"}, "host:port"},
		{"endpoint ftp", tracing.Config{Exporter: tracing.ExporterHTTP, Endpoint: "ftp://c:21"}, "http:// or https:// URL"},
		{"endpoint query", tracing.Config{Exporter: tracing.ExporterHTTP, Endpoint: "http://c:4318/?k=v"}, "no user information, query or fragment"},
		{"insecure with URL", tracing.Config{Exporter: tracing.ExporterHTTP, Endpoint: "https://c:4318", Insecure: true}, "insecure is for a host:port endpoint"},
		{"bad port", tracing.Config{Exporter: tracing.ExporterGRPC, Endpoint: "c:99999"}, "port must be a number from 1 to 65535"},
		{"ratio above 1", tracing.Config{Exporter: tracing.ExporterGRPC, Endpoint: "c:4317", SamplingRatio: 1.5}, "between 0 and 1; got 1.5"},
		{"ratio below 0", tracing.Config{Exporter: tracing.ExporterGRPC, Endpoint: "c:4317", SamplingRatio: -0.1}, "between 0 and 1; got -0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.ServiceName, tc.cfg.Logger = "erpgate", logger
			_, err := tracing.New(t.Context(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New: %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in       string
		insecure bool
		want     tracing.Endpoint
	}{
		{"http://collector:4318", false, tracing.Endpoint{HostPort: "collector:4318", Plaintext: true}},
		{"https://collector/", false, tracing.Endpoint{HostPort: "collector:443"}},
		{"https://otlp.example.com/otlp/v1/traces", false, tracing.Endpoint{HostPort: "otlp.example.com:443", Path: "/otlp/v1/traces"}},
		{"collector:4317", false, tracing.Endpoint{HostPort: "collector:4317"}},
		{"[::1]:4317", true, tracing.Endpoint{HostPort: "[::1]:4317", Plaintext: true}},
	} {
		got, err := tracing.ParseEndpoint(tc.in, tc.insecure)
		if err != nil || got != tc.want {
			t.Errorf("ParseEndpoint(%q, %v) = %+v, %v; want %+v", tc.in, tc.insecure, got, err, tc.want)
		}
	}
}

func TestDisabled(t *testing.T) {
	p := tracing.Disabled()
	if p.Enabled() {
		t.Error("Disabled().Enabled()")
	}
	_, span := p.Tracer().Start(t.Context(), "x")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Error("a disabled provider's span records or has ids")
	}
	if err := p.Shutdown(t.Context()); err != nil {
		t.Error(err)
	}
}
