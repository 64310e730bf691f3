package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/erpgate/erpgate/tracing"
)

// Tracing is OpenTelemetry tracing (SPEC §11): off unless Exporter is
// set. Restart-only: a reload keeps the running tracing.
type Tracing struct {
	// Exporter is "otlp-http" (OTLP/HTTP protobuf, port 4318 by
	// convention) or "otlp-grpc" (port 4317). Empty or omitted: tracing
	// is off, and a caller's traceparent passes upstream unchanged.
	Exporter string `yaml:"exporter"`

	// Endpoint is the collector: an http:// or https:// URL (for
	// otlp-http a path other than "/" replaces /v1/traces), or host:port,
	// which is TLS unless Insecure. Required when Exporter is set.
	Endpoint string `yaml:"endpoint"`

	// Insecure sends to a host:port Endpoint without TLS. With a URL the
	// scheme decides, and Insecure must be false.
	Insecure bool `yaml:"insecure"`

	// CAFile is the PEM file of the roots that verify the collector's
	// certificate (a private CA). Omitted: the system roots.
	CAFile string `yaml:"ca_file"`

	// Headers are sent with every export, e.g. a hosted collector's API
	// key (use ${VAR}). Names unique.
	Headers []TracingHeader `yaml:"headers"`

	// SamplingRatio is the share of requests traced, from 0 to 1,
	// decided on the trace id; a caller's sampled flag does not force
	// it. Omitted: 1 (every request).
	SamplingRatio string `yaml:"sampling_ratio"`

	// ServiceName is the resource's service.name. Omitted: erpgate.
	ServiceName string `yaml:"service_name"`

	// ResourceAttributes are further resource attributes
	// (deployment.environment.name, service.instance.id, …). Keys unique.
	ResourceAttributes []TracingAttribute `yaml:"resource_attributes"`
}

// TracingHeader is one header of every export.
type TracingHeader struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// TracingAttribute is one resource attribute.
type TracingAttribute struct {
	Key   string `yaml:"key"`
	Value string `yaml:"value"`
}

// DefaultTracingServiceName is tracing.service_name when omitted.
const DefaultTracingServiceName = "erpgate"

// Enabled reports whether spans are exported.
func (t Tracing) Enabled() bool { return t.Exporter != "" }

// Ratio is SamplingRatio as a number (1 when omitted). A File returned
// by Parse has a valid one.
func (t Tracing) Ratio() float64 {
	if t.SamplingRatio == "" {
		return 1
	}
	r, _ := strconv.ParseFloat(t.SamplingRatio, 64)
	return r
}

// Service is ServiceName, or its default.
func (t Tracing) Service() string {
	if t.ServiceName == "" {
		return DefaultTracingServiceName
	}
	return t.ServiceName
}

func (v *validator) tracing() {
	t := v.f.Tracing
	if !t.Enabled() {
		if t.Endpoint != "" || len(t.Headers) > 0 {
			v.add("tracing.exporter", "required when tracing.endpoint or tracing.headers is set: otlp-http or otlp-grpc")
		}
		return
	}
	v.oneOf("tracing.exporter", t.Exporter, tracing.ExporterHTTP, tracing.ExporterGRPC)
	if _, err := tracing.ParseEndpoint(t.Endpoint, t.Insecure); err != nil {
		v.add("tracing.endpoint", err.Error())
	}
	if s := t.SamplingRatio; s != "" {
		if r, err := strconv.ParseFloat(s, 64); err != nil || !(r >= 0 && r <= 1) {
			v.addf("tracing.sampling_ratio", "must be a number from 0 to 1, such as 0.1; got %q", s)
		}
	}
	if strings.ContainsFunc(t.ServiceName, isControl) {
		v.add("tracing.service_name", "must not contain control characters")
	}
	seen := map[string]bool{}
	for i, h := range t.Headers {
		path := fmt.Sprintf("tracing.headers[%d].name", i)
		name := strings.ToLower(h.Name)
		switch {
		case !validHeaderName(h.Name):
			v.addf(path, "must be an HTTP header name; got %q", h.Name)
		case seen[name]:
			v.addf(path, "%q is given twice", h.Name)
		}
		seen[name] = true
		if strings.ContainsAny(h.Value, "\x00\r\n") {
			v.add(fmt.Sprintf("tracing.headers[%d].value", i), "must not contain line breaks")
		}
	}
	keys := map[string]bool{}
	for i, a := range t.ResourceAttributes {
		path := fmt.Sprintf("tracing.resource_attributes[%d].key", i)
		switch {
		case a.Key == "" || strings.ContainsFunc(a.Key, isControl):
			v.add(path, "must be a non-empty attribute name")
		case keys[a.Key]:
			v.addf(path, "%q is given twice", a.Key)
		}
		keys[a.Key] = true
	}
}

// validHeaderName reports whether s is an RFC 9110 §5.6.2 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}
