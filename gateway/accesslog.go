package gateway

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/erpgate/erpgate/requestid"
)

// Process-log plumbing per request: the optional access log
// (log.access_log) and the request id on every line logged with a request
// context.

// maxUserAgent bounds the user agent kept on an access line; a client may
// send up to 64 KiB of headers.
const maxUserAgent = 256

// withAccessLog returns h logging one line per request on logger, after
// the response, when on; otherwise h itself, so an access log that is off
// costs nothing at all.
//
// A line holds method, path (never the query string, which may carry
// secrets), status, bytes (of the body), duration_seconds, remote_addr
// (the TCP peer), request_id and user_agent (left out when the client
// sent none: no line carries an empty field); never a header that carries
// credentials (Authorization, cookies, API keys). The route is not known
// at this layer: erpgate_http_requests_total has it.
func withAccessLog(on bool, logger *slog.Logger, h http.Handler) http.Handler {
	if !on {
		return h
	}
	return &accessLog{logger: logger, next: h}
}

type accessLog struct {
	logger *slog.Logger
	next   http.Handler
}

func (a *accessLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	method, path, ua := r.Method, r.URL.Path, r.UserAgent()
	rec := &accessRecorder{ResponseWriter: w}
	completed := false
	defer func() {
		if len(ua) > maxUserAgent {
			ua = ua[:maxUserAgent]
		}
		attrs := [9]slog.Attr{
			slog.String("method", method),
			slog.String("path", path),
			slog.Int("status", rec.status()),
			slog.Int64("bytes", rec.bytes),
			// Seconds, as the latency histograms have it.
			slog.Float64("duration_seconds", time.Since(start).Seconds()),
			slog.String("remote_addr", r.RemoteAddr),
			slog.String("request_id", requestid.From(r.Context())),
		}
		n := 7
		if ua != "" {
			attrs[n] = slog.String("user_agent", ua)
			n++
		}
		if !completed {
			// The handler panicked (ReverseProxy does, with
			// http.ErrAbortHandler, when the upstream breaks off a
			// body): the client got a cut response or none.
			attrs[n] = slog.Bool("aborted", true)
			n++
		}
		a.logger.LogAttrs(r.Context(), slog.LevelInfo, "access", attrs[:n]...)
	}()
	a.next.ServeHTTP(rec, r)
	completed = true
}

// accessRecorder notes the status and body size of a response. Unwrap
// lets http.ResponseController (which ReverseProxy uses to flush and to
// switch protocols) reach the real writer.
type accessRecorder struct {
	http.ResponseWriter
	code     int
	bytes    int64
	hijacked bool
}

func (a *accessRecorder) WriteHeader(code int) {
	// 1xx other than 101 are informational (103 Early Hints): the final
	// status comes later.
	if a.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		a.code = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *accessRecorder) Write(b []byte) (int, error) {
	if a.code == 0 {
		a.code = http.StatusOK
	}
	n, err := a.ResponseWriter.Write(b)
	a.bytes += int64(n)
	return n, err
}

// Flush sends the header (200 unless set) and buffered body; it keeps
// w.(http.Flusher) working for handlers that still ask that way.
func (a *accessRecorder) Flush() {
	if a.code == 0 {
		a.code = http.StatusOK
	}
	_ = http.NewResponseController(a.ResponseWriter).Flush()
}

// Hijack notes the takeover: ReverseProxy hijacks only to pass on an
// upstream's 101 Switching Protocols, which it writes to the connection
// itself.
func (a *accessRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(a.ResponseWriter).Hijack()
	if err == nil {
		a.hijacked = true
	}
	return c, rw, err
}

func (a *accessRecorder) Unwrap() http.ResponseWriter { return a.ResponseWriter }

func (a *accessRecorder) status() int {
	switch {
	case a.code != 0:
		return a.code
	case a.hijacked:
		return http.StatusSwitchingProtocols
	default:
		return http.StatusOK // what net/http sends for a handler that wrote nothing
	}
}

// withRequestIDs adds request_id to every process-log line written with
// a request's context (logger.InfoContext(r.Context(), …)), so each line
// about a request can be joined with its access line, audit events and
// the upstream's logs (X-Request-Id). A line that already has request_id
// is left as it is.
func withRequestIDs(h slog.Handler) slog.Handler { return requestIDHandler{next: h} }

type requestIDHandler struct {
	next slog.Handler
	has  bool // request_id was added with Logger.With
}

func (h requestIDHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if !h.has {
		if id := requestid.From(ctx); id != "" && !hasRequestID(r) {
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	// With tracing on (gateway/tracing.go), the request's span: a line
	// leads to its trace, sampled or not (SPEC §11).
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.next.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	has := h.has
	for _, a := range as {
		has = has || a.Key == "request_id"
	}
	return requestIDHandler{next: h.next.WithAttrs(as), has: has}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{next: h.next.WithGroup(name), has: h.has}
}

func hasRequestID(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == "request_id"
		return !found
	})
	return found
}
