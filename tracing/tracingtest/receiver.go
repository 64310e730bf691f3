// Package tracingtest is an OTLP trace receiver for tests, built on the
// official OTLP protobuf definitions (go.opentelemetry.io/proto/otlp): it
// serves OTLP/HTTP (protobuf, POST /v1/traces, gzip or not) and OTLP/gRPC
// (TraceService/Export) as a collector does, and keeps every span it
// receives.
package tracingtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // the exporters compress
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// Span is one received span, its ids in lowercase hex as in traceparent.
type Span struct {
	TraceID, SpanID, ParentSpanID string
	Name                          string
	Kind                          tracepb.Span_SpanKind
	Status                        tracepb.Status_StatusCode
	Attributes                    map[string]string // values as text
	Resource                      map[string]string
	Scope                         string
	// Via is "http" or "grpc": the protocol the span arrived by.
	Via string
}

// Receiver is a running OTLP receiver.
type Receiver struct {
	// HTTPURL is the OTLP/HTTP base URL (http://127.0.0.1:port); spans
	// are posted to HTTPURL + "/v1/traces".
	HTTPURL string
	// GRPCAddr is the OTLP/gRPC host:port (plain text).
	GRPCAddr string

	mu      sync.Mutex
	spans   []Span
	headers []map[string]string // of each export, lowercased names
	changed chan struct{}       // closed and replaced on every export
}

// Start runs a receiver until the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{changed: make(chan struct{})}
	hs := httptest.NewServer(http.HandlerFunc(r.serveHTTP))
	t.Cleanup(hs.Close)
	r.HTTPURL = hs.URL

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(gs, grpcService{r: r})
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	r.GRPCAddr = ln.Addr().String()
	return r
}

// serveHTTP is OTLP/HTTP's binary protobuf encoding (OTLP specification,
// "OTLP/HTTP"): the request body is an ExportTraceServiceRequest, the
// answer an ExportTraceServiceResponse.
func (r *Receiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/v1/traces" {
		http.NotFound(w, req)
		return
	}
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "Content-Type must be application/x-protobuf; got "+ct, http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(io.LimitReader(body, 16<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg collectorpb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &msg); err != nil {
		http.Error(w, "not an ExportTraceServiceRequest: "+err.Error(), http.StatusBadRequest)
		return
	}
	h := map[string]string{}
	for k := range req.Header {
		h[strings.ToLower(k)] = req.Header.Get(k)
	}
	r.add(&msg, "http", h)
	out, _ := proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = io.Copy(w, bytes.NewReader(out))
}

type grpcService struct {
	collectorpb.UnimplementedTraceServiceServer
	r *Receiver
}

func (g grpcService) Export(ctx context.Context, msg *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	h := map[string]string{}
	md, _ := metadata.FromIncomingContext(ctx)
	for k, v := range md {
		h[k] = strings.Join(v, ",")
	}
	g.r.add(msg, "grpc", h)
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

func (r *Receiver) add(msg *collectorpb.ExportTraceServiceRequest, via string, headers map[string]string) {
	var got []Span
	for _, rs := range msg.GetResourceSpans() {
		res := attrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, Span{
					TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentSpanID: hex.EncodeToString(s.GetParentSpanId()), Name: s.GetName(), Kind: s.GetKind(),
					Status: s.GetStatus().GetCode(), Attributes: attrs(s.GetAttributes()), Resource: res,
					Scope: ss.GetScope().GetName(), Via: via,
				})
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans = append(r.spans, got...)
	r.headers = append(r.headers, headers)
	close(r.changed)
	r.changed = make(chan struct{})
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = text(kv.GetValue())
	}
	return m
}

func text(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return fmt.Sprint(x.DoubleValue)
	default:
		return v.String()
	}
}

// Spans returns the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Headers returns the request headers (HTTP) or metadata (gRPC) of each
// export so far, names in lower case.
func (r *Receiver) Headers() []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]string(nil), r.headers...)
}

// WaitTrace waits until the spans of traceID received include one for
// each name in names, and returns that trace's spans; the test fails if
// they have not all arrived within timeout.
func (r *Receiver) WaitTrace(t testing.TB, traceID string, timeout time.Duration, names ...string) []Span {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		var trace []Span
		for _, s := range r.spans {
			if s.TraceID == traceID {
				trace = append(trace, s)
			}
		}
		changed := r.changed
		r.mu.Unlock()
		if missing := missingNames(trace, names); len(missing) == 0 {
			return trace
		} else {
			select {
			case <-changed:
			case <-deadline.C:
				t.Fatalf("trace %s: no span named %q within %s; got %v", traceID, missing, timeout, Names(trace))
				return nil
			}
		}
	}
}

func missingNames(spans []Span, names []string) []string {
	var missing []string
	for _, n := range names {
		found := false
		for _, s := range spans {
			found = found || s.Name == n
		}
		if !found {
			missing = append(missing, n)
		}
	}
	return missing
}

// Names lists the spans' names, for messages.
func Names(spans []Span) []string {
	var n []string
	for _, s := range spans {
		n = append(n, s.Name)
	}
	return n
}

// Named returns the first span named name, and whether there is one.
func Named(spans []Span, name string) (Span, bool) {
	for _, s := range spans {
		if s.Name == name {
			return s, true
		}
	}
	return Span{}, false
}
