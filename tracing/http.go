package tracing

import (
	"bufio"
	"net"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// The W3C Trace Context headers (W3C Trace Context §3.2, §3.3).
const (
	HeaderTraceparent = "Traceparent"
	HeaderTracestate  = "Tracestate"
)

// Handler serves next inside a server span per request. The caller's
// traceparent and tracestate, when valid, are the span's remote parent
// (the sampler still decides, see New). The span is named after the
// method until something below names the route (SetRoute); it records
// the method, the path (never the query, which may carry secrets), the
// status and, for a 5xx, an error status (OpenTelemetry HTTP semantic
// conventions: a 4xx is the client's error, not the server's).
func Handler(next http.Handler, tracer trace.Tracer, prop propagation.TextMapPropagator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		method, known := spanMethod(r.Method)
		ctx, span := tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer))
		if span.IsRecording() {
			span.SetAttributes(semconv.HTTPRequestMethodKey.String(method), semconv.URLPath(r.URL.Path),
				semconv.URLScheme(scheme(r)), semconv.ServerAddress(r.Host))
			if !known {
				span.SetAttributes(semconv.HTTPRequestMethodOriginal(r.Method))
			}
			if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
				span.SetAttributes(semconv.NetworkPeerAddress(ip))
			}
		}
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			// ReverseProxy panics with http.ErrAbortHandler when the
			// upstream breaks off a body: the response was cut.
			if v := recover(); v != nil {
				span.SetStatus(codes.Error, "response aborted")
				span.End()
				panic(v)
			}
			code := rec.status()
			span.SetAttributes(semconv.HTTPResponseStatusCode(code))
			if code >= 500 {
				span.SetStatus(codes.Error, "")
			}
			span.End()
		}()
		next.ServeHTTP(rec, r.WithContext(ctx))
	})
}

// SetRoute names the server span of the request in span's context after
// the route (http.route, and the span name "GET route", as the HTTP
// semantic conventions want a low-cardinality name).
func SetRoute(span trace.Span, method, route string) {
	if !span.IsRecording() {
		return
	}
	m, _ := spanMethod(method)
	span.SetName(m + " " + route)
	span.SetAttributes(semconv.HTTPRoute(route))
}

// spanMethod bounds the method in span names and attributes: a client
// may send any token as a method (HTTP semantic conventions: _OTHER).
func spanMethod(m string) (string, bool) {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m, true
	}
	return "_OTHER", false
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// Transport makes each request on rt a client span, child of the span
// in the request's context, and sends that span as the request's
// traceparent (and tracestate), replacing what the client sent: the
// upstream sees the gateway's call as its parent. The span ends when the
// response headers arrive, so a long stream is not a long span; a
// transport error or a status of 400 and above is an error status
// (HTTP semantic conventions for client spans).
func Transport(rt http.RoundTripper, tracer trace.Tracer, prop propagation.TextMapPropagator) http.RoundTripper {
	return &transport{rt: rt, tracer: tracer, prop: prop}
}

type transport struct {
	rt     http.RoundTripper
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	method, known := spanMethod(r.Method)
	ctx, span := t.tracer.Start(r.Context(), method, trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(semconv.HTTPRequestMethodKey.String(method), semconv.ServerAddress(r.URL.Hostname()),
			semconv.URLPath(r.URL.Path), semconv.URLScheme(r.URL.Scheme))
		if p, err := strconv.Atoi(r.URL.Port()); err == nil {
			span.SetAttributes(semconv.ServerPort(p))
		}
		if !known {
			span.SetAttributes(semconv.HTTPRequestMethodOriginal(r.Method))
		}
	}
	// A RoundTripper must not change the request it is given.
	r = r.Clone(ctx)
	r.Header.Del(HeaderTraceparent)
	r.Header.Del(HeaderTracestate)
	t.prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
	resp, err := t.rt.RoundTrip(r)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetStatus(codes.Error, "")
	}
	return resp, nil
}

// statusRecorder notes the status for the server span. Unwrap lets
// http.ResponseController (which ReverseProxy uses to flush and to
// switch protocols) reach the real writer; Flush and Hijack keep the
// older interface assertions working.
type statusRecorder struct {
	http.ResponseWriter
	code     int
	hijacked bool
}

func (s *statusRecorder) WriteHeader(code int) {
	// 1xx other than 101 are informational: the final status comes later.
	if s.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil {
		s.hijacked = true
	}
	return c, rw, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) status() int {
	switch {
	case s.code != 0:
		return s.code
	case s.hijacked:
		return http.StatusSwitchingProtocols
	default:
		return http.StatusOK
	}
}
