package traced_test

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
	"github.com/erpgate/erpgate/store/traced"
)

// down is a backend whose Ping fails, as a database that went away.
type down struct{ store.Backend }

func (down) Ping(context.Context) error {
	return errors.New("dial tcp 10.0.0.5:5432: connection refused")
}

func TestMeasuresAndTraces(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, metrics.Build{})
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	tracer := tp.Tracer("test")
	s := traced.New(down{memory.New()}, tracer, m.StoreDuration, m.StoreErrors)

	// Outside a request: measured, no span.
	if _, err := s.Session(t.Context(), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Session: %v", err)
	}
	if n := len(spans.Ended()); n != 0 {
		t.Errorf("%d spans without a request span", n)
	}

	ctx, req := tracer.Start(t.Context(), "GET")
	if _, err := s.Session(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Session: %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping of a backend that is down: no error")
	}
	req.End()

	got := spans.Ended()
	if len(got) != 3 {
		t.Fatalf("%d spans, want store.Session, store.Ping and the request", len(got))
	}
	sess, ping := got[0], got[1]
	if sess.Name() != "store.Session" || ping.Name() != "store.Ping" {
		t.Fatalf("spans %q, %q", sess.Name(), ping.Name())
	}
	for _, sp := range []sdktrace.ReadOnlySpan{sess, ping} {
		if sp.Parent().SpanID() != req.SpanContext().SpanID() {
			t.Errorf("%s is not the request span's child", sp.Name())
		}
	}
	if sess.Status().Code == codes.Error || !hasAttr(sess, "erpgate.store.answer", "not_found") {
		t.Errorf("not found is an answer, not an error: %v %v", sess.Status(), sess.Attributes())
	}
	if ping.Status().Code != codes.Error || ping.Status().Description != "failed" {
		t.Errorf("Ping status %v, want an error without the backend's text", ping.Status())
	}

	if got := testutil.ToFloat64(m.StoreErrors.WithLabelValues("Ping")); got != 1 {
		t.Errorf("Ping errors = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.StoreErrors.WithLabelValues("Session")); got != 0 {
		t.Errorf("Session errors = %v, want 0 (not found is an answer)", got)
	}
	if n := testutil.CollectAndCount(m.StoreDuration); n != 2 {
		t.Errorf("%d duration series, want Session and Ping", n)
	}
}

func hasAttr(s sdktrace.ReadOnlySpan, k, v string) bool {
	for _, a := range s.Attributes() {
		if string(a.Key) == k && a.Value.AsString() == v {
			return true
		}
	}
	return false
}
