// Package tracing is erpgate's OpenTelemetry tracing (SPEC §11): a
// TracerProvider built from a plain Config (an OTLP/HTTP or OTLP/gRPC
// exporter, ParentBased ratio sampling, the service's resource), the W3C
// Trace Context propagator, and the two HTTP ends of a request: Handler
// starts the server span of each request (a caller's traceparent and
// tracestate are its parent), Transport the client span of each upstream
// call and sends the span's traceparent with it.
//
// Nothing here is global: the package never calls otel.SetTracerProvider
// or otel.SetTextMapPropagator; whoever makes spans is handed the
// Provider's tracer (the gateway wires it). Code below the server span
// that has no tracer of its own (the proxy's route match) starts its
// spans from the request's span (trace.Span.TracerProvider), and starts
// none when that span is not recording, so tracing that is off or a
// request that is not sampled costs nothing there.
//
// Files:
//
//   - tracing.go: Config, New, the Provider and its Shutdown.
//   - exporter.go: the OTLP exporters and the export error log.
//   - http.go: Handler (server spans) and Transport (client spans).
//   - tracingtest: an OTLP receiver (HTTP and gRPC) for tests.
package tracing
