package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/proxy"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/tracing"
)

// Tracing (SPEC §11), restart-only: the provider is built once by New and
// shut down (its last spans flushed) by Close. When tracing.exporter is
// not set nothing below is installed, so a caller's traceparent passes
// upstream as any other header and a request pays for no span.
//
// The spans of a proxied request: the server span (requestHandler), the
// route match (the proxy starts it from the server span), the credential
// check (tracedAuthority), the session and license slot under it
// (tracedSessions), the store calls (store/traced) and the upstream call
// (upstreamTransport). Attributes never carry a token, a secret, a
// cookie or a query string; the subject and sid are not put on spans
// either (the audit log has them).

// newTracing builds the provider of f.Tracing; tracing.Disabled when off.
func newTracing(ctx context.Context, f *config.File, readFile func(string) ([]byte, error), version string, logger *slog.Logger) (*tracing.Provider, error) {
	t := f.Tracing
	if !t.Enabled() {
		return tracing.Disabled(), nil
	}
	cfg := tracing.Config{
		Exporter: t.Exporter, Endpoint: t.Endpoint, Insecure: t.Insecure, SamplingRatio: t.Ratio(),
		ServiceName: t.Service(), ServiceVersion: version, Logger: logger,
		Headers: map[string]string{}, Attributes: map[string]string{},
	}
	for _, h := range t.Headers {
		cfg.Headers[h.Name] = h.Value
	}
	for _, a := range t.ResourceAttributes {
		cfg.Attributes[a.Key] = a.Value
	}
	if t.CAFile != "" {
		pem, err := readFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tracing.ca_file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tracing.ca_file: %s holds no PEM certificate", t.CAFile)
		}
		cfg.TLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	p, err := tracing.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	logger.Info("tracing on", "exporter", t.Exporter, "endpoint", t.Endpoint, "sampling_ratio", t.Ratio())
	return p, nil
}

// traceRequests puts each request on the main listener in a server span
// carrying its request id.
func (g *Gateway) traceRequests(h http.Handler) http.Handler {
	if !g.tracing.Enabled() {
		return h
	}
	named := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			span.SetAttributes(attribute.String("erpgate.request_id", requestid.From(r.Context())))
		}
		h.ServeHTTP(w, r)
	})
	return tracing.Handler(named, g.tracing.Tracer(), g.tracing.Propagator())
}

// upstreamTransport makes each upstream call a client span whose
// traceparent the upstream receives.
func (g *Gateway) upstreamTransport(rt http.RoundTripper) http.RoundTripper {
	if !g.tracing.Enabled() {
		return rt
	}
	return tracing.Transport(rt, g.tracing.Tracer(), g.tracing.Propagator())
}

// traceAuthority is a the authority as the proxy's doors see it, each
// judgement a span.
func (g *Gateway) traceAuthority(a proxy.Authenticator) proxy.Authenticator {
	if !g.tracing.Enabled() {
		return a
	}
	return tracedAuthority{a: a, tracer: g.tracing.Tracer()}
}

// traceSessions is the session manager as the authority sees it, each
// Acquire a span.
func (g *Gateway) traceSessions(s authority.Sessions) authority.Sessions {
	if !g.tracing.Enabled() {
		return s
	}
	return tracedSessions{Sessions: s, tracer: g.tracing.Tracer()}
}

type tracedAuthority struct {
	a      proxy.Authenticator
	tracer trace.Tracer
}

var sourceNames = map[authority.Source]string{
	authority.SourceNone: "none", authority.SourceBearer: "bearer",
	authority.SourceAPIKey: "api_key", authority.SourceCookie: "cookie",
}

func (t tracedAuthority) Authenticate(ctx context.Context, cred authority.Credential, door authority.Door) (*authority.Caller, *authority.Refusal) {
	ctx, span := t.tracer.Start(ctx, "authority.authenticate", trace.WithAttributes(
		// Where the credential came from, never the credential.
		attribute.String("erpgate.credential.source", sourceNames[cred.Source]),
		attribute.Bool("erpgate.door.open_session", door.OpenSession)))
	defer span.End()
	caller, ref := t.a.Authenticate(ctx, cred, door)
	switch {
	case ref == nil:
		span.SetAttributes(attribute.String("erpgate.decision", "allow"))
	case ref.Reason == authority.ReasonUnavailable:
		span.SetAttributes(attribute.String("erpgate.decision", "deny"), attribute.String("erpgate.refusal.reason", ref.Reason))
		span.SetStatus(codes.Error, "the store did not answer")
	default:
		// A refusal is the caller's error, not ours; Detail is not
		// recorded: it may quote the token's claims.
		span.SetAttributes(attribute.String("erpgate.decision", "deny"), attribute.String("erpgate.refusal.reason", ref.Reason))
	}
	return caller, ref
}

type tracedSessions struct {
	authority.Sessions
	tracer trace.Tracer
}

func (t tracedSessions) Acquire(ctx context.Context, c *claims.Access) (session.Info, error) {
	ctx, span := t.tracer.Start(ctx, "session.acquire")
	defer span.End()
	info, err := t.Sessions.Acquire(ctx, c)
	switch {
	case err == nil:
		span.SetAttributes(attribute.String("erpgate.session.kind", info.Kind),
			attribute.Bool("erpgate.session.reserved", info.Reserved), attribute.Bool("erpgate.session.no_slot", info.NoSlot))
	case errors.Is(err, session.ErrLicenseExhausted):
		span.SetAttributes(attribute.String("erpgate.session.answer", "license_exhausted"))
	case errors.Is(err, session.ErrEnded):
		span.SetAttributes(attribute.String("erpgate.session.answer", "ended"))
	default:
		span.SetStatus(codes.Error, "session not acquired")
	}
	return info, err
}
