package tracing

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc/credentials"
)

// defaultHTTPPath is where OTLP/HTTP receives traces (OTLP
// specification, "OTLP/HTTP Request").
const defaultHTTPPath = "/v1/traces"

// Endpoint is a collector address as the exporters take it.
type Endpoint struct {
	HostPort  string // host:port
	Path      string // URL path, for otlp-http; empty: /v1/traces
	Plaintext bool   // no TLS
}

// ParseEndpoint reads a collector endpoint: an http:// or https:// URL
// (no query, fragment or user information; the scheme says whether TLS
// is used, so insecure must be false) or host:port (TLS unless
// insecure). A URL without a port gets its scheme's.
func ParseEndpoint(s string, insecure bool) (Endpoint, error) {
	if s == "" {
		return Endpoint{}, fmt.Errorf("the endpoint is required: a URL such as http://collector:4318 or host:port")
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		switch {
		case err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https":
			return Endpoint{}, fmt.Errorf("endpoint %q: must be an http:// or https:// URL with a host, or host:port", s)
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			return Endpoint{}, fmt.Errorf("endpoint %q: must have no user information, query or fragment", s)
		case insecure:
			return Endpoint{}, fmt.Errorf("endpoint %q: insecure is for a host:port endpoint; a URL's scheme says whether TLS is used", s)
		}
		hp := u.Host
		if u.Port() == "" {
			hp = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
		}
		path := u.Path
		if path == "/" {
			path = ""
		}
		return Endpoint{HostPort: hp, Path: path, Plaintext: u.Scheme == "http"}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || strings.ContainsAny(host, " /") {
		return Endpoint{}, fmt.Errorf("endpoint %q: must be an http:// or https:// URL, or host:port such as collector:4317", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return Endpoint{}, fmt.Errorf("endpoint %q: the port must be a number from 1 to 65535", s)
	}
	return Endpoint{HostPort: s, Plaintext: insecure}, nil
}

// newExporter builds cfg's OTLP exporter. Every option is set, so the
// OTEL_EXPORTER_OTLP_* environment variables the exporters would read
// for an unset one change nothing.
func newExporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, error) {
	ep, err := ParseEndpoint(cfg.Endpoint, cfg.Insecure)
	if err != nil {
		return nil, err
	}
	tlsCfg := cfg.TLS
	if tlsCfg == nil {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	headers := map[string]string{}
	for k, v := range cfg.Headers {
		headers[k] = v
	}
	switch cfg.Exporter {
	case ExporterGRPC:
		opts := []otlptracegrpc.Option{
			otlptracegrpc.WithEndpoint(ep.HostPort), otlptracegrpc.WithHeaders(headers),
			otlptracegrpc.WithTimeout(exportTimeout), otlptracegrpc.WithCompressor("gzip"),
		}
		if ep.Plaintext {
			opts = append(opts, otlptracegrpc.WithInsecure())
		} else {
			opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tlsCfg)))
		}
		return otlptracegrpc.New(ctx, opts...)
	default:
		path := ep.Path
		if path == "" {
			path = defaultHTTPPath
		}
		opts := []otlptracehttp.Option{
			otlptracehttp.WithEndpoint(ep.HostPort), otlptracehttp.WithURLPath(path), otlptracehttp.WithHeaders(headers),
			otlptracehttp.WithTimeout(exportTimeout), otlptracehttp.WithCompression(otlptracehttp.GzipCompression),
			otlptracehttp.WithProxy(noProxy), // not HTTPS_PROXY: the gateway reads no environment
		}
		if ep.Plaintext {
			opts = append(opts, otlptracehttp.WithInsecure())
		} else {
			opts = append(opts, otlptracehttp.WithTLSClientConfig(tlsCfg))
		}
		return otlptracehttp.New(ctx, opts...)
	}
}

func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

// loggingExporter writes export failures to the process log. The batch
// processor would hand them to otel.Handle, the process-wide error
// handler (the standard logger), which this package leaves alone.
type loggingExporter struct {
	sdktrace.SpanExporter
	logger *slog.Logger
}

func (e loggingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := e.SpanExporter.ExportSpans(ctx, spans); err != nil {
		// Nobody retries above the exporter: the spans are lost.
		e.logger.Warn("tracing: spans not exported", "spans", len(spans), "err", err)
	}
	return nil
}
