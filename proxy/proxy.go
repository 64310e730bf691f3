package proxy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/live"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/policy"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/tracing"
	"github.com/erpgate/erpgate/webui"
)

// Config is everything the proxy needs; the gateway builds it
// (gateway/reload.go).
type Config struct {
	// Policy is the compiled route table; Upstreams[i] serves its i-th route.
	Policy    *policy.Set
	Upstreams []Upstream
	// Authority judges every credential and opens the caller's ERP
	// session and license slot (SPEC §4, §5): the same judge as the
	// admin API, userinfo and introspection.
	Authority Authenticator
	// Exchanger mints the tokens forwarded to routes with an Exchange
	// (exchange.go), instead of the caller's; required when one has.
	Exchanger Exchanger
	// TrustedProxies may set X-Forwarded-*; everyone else's are replaced.
	TrustedProxies []netip.Prefix
	// Scheme is public_url's, "http" or "https": how clients reach the
	// gateway, which may sit behind a TLS-terminating edge. DPoP proofs
	// name URLs of it (RFC 9449 §4.3), as do the resource identifiers of
	// protected-resource metadata (resource.go).
	Scheme string
	// Issuer is the identity server's issuer identifier, the
	// authorization server protected-resource metadata names (RFC 9728
	// §2); "" serves no metadata and gives no resource_metadata hint.
	Issuer  string
	Clock   func() time.Time
	Logger  *slog.Logger
	Audit   *audit.Logger
	Metrics *metrics.Metrics

	// Browser, when set, is browser login at the gateway: it serves
	// /oauth2/* and gives browsers on login routes (or asking for HTML)
	// the access token of their session cookie, or a login redirect
	// (browser.go). nil: API callers only.
	Browser Browser

	// Pages is the page kit: a browser gets the proxy's own answers
	// (refusals, no route, upstream down) as pages in it (pages.go).
	Pages *webui.Kit

	// Live, when set, tracks WebSockets and streams, and closes them when
	// their session ends or their credential may no longer act (live.go).
	// The gateway makes one per process: it outlives reloads.
	Live *live.Registry
}

// Authenticator is the credential authority (*authority.Authority).
type Authenticator interface {
	Authenticate(ctx context.Context, cred authority.Credential, door authority.Door) (*authority.Caller, *authority.Refusal)
}

var _ Authenticator = (*authority.Authority)(nil)

// Proxy is the edge handler. Everything per route is built once in New.
type Proxy struct {
	cfg       Config
	routes    []*route
	buffers   *bufferPool
	exchanged *exchangeCache // upstream tokens of exchange routes (exchange.go)

	countersMu sync.RWMutex
	counters   map[counterKey]prometheus.Counter
}

// route is the per-route state compiled once per config snapshot.
type route struct {
	name     string
	index    int // in Config.Policy's routes
	forward  *httputil.ReverseProxy
	upstream Upstream
	// audiences is the route's audience, as the authority's door wants it.
	audiences []string
	duration  prometheus.Observer
	// Counters of the success path, resolved once (WithLabelValues
	// hashes its labels on every call).
	allowed, public prometheus.Counter
}

// New compiles the per-route handlers.
func New(cfg Config) (*Proxy, error) {
	if cfg.Policy == nil || cfg.Authority == nil || cfg.Clock == nil || cfg.Logger == nil || cfg.Metrics == nil || cfg.Pages == nil {
		return nil, errors.New("proxy: Policy, Authority, Clock, Logger, Metrics and Pages are required")
	}
	rs := cfg.Policy.Routes()
	if len(rs) != len(cfg.Upstreams) {
		return nil, fmt.Errorf("proxy: %d routes but %d upstreams", len(rs), len(cfg.Upstreams))
	}
	p := &Proxy{
		cfg:       cfg,
		buffers:   newBufferPool(),
		counters:  map[counterKey]prometheus.Counter{},
		exchanged: newExchangeCache(maxExchangeCache),
	}
	for i, up := range cfg.Upstreams {
		if up.URL == nil || !up.URL.IsAbs() {
			return nil, fmt.Errorf("proxy: route %q: upstream must be an absolute URL", rs[i].Name)
		}
		if up.Transport == nil {
			up.Transport = NewTransport(up.Timeout)
		}
		if up.Exchange != nil && cfg.Exchanger == nil {
			return nil, fmt.Errorf("proxy: route %q exchanges tokens for its upstream but Exchanger is nil", rs[i].Name)
		}
		p.routes = append(p.routes, &route{
			name:      rs[i].Name,
			index:     i,
			forward:   p.newReverseProxy(rs[i].Name, up),
			upstream:  up,
			audiences: []string{rs[i].Audience},
			duration:  cfg.Metrics.HTTPDuration.WithLabelValues(rs[i].Name),
			allowed:   cfg.Metrics.AuthDecisions.WithLabelValues(rs[i].Name, "allow", policy.ReasonAllowed),
			public:    cfg.Metrics.AuthDecisions.WithLabelValues(rs[i].Name, "allow", policy.ReasonPublic),
		})
	}
	return p, nil
}

// ServeHTTP is the whole request flow: route → credentials → verify →
// policy → forward. Each refusal is counted and audited here, and
// answered as AnswerFor says (answer.go).
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	if isForwardAuth(r.URL.Path) {
		p.serveForwardAuth(sw, r) // forwardauth.go
		return
	}
	if p.serveBrowserEndpoint(sw, r) { // browser.go
		return
	}
	if p.serveResourceMetadata(sw, r) { // resource.go
		return
	}
	p.serveRequest(sw, r, nil)
}

// serveRequest routes r and serves it: forwarded, or for forward auth
// (e non-nil) answered to the edge.
func (p *Proxy) serveRequest(sw *statusWriter, r *http.Request, e *edge) {
	start := time.Now()
	idx, pol, ok := p.cfg.Policy.Match(r.Method, r.URL.Path)
	if !ok {
		d := policy.Decision{Outcome: policy.NoRoute, Reason: policy.ReasonNoRoute}
		if !policy.ValidPath(r.URL.Path) {
			d.Reason = policy.ReasonInvalidPath // 400, not 404 (answer.go)
		}
		p.respond(sw, r, e, hints{}, AnswerFor(d, nil, p.situation(r, e, authority.Credential{})))
		p.count("", r.Method, sw.status())
		return
	}
	rt := p.routes[idx]
	// Traced (gateway/tracing.go): the request's span is named by its
	// route (http.route); otherwise a no-op.
	tracing.SetRoute(trace.SpanFromContext(r.Context()), r.Method, rt.name)
	p.serveRoute(sw, r, rt, pol, e)
	rt.duration.Observe(time.Since(start).Seconds())
	p.count(rt.name, r.Method, sw.status())
}

// serveRoute judges r on its route and forwards it; for forward auth (e
// non-nil) the same judgement is answered to the edge instead (admit).
func (p *Proxy) serveRoute(w http.ResponseWriter, r *http.Request, rt *route, pol *policy.Route, e *edge) {
	ctx := r.Context()
	cred, err := authority.ReadCredential(r)
	if err != nil {
		ref := &authority.Refusal{Reason: authority.ReasonInvalidRequest, Detail: err.Error()}
		p.deny(ctx, r, rt, ref.Reason, ref.Detail, "")
		p.respond(w, r, e, hints{}, AnswerFor(policy.Decision{}, ref, p.situation(r, e, cred)))
		return
	}
	if pol.Public {
		p.decided(rt, policy.Decision{Outcome: policy.Allow, Reason: policy.ReasonPublic})
		if e != nil {
			p.admit(w, r, rt, nil, "")
			return
		}
		rt.serve(w, r)
		return
	}
	var s Situation // read only without a credential: Accept is not parsed on the allowed path
	if cred.Source == authority.SourceNone {
		if s = p.situation(r, e, cred); s.takesSession(pol) {
			r, cred = p.browserCredential(w, r, e) // browser.go
		}
	}
	if cred.Source == authority.SourceNone {
		d := pol.Authorize(policy.Facts{Method: r.Method, Path: r.URL.Path})
		a := AnswerFor(d, nil, s) // 401, or a login redirect for a browser
		detail := d.Detail
		if a.Login {
			detail = "browser without a session: sent to login"
		}
		p.deny(ctx, r, rt, d.Reason, detail, "")
		p.respond(w, r, e, hints{}, a)
		return
	}
	// The route's audience and scopes are policy's (so policy explain
	// gives the same answer); whether the token may act at all, and the
	// session, are the authority's. A token for another route opens no
	// session: the audience is checked first.
	caller, ref := p.cfg.Authority.Authenticate(ctx, cred, authority.Door{
		Audiences: rt.audiences, OpenSession: true, AllowCommunity: pol.AllowCommunityUsers, Scheme: p.cfg.Scheme,
	})
	if ref != nil {
		p.refused(w, r, e, rt, cred, ref)
		return
	}
	c := caller.Claims
	d := pol.Authorize(signInFacts(policy.Facts{
		Method: r.Method, Path: r.URL.Path, Authenticated: true,
		Audiences: c.Audience, Scopes: c.Scope.Values,
	}, caller, pol, p.cfg.Clock))
	if !d.Allowed() { // insufficient_scope or _user_authentication; anything unforeseen: the token is not for this route
		s := p.situation(r, e, cred)
		if d.Reason == policy.ReasonInsufficientUserAuthentication && s.FromSession {
			s.SteppedUp = p.cfg.Browser.SteppedUp(r, d.StepUp)
		}
		a := AnswerFor(d, nil, s)
		if a.Login {
			d.Detail += ": browser sent to step up"
		} else if s.SteppedUp {
			d.Detail += ", after a step-up sign-in that did not meet it"
		}
		p.denyClaims(ctx, r, rt, d, c, "")
		p.respond(w, r, e, hints{locale: c.Locale, missing: d.MissingScopes}, a)
		return
	}
	upstream, ok := p.exchangeFor(w, r, e, rt, cred, c) // exchange.go: "" unless the route exchanges
	if !ok {
		return
	}
	p.decided(rt, d)
	if e != nil {
		p.admit(w, r, rt, c, cmp.Or(upstream, cred.Token))
		return
	}
	ic := &identityContext{Context: ctx, identity: identity{claims: c, dropToken: rt.upstream.StripAuthorization, caller: caller, route: rt.name}}
	id := &ic.identity
	if cred.Source == authority.SourceDPoP {
		id.bearer = cred.Token
	}
	if upstream != "" {
		id.bearer = upstream // never the caller's token, nor its DPoP proof
	}
	if p.cfg.Live != nil && isUpgrade(r) {
		w = p.watchUpgrade(w, r, id) // live.go
	}
	rt.serve(w, r.WithContext(ic))
}

// signInFacts adds to f the sign-in behind caller's token, for a route
// that requires one (RFC 9470 §6.1: acr, auth_time). A service token has
// no sign-in; a reference token names its user but no sign-in event of
// its own, whatever its claims say. Routes without one read no clock.
func signInFacts(f policy.Facts, caller *authority.Caller, pol *policy.Route, clock func() time.Time) policy.Facts {
	if pol.RequireAuth.IsZero() {
		return f
	}
	c := caller.Claims
	f.Now, f.ACR = clock(), c.ACR
	if c.AuthTime != 0 {
		f.AuthTime = time.Unix(c.AuthTime, 0)
	}
	f.Service = c.Subject == ""
	f.NoSignIn = caller.Reference != nil
	return f
}

// serve forwards r, allowed, to the route's upstream.
func (rt *route) serve(w http.ResponseWriter, r *http.Request) {
	rt.forward.ServeHTTP(w, withClientIdle(w, r, rt.upstream.ClientIdleTimeout)) // clientidle.go
}

// refused counts, audits and answers a credential the authority refused.
func (p *Proxy) refused(w http.ResponseWriter, r *http.Request, e *edge, rt *route, cred authority.Credential, ref *authority.Refusal) {
	ctx := r.Context()
	if ref.Reason == authority.ReasonUnavailable {
		p.cfg.Logger.ErrorContext(ctx, "credential check failed", "route", rt.name, "err", ref.Detail,
			"request_id", requestid.From(ctx))
	}
	if c := ref.Claims; c != nil {
		p.denyClaims(ctx, r, rt, policy.Decision{Reason: ref.Reason, Detail: ref.Detail}, c, audit.TokenHash(cred.Token))
	} else {
		p.deny(ctx, r, rt, ref.Reason, ref.Detail, audit.TokenHash(cred.Token))
	}
	// invalid_token (or a new login for a browser session), no license
	// slot, community user, store down: as a page for a browser, in the
	// language of the refused token, if any.
	h := hints{}
	if ref.Claims != nil {
		h.locale = ref.Claims.Locale
	}
	p.respond(w, r, e, h, AnswerFor(policy.Decision{}, ref, p.situation(r, e, cred)))
}

func (p *Proxy) decided(rt *route, d policy.Decision) {
	switch d.Reason {
	case policy.ReasonAllowed:
		rt.allowed.Inc()
	case policy.ReasonPublic:
		rt.public.Inc()
	default:
		p.cfg.Metrics.AuthDecisions.WithLabelValues(rt.name, "allow", d.Reason).Inc()
	}
}

// deny counts and audits a refusal before anything is known of the caller.
func (p *Proxy) deny(ctx context.Context, r *http.Request, rt *route, reason, detail, tokenHash string) {
	p.cfg.Metrics.AuthDecisions.WithLabelValues(rt.name, "deny", reason).Inc()
	attrs := []slog.Attr{slog.String("route", rt.name), slog.String("detail", detail)}
	if tokenHash != "" {
		attrs = append(attrs, slog.String("token_hash", tokenHash))
	}
	p.cfg.Audit.Log(ctx, audit.Event{
		Name: audit.AccessDenied, RequestID: requestid.From(ctx), RemoteAddr: r.RemoteAddr,
		Reason: reason, Attrs: attrs,
	})
}

// denyClaims audits a refusal of a verified token, naming its holder
// (and the token's short hash, when the token itself was refused).
func (p *Proxy) denyClaims(ctx context.Context, r *http.Request, rt *route, d policy.Decision, c *claims.Access, tokenHash string) {
	p.cfg.Metrics.AuthDecisions.WithLabelValues(rt.name, "deny", d.Reason).Inc()
	attrs := []slog.Attr{slog.String("route", rt.name), slog.String("detail", d.Detail)}
	if tokenHash != "" {
		attrs = append(attrs, slog.String("token_hash", tokenHash))
	}
	p.cfg.Audit.Log(ctx, audit.Event{
		Name: audit.AccessDenied, ClientID: c.ClientID, Subject: c.Principal(), Session: c.SessionID,
		RequestID: requestid.From(ctx), RemoteAddr: r.RemoteAddr, Reason: d.Reason, Attrs: attrs,
	})
}

func (p *Proxy) count(route, method string, code int) {
	k := counterKey{route, metricMethod(method), code}
	p.countersMu.RLock()
	c, ok := p.counters[k]
	p.countersMu.RUnlock()
	if !ok {
		c = p.cfg.Metrics.HTTPRequests.WithLabelValues(k.route, k.method, strconv.Itoa(code))
		p.countersMu.Lock()
		p.counters[k] = c // bounded: routes × standard methods × status codes
		p.countersMu.Unlock()
	}
	c.Inc()
}

// counterKey names one erpgate_http_requests_total series.
type counterKey struct {
	route, method string
	code          int
}

// metricMethod bounds the method label to the standard methods.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// statusWriter remembers the status code for the metrics. Unwrap lets
// http.ResponseController (used by ReverseProxy for flushing and websocket
// upgrades) reach the real writer.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}
