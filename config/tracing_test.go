package config

import (
	"errors"
	"strings"
	"testing"
)

func TestTracing(t *testing.T) {
	f, err := Parse([]byte("tracing: {exporter: otlp-grpc, endpoint: \"collector:4317\", insecure: true, sampling_ratio: 0.25,\n  headers: [{name: X-Api-Key, value: \"${KEY}\"}], resource_attributes: [{key: deployment.environment.name, value: prod}]}\n"),
		func(k string) (string, bool) { return "k3y", k == "KEY" })
	if err != nil {
		t.Fatal(err)
	}
	tr := f.Tracing
	if !tr.Enabled() || tr.Ratio() != 0.25 || tr.Service() != "erpgate" || tr.Headers[0].Value != "k3y" || tr.ResourceAttributes[0].Value != "prod" {
		t.Errorf("tracing = %+v", tr)
	}
	off, err := Parse([]byte("{}"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if off.Tracing.Enabled() || off.Tracing.Ratio() != 1 {
		t.Errorf("omitted tracing = %+v, want off with ratio 1", off.Tracing)
	}
}

func TestTracingErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, path, msg string }{
		{"unknown exporter", "tracing: {exporter: zipkin, endpoint: \"c:4317\"}", "tracing.exporter", `must be one of otlp-http, otlp-grpc; got "zipkin"`},
		{"endpoint without exporter", "tracing: {endpoint: \"c:4317\"}", "tracing.exporter", "required when tracing.endpoint"},
		{"no endpoint", "tracing: {exporter: otlp-http}", "tracing.endpoint", "the endpoint is required"},
		{"endpoint neither", "tracing: {exporter: otlp-http, endpoint: collector}", "tracing.endpoint", "or host:port"},
		{"insecure URL", "tracing: {exporter: otlp-http, endpoint: \"https://c\", insecure: true}", "tracing.endpoint", "insecure is for a host:port endpoint"},
		{"ratio above 1", "tracing: {exporter: otlp-http, endpoint: \"http://c:4318\", sampling_ratio: 2}", "tracing.sampling_ratio", `must be a number from 0 to 1, such as 0.1; got "2"`},
		{"ratio not a number", "tracing: {exporter: otlp-http, endpoint: \"http://c:4318\", sampling_ratio: half}", "tracing.sampling_ratio", "must be a number from 0 to 1"},
		{"ratio NaN", "tracing: {exporter: otlp-http, endpoint: \"http://c:4318\", sampling_ratio: .nan}", "tracing.sampling_ratio", "must be a number from 0 to 1"},
		{"header name", "tracing: {exporter: otlp-http, endpoint: \"http://c:4318\", headers: [{name: \"a b\", value: x}]}", "tracing.headers[0].name", "must be an HTTP header name"},
		{"header twice", "tracing: {exporter: otlp-http, endpoint: \"http://c:4318\", headers: [{name: A, value: x}, {name: a, value: y}]}", "tracing.headers[1].name", "given twice"},
		{"attribute twice", "tracing: {exporter: otlp-http, endpoint: \"http://c:4318\", resource_attributes: [{key: k, value: x}, {key: k, value: y}]}", "tracing.resource_attributes[1].key", "given twice"},
		{"unknown key", "tracing: {exporter: otlp-http, endpoint: \"http://c:4318\", ratio: 1}", "tracing.ratio", "unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), nil)
			var probs Problems
			if !errors.As(err, &probs) {
				t.Fatalf("Parse: %v, want problems", err)
			}
			for _, p := range probs {
				if p.Path == tc.path && strings.Contains(p.Message, tc.msg) {
					return
				}
			}
			t.Errorf("problems %v, want %s: %q", probs, tc.path, tc.msg)
		})
	}
}
