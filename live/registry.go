package live

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/internal/loop"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/session"
)

// Kinds of live connections: the kind label of erpgate_live_connections.
const (
	KindWebSocket = "websocket" // an upgraded connection (101 Switching Protocols)
	KindStream    = "stream"    // a response of unknown length: server-sent events, a long poll
)

// DefaultRecheckEvery is how often Run asks the authority about every
// live caller: well inside the second SPEC §12 allows, with the close
// itself taking at most boundaryWait more.
const DefaultRecheckEvery = 400 * time.Millisecond

// Judge is the credential authority (*authority.Authority): the one
// judge, asked again about callers it let through.
type Judge interface {
	Recheck(ctx context.Context, caller *authority.Caller) *authority.Refusal
}

var _ Judge = (*authority.Authority)(nil)

// Config wires a Registry; the gateway builds it once per process, so a
// reload (which rebuilds the proxy) keeps every registration.
type Config struct {
	Judge Judge
	// RecheckEvery defaults to DefaultRecheckEvery.
	RecheckEvery time.Duration
	Clock        func() time.Time
	Logger       *slog.Logger
	Audit        *audit.Logger // nil discards audit events
	Metrics      *metrics.Live
}

// Conn is one live request, as the proxy registers it.
type Conn struct {
	Kind  string // KindWebSocket or KindStream
	Route string
	// Caller is who the request acts for, as the authority let it
	// through: its claims name the session and the token.
	Caller     *authority.Caller
	RemoteAddr string
	RequestID  string
	// Close ends the connection for reason. The registry calls it at
	// most once, on a goroutine of its own, after the connection left
	// the registry.
	Close func(Reason)

	opened time.Time
}

func (c *Conn) session() string { return c.Caller.Claims.SessionID }
func (c *Conn) token() string   { return c.Caller.Claims.ID }

// Reason is why the gateway closed a connection.
type Reason struct {
	// Code is a credential authority refusal reason (authority.Reason*):
	// the metric label and the audit reason.
	Code string
	// Detail is for the log and the audit line.
	Detail string
}

// ReasonShutdown is the Code of connections closed because the gateway
// is stopping: not a refusal of the caller, who may reconnect at once
// (to another replica).
const ReasonShutdown = "shutdown"

// Text is the reason a client reads in the WebSocket Close frame: short
// words, no identifiers (RFC 6455 §5.5.1 bounds it to 123 bytes).
func (r Reason) Text() string {
	switch r.Code {
	case ReasonShutdown:
		return "going away"
	case authority.ReasonRevoked:
		return "token revoked"
	case authority.ReasonSessionEnded:
		return "session ended"
	}
	return strings.ReplaceAll(r.Code, "_", " ")
}

// Registry is the set of live connections. It is safe for concurrent use.
type Registry struct {
	cfg Config

	mu        sync.Mutex
	conns     map[*Conn]struct{}
	bySession map[string]map[*Conn]struct{}
	byToken   map[string]map[*Conn]struct{}
}

// New returns an empty Registry; Run starts its recheck.
func New(cfg Config) (*Registry, error) {
	if cfg.Judge == nil || cfg.Clock == nil || cfg.Logger == nil || cfg.Metrics == nil {
		return nil, errors.New("live: Judge, Clock, Logger and Metrics are required")
	}
	if cfg.RecheckEvery <= 0 {
		cfg.RecheckEvery = DefaultRecheckEvery
	}
	return &Registry{
		cfg:       cfg,
		conns:     map[*Conn]struct{}{},
		bySession: map[string]map[*Conn]struct{}{},
		byToken:   map[string]map[*Conn]struct{}{},
	}, nil
}

// Add registers c; Remove it when the request ends by itself.
func (r *Registry) Add(c *Conn) {
	c.opened = r.cfg.Clock()
	r.mu.Lock()
	r.conns[c] = struct{}{}
	index(r.bySession, c.session(), c)
	index(r.byToken, c.token(), c)
	r.mu.Unlock()
	r.cfg.Metrics.Connections.WithLabelValues(c.Kind).Inc()
}

// Remove unregisters c, if it still is registered.
func (r *Registry) Remove(c *Conn) {
	r.mu.Lock()
	ok := r.removeLocked(c)
	r.mu.Unlock()
	if ok {
		r.cfg.Metrics.Connections.WithLabelValues(c.Kind).Dec()
	}
}

// Len is how many connections are registered.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

// SessionEnded closes the connections of the session that ended, however
// it ended: the session manager's OnEnd, for ends here and on other
// replicas. A session ended by a timeout reopens under the same id on the
// token's next call, and the end sync reports an end again for a while
// (session.Ended): a connection made in a later incarnation of the
// session — opened after the ended one — is not closed for it.
func (r *Registry) SessionEnded(ctx context.Context, s session.Info) {
	ended := s.OpenedAt.UnixMilli() // stores keep milliseconds, or more
	later := func(c *Conn) bool {
		opened := c.Caller.Session.OpenedAt
		return !s.OpenedAt.IsZero() && !opened.IsZero() && opened.UnixMilli() > ended
	}
	r.closeAll(ctx, r.take(r.bySession, s.ID, later), Reason{
		Code: authority.ReasonSessionEnded, Detail: "session ended (" + s.EndReason + ")",
	})
}

// TokenRevoked closes the connections of the token tokenID (a jti, or a
// reference token's revocation id): the revocation list's OnRevoke.
func (r *Registry) TokenRevoked(ctx context.Context, tokenID string) {
	r.closeAll(ctx, r.take(r.byToken, tokenID, nil), Reason{
		Code: authority.ReasonRevoked, Detail: "token " + tokenID + " revoked",
	})
}

// Recheck asks the authority about the caller of every live connection
// and closes those it refuses. A store that does not answer
// (ReasonUnavailable) closes nothing: the caller was not refused. The
// pass is bounded by RecheckEvery, so a slow store delays only it.
func (r *Registry) Recheck(ctx context.Context) {
	r.mu.Lock()
	all := make([]*Conn, 0, len(r.conns))
	for c := range r.conns {
		all = append(all, c)
	}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RecheckEvery)
	defer cancel()
	unavailable := 0
	for _, c := range all {
		if ctx.Err() != nil {
			break
		}
		ref := r.cfg.Judge.Recheck(ctx, c.Caller)
		switch {
		case ref == nil:
		case ref.Reason == authority.ReasonUnavailable:
			unavailable++
		default:
			r.mu.Lock()
			ok := r.removeLocked(c)
			r.mu.Unlock()
			if ok {
				r.closeAll(ctx, []*Conn{c}, Reason{Code: ref.Reason, Detail: ref.Detail})
			}
		}
	}
	if unavailable > 0 {
		r.cfg.Logger.WarnContext(ctx, "live connections not rechecked: the store did not answer", "connections", unavailable)
	}
}

// Shutdown closes every live WebSocket for ReasonShutdown, with Close
// 1001 "going away" (RFC 6455 §7.4.1): the main listener's graceful
// shutdown does not wait for hijacked connections, which would otherwise
// be dropped without a word when the process exits. Streams are left to
// that graceful shutdown, which lets them finish within its deadline.
// The gateway calls this as it starts stopping.
func (r *Registry) Shutdown(ctx context.Context) {
	r.mu.Lock()
	all := make([]*Conn, 0, len(r.conns))
	for c := range r.conns {
		if c.Kind == KindWebSocket && r.removeLocked(c) {
			all = append(all, c)
		}
	}
	r.mu.Unlock()
	r.closeAll(ctx, all, Reason{Code: ReasonShutdown, Detail: "the gateway is shutting down"})
}

// Run rechecks every RecheckEvery until ctx ends.
func (r *Registry) Run(ctx context.Context) {
	loop.Every(ctx, r.cfg.RecheckEvery, r.Recheck)
}

// take removes and returns the connections under key in idx, but those
// skip (if not nil) says to leave.
func (r *Registry) take(idx map[string]map[*Conn]struct{}, key string, skip func(*Conn) bool) []*Conn {
	if key == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	set := idx[key]
	if len(set) == 0 {
		return nil
	}
	out := make([]*Conn, 0, len(set))
	for c := range set {
		if skip == nil || !skip(c) {
			out = append(out, c)
		}
	}
	for _, c := range out {
		r.removeLocked(c)
	}
	return out
}

// closeAll closes conns, which have left the registry, for reason: each
// counted, logged and audited, and closed on a goroutine of its own (a
// WebSocket may wait a moment for a frame boundary; the caller is a
// request, the reaper or a sync, and must not wait).
func (r *Registry) closeAll(ctx context.Context, conns []*Conn, reason Reason) {
	now := r.cfg.Clock()
	for _, c := range conns {
		r.cfg.Metrics.Connections.WithLabelValues(c.Kind).Dec()
		r.cfg.Metrics.Closed.WithLabelValues(reason.Code).Inc()
		cl := c.Caller.Claims
		r.cfg.Logger.InfoContext(ctx, "live connection closed", "kind", c.Kind, "route", c.Route,
			"reason", reason.Code, "detail", reason.Detail, "session", cl.SessionID,
			"open_for", now.Sub(c.opened).Round(time.Millisecond), "request_id", c.RequestID)
		r.cfg.Audit.Log(ctx, audit.Event{
			Name: audit.LiveClosed, ClientID: cl.ClientID, Subject: cl.Principal(), Session: cl.SessionID,
			RequestID: c.RequestID, RemoteAddr: c.RemoteAddr, Reason: reason.Code,
			Attrs: []slog.Attr{slog.String("kind", c.Kind), slog.String("route", c.Route), slog.String("detail", reason.Detail)},
		})
		go c.Close(reason)
	}
}

// removeLocked drops c from the set and both indexes; false when it was
// not there (removed, or closed, before). r.mu must be held.
func (r *Registry) removeLocked(c *Conn) bool {
	if _, ok := r.conns[c]; !ok {
		return false
	}
	delete(r.conns, c)
	unindex(r.bySession, c.session(), c)
	unindex(r.byToken, c.token(), c)
	return true
}

func index(idx map[string]map[*Conn]struct{}, key string, c *Conn) {
	if key == "" {
		return
	}
	set := idx[key]
	if set == nil {
		set = map[*Conn]struct{}{}
		idx[key] = set
	}
	set[c] = struct{}{}
}

func unindex(idx map[string]map[*Conn]struct{}, key string, c *Conn) {
	if set := idx[key]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(idx, key)
		}
	}
}
