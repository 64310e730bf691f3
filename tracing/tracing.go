package tracing

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Exporters.
const (
	// ExporterHTTP sends spans as OTLP/HTTP protobuf (POST /v1/traces,
	// port 4318 by convention).
	ExporterHTTP = "otlp-http"
	// ExporterGRPC sends spans over OTLP/gRPC (TraceService/Export, port
	// 4317 by convention).
	ExporterGRPC = "otlp-grpc"
)

// ScopeName is the instrumentation scope of erpgate's spans.
const ScopeName = "github.com/erpgate/erpgate"

// Bounds of the batch span processor and the exporters. They are set
// explicitly, so no OTEL_* environment variable changes them.
const (
	batchTimeout       = 5 * time.Second // a span waits at most this long to be sent
	maxQueueSize       = 2048            // spans beyond this are dropped, never block a request
	maxExportBatchSize = 512
	exportTimeout      = 10 * time.Second // one export, retries included
	// DefaultShutdownTimeout bounds the last flush at shutdown: a
	// collector that is down must not hold the process.
	DefaultShutdownTimeout = 5 * time.Second
)

// Config is what a Provider is built from; the gateway builds it from the
// config file's tracing section.
type Config struct {
	// Exporter is ExporterHTTP or ExporterGRPC.
	Exporter string
	// Endpoint is the collector: an http:// or https:// URL (for
	// otlp-http its path, when not empty or "/", replaces /v1/traces),
	// or host:port, which is TLS unless Insecure.
	Endpoint string
	// Insecure sends to a host:port Endpoint in plain text.
	Insecure bool
	// TLS is the client TLS config of a TLS endpoint (a private CA's
	// roots); nil: the system roots.
	TLS *tls.Config
	// Headers are sent with every export (an API key of a hosted
	// collector).
	Headers map[string]string
	// SamplingRatio is the share of requests traced, in [0, 1], decided
	// on the trace id (the same for every service that samples by ratio).
	// A caller's sampled flag does not force sampling (see New).
	SamplingRatio float64
	// ServiceName and ServiceVersion are service.name and
	// service.version of the resource; Attributes are further resource
	// attributes (deployment.environment.name, service.instance.id, …).
	ServiceName    string
	ServiceVersion string
	Attributes     map[string]string
	// ShutdownTimeout bounds the flush at Shutdown; 0:
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Logger gets export failures (the SDK would write them to the
	// standard logger). Required.
	Logger *slog.Logger

	// exporter replaces the OTLP exporter (tests in this package).
	exporter sdktrace.SpanExporter
}

// Provider is a running tracer provider, or a no-op one (Disabled).
type Provider struct {
	sdk      *sdktrace.TracerProvider // nil when disabled
	tracer   trace.Tracer
	timeout  time.Duration
	disabled bool
}

// Disabled is the Provider of tracing that is off: its tracer makes
// no-op spans, Shutdown does nothing.
func Disabled() *Provider {
	return &Provider{tracer: noop.NewTracerProvider().Tracer(ScopeName), disabled: true}
}

// New builds the Provider of cfg: spans are batched and exported by
// cfg.Exporter to cfg.Endpoint.
//
// Sampling is ParentBased: a span of ours whose parent is ours follows
// its parent, so a request's spans are all kept or all dropped; a root
// span, and a server span whose parent is a caller's traceparent, are
// sampled by SamplingRatio on the trace id. A caller's sampled flag is
// not obeyed: any client could otherwise make the gateway export every
// one of its requests. The caller's trace id and tracestate are kept
// either way, so our spans join the caller's trace when sampled.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	exp := cfg.exporter
	if exp == nil {
		var err error
		if exp, err = newExporter(ctx, cfg); err != nil {
			return nil, err
		}
	}
	ratio := sdktrace.TraceIDRatioBased(cfg.SamplingRatio)
	sampler := sdktrace.ParentBased(ratio,
		sdktrace.WithRemoteParentSampled(ratio), sdktrace.WithRemoteParentNotSampled(ratio))
	sdk := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(loggingExporter{SpanExporter: exp, logger: cfg.Logger},
			sdktrace.WithBatchTimeout(batchTimeout), sdktrace.WithMaxQueueSize(maxQueueSize),
			sdktrace.WithMaxExportBatchSize(maxExportBatchSize), sdktrace.WithExportTimeout(exportTimeout)),
		sdktrace.WithSampler(sampler),
		sdktrace.WithResource(cfg.resource()),
		// Explicit, so OTEL_SPAN_* in the environment change nothing.
		sdktrace.WithRawSpanLimits(spanLimits),
	)
	timeout := cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	return &Provider{sdk: sdk, tracer: sdk.Tracer(ScopeName, trace.WithInstrumentationVersion(cfg.ServiceVersion)), timeout: timeout}, nil
}

// spanLimits are the SDK's defaults (sdktrace.NewSpanLimits without the
// environment).
var spanLimits = sdktrace.SpanLimits{
	AttributeValueLengthLimit:   -1,
	AttributeCountLimit:         sdktrace.DefaultAttributeCountLimit,
	EventCountLimit:             sdktrace.DefaultEventCountLimit,
	LinkCountLimit:              sdktrace.DefaultLinkCountLimit,
	AttributePerEventCountLimit: sdktrace.DefaultAttributePerEventCountLimit,
	AttributePerLinkCountLimit:  sdktrace.DefaultAttributePerLinkCountLimit,
}

func (cfg Config) check() error {
	var errs []error
	switch cfg.Exporter {
	case ExporterHTTP, ExporterGRPC:
	default:
		errs = append(errs, fmt.Errorf("tracing: exporter must be %s or %s; got %q", ExporterHTTP, ExporterGRPC, cfg.Exporter))
	}
	if _, err := ParseEndpoint(cfg.Endpoint, cfg.Insecure); err != nil {
		errs = append(errs, fmt.Errorf("tracing: %w", err))
	}
	if !(cfg.SamplingRatio >= 0 && cfg.SamplingRatio <= 1) { // NaN too
		errs = append(errs, fmt.Errorf("tracing: the sampling ratio must be between 0 and 1; got %v", cfg.SamplingRatio))
	}
	if cfg.ServiceName == "" {
		errs = append(errs, errors.New("tracing: the service name is required"))
	}
	if cfg.Logger == nil {
		errs = append(errs, errors.New("tracing: Logger is required"))
	}
	return errors.Join(errs...)
}

// resource names the service. It is built from cfg alone:
// resource.Default would read OTEL_RESOURCE_ATTRIBUTES and
// OTEL_SERVICE_NAME.
func (cfg Config) resource() *resource.Resource {
	attrs := []attribute.KeyValue{
		semconv.TelemetrySDKName("opentelemetry"), semconv.TelemetrySDKLanguageGo,
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Attributes)) {
		attrs = append(attrs, attribute.String(k, cfg.Attributes[k]))
	}
	// Last, so they win over the same keys in Attributes.
	attrs = append(attrs, semconv.ServiceName(cfg.ServiceName))
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(cfg.ServiceVersion))
	}
	return resource.NewSchemaless(attrs...)
}

// Enabled reports whether spans are exported.
func (p *Provider) Enabled() bool { return !p.disabled }

// Tracer makes erpgate's spans.
func (p *Provider) Tracer() trace.Tracer { return p.tracer }

// Propagator reads and writes W3C traceparent and tracestate (W3C Trace
// Context §3). Baggage is not propagated: it is the caller's data, which
// the gateway has no reason to forward under its own spans.
func (p *Provider) Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// Shutdown sends the spans still buffered and stops the exporter, within
// the Provider's shutdown timeout (or ctx's deadline, if sooner). Spans
// not sent by then are dropped.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.sdk == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if err := p.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}
