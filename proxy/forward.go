package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/clientaddr"
	"github.com/erpgate/erpgate/requestid"
)

// Identity headers set on every authorized upstream request (SPEC §4).
// Any X-Auth-* header the client sent, in any spelling, is removed first
// (scrubHeaders, hygiene.go).
const (
	hdrSubject  = "X-Auth-Subject"
	hdrUserID   = "X-Auth-User-Id"
	hdrClientID = "X-Auth-Client-Id"
	hdrScope    = "X-Auth-Scope"
	hdrSession  = "X-Auth-Session"
	hdrUserType = "X-Auth-User-Type"
)

// NewTransport is the default upstream transport: one per upstream, with
// enough idle connections that a busy route never pays for a new TCP
// connection per request (the default 2 per host does).
func NewTransport(responseHeaderTimeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy: nil, // never route ERP traffic through an environment proxy
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: responseHeaderTimeout,
	}
}

// identityKey carries the verified claims from ServeHTTP to Rewrite.
type identityKey struct{}

// identityContext is the context the identity travels in: one
// allocation for the context node and the identity, where
// context.WithValue and the identity cost two on every request.
type identityContext struct {
	context.Context
	identity
}

// Value answers identityKey with the *identity.
func (c *identityContext) Value(key any) any {
	if _, ok := key.(identityKey); ok {
		return &c.identity
	}
	return c.Context.Value(key)
}

type identity struct {
	claims    *claims.Access
	dropToken bool // don't pass Authorization upstream
	// bearer, when set, is the token of a DPoP request (RFC 9449 §7.1),
	// passed upstream as "Authorization: Bearer": the gateway checked
	// the proof, which names the gateway's URL, not the upstream's, and
	// ERP APIs take bearer tokens. The token stays bound: the gateway
	// refuses it as a bearer token.
	bearer string
	// caller and route name a live connection (live.go).
	caller *authority.Caller
	route  string
}

// bufferPool shares 32 KiB copy buffers across all routes.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}
func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }

// newReverseProxy builds the forwarder of one route.
func (p *Proxy) newReverseProxy(name string, up Upstream) *httputil.ReverseProxy {
	target := up.URL
	observer := p.cfg.Metrics.UpstreamDuration.WithLabelValues(name)
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			trusted := p.trustedPeer(pr.In)
			scrubHeaders(pr.Out.Header, trusted) // hygiene.go
			p.setForwarded(pr, trusted)
			setIdentity(pr)
			p.stripGatewayCookies(pr) // browser.go
		},
		Transport:  timedTransport{rt: up.Transport, observe: observer},
		BufferPool: p.buffers,
		// FlushInterval stays 0: ReverseProxy already flushes at once for
		// streams (no Content-Length) and server-sent events; -1 for
		// every response would cost a timer and a goroutine each.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.upstreamFailed(w, r, name, err)
		},
		// Failures after the response started (an upstream reset mid-body)
		// reach only ErrorLog; without it they go to the standard logger.
		ErrorLog: slog.NewLogLogger(p.cfg.Logger.With("route", name).Handler(), slog.LevelWarn),

		// Streams of an authenticated caller are tracked (live.go).
		ModifyResponse: p.watchStream,
	}
}

// setForwarded sets X-Forwarded-For/Host/Proto. Client-sent values are kept
// only when the direct peer is a trusted proxy (trustedPeer, of
// clientaddr.Peer: the connection's, since RemoteAddr already names the
// client); otherwise they are replaced (ReverseProxy has already dropped
// the inbound ones from Out, scrubHeaders their other spellings): Host is
// then this request's, which the host check let in (package hostcheck).
func (p *Proxy) setForwarded(pr *httputil.ProxyRequest, trustedPeer bool) {
	in := pr.In.Header
	setXForwarded(pr) // For = the client, Host and Proto = this request's
	if !trustedPeer {
		return
	}
	peer := clientaddr.Peer(pr.In)
	// The trusted proxy's chain, and then the proxy itself (RFC 7239 §5.2:
	// each hop appends the address it received the request from).
	if v := in.Values("X-Forwarded-For"); len(v) > 0 {
		pr.Out.Header.Set("X-Forwarded-For", strings.Join(v, ", ")+", "+clientaddr.IP(peer))
	}
	if v := in.Get("X-Forwarded-Host"); v != "" {
		pr.Out.Header.Set("X-Forwarded-Host", v)
	}
	if v := in.Get("X-Forwarded-Proto"); v == "http" || v == "https" {
		pr.Out.Header.Set("X-Forwarded-Proto", v)
	}
}

// setXForwarded is ProxyRequest.SetXForwarded for an outbound request
// without X-Forwarded-For (ReverseProxy dropped it): the three values in
// one backing array, under their canonical names, where SetXForwarded's
// three Header.Set canonicalise each name and allocate each value.
func setXForwarded(pr *httputil.ProxyRequest) {
	h := pr.Out.Header
	if len(h["X-Forwarded-For"]) > 0 { // not from ReverseProxy: append as SetXForwarded does
		pr.SetXForwarded()
		return
	}
	v := [3]string{"", pr.In.Host, "http"}
	if pr.In.TLS != nil {
		v[2] = "https"
	}
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		v[0] = ip
		h["X-Forwarded-For"] = v[0:1:1]
	} else {
		delete(h, "X-Forwarded-For")
	}
	h["X-Forwarded-Host"] = v[1:2:2]
	h["X-Forwarded-Proto"] = v[2:3:3]
}

func (p *Proxy) trusted(remoteAddr string) bool {
	return clientaddr.Resolver{Trusted: p.cfg.TrustedProxies}.Trusts(remoteAddr)
}

// trustedPeer reports whether r's direct peer is a trusted proxy; without
// trusted proxies it does not look the peer up in r's context.
func (p *Proxy) trustedPeer(r *http.Request) bool {
	return len(p.cfg.TrustedProxies) > 0 && p.trusted(clientaddr.Peer(r))
}

// setIdentity sets our identity headers; scrubHeaders has removed every
// client-sent X-Auth-* header before.
func setIdentity(pr *httputil.ProxyRequest) {
	h := pr.Out.Header
	id, _ := pr.In.Context().Value(identityKey{}).(*identity)
	if id == nil { // public route
		h[requestid.Header] = []string{requestid.From(pr.In.Context())}
		return
	}
	c := id.claims
	// One backing array for all the values: one allocation, not seven.
	v := [...]string{requestid.From(pr.In.Context()), c.Principal(), c.ClientID, c.ScopeString(), c.SessionID, c.UserID, c.PrincipalType()}
	h[requestid.Header] = v[0:1:1]
	h[hdrSubject] = v[1:2:2]
	h[hdrClientID] = v[2:3:3]
	h[hdrScope] = v[3:4:4]
	h[hdrSession] = v[4:5:5]
	if v[5] != "" {
		h[hdrUserID] = v[5:6:6]
	}
	if v[6] != "" {
		h[hdrUserType] = v[6:7:7]
	}
	if id.bearer != "" {
		h["Authorization"] = []string{"Bearer " + id.bearer}
		delete(h, "Dpop") // the proof is spent, and names the gateway's URL
		// On an exchange route the bearer replaces the caller's credential,
		// which may have come as an API key (a DPoP request has none).
		for _, k := range authority.APIKeyHeaders {
			delete(h, k)
		}
	}
	if id.dropToken {
		delete(h, "Authorization")
	}
}

// timedTransport observes how long the upstream takes to answer.
type timedTransport struct {
	rt      http.RoundTripper
	observe prometheus.Observer
}

func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.rt.RoundTrip(r)
	t.observe.Observe(time.Since(start).Seconds())
	return resp, err
}

// upstreamFailed answers 504 when the upstream was too slow and 502 when
// it could not be reached or broke the connection.
func (p *Proxy) upstreamFailed(w http.ResponseWriter, r *http.Request, route string, err error) {
	if b := idleBodyOf(r); b != nil && b.clientIdle(time.Now()) { // clientidle.go
		// The client stopped sending its body; it, not the upstream,
		// is at fault. (Its read error also cancelled the request's
		// context, so this comes before the check below.)
		p.cfg.Logger.InfoContext(r.Context(), "client sent no request body for too long; dropped",
			"route", route, "client_idle_timeout", b.idle, "request_id", requestid.From(r.Context()))
		p.answer(w, r, hints{}, func(w http.ResponseWriter) {
			authority.WriteJSONError(w, http.StatusRequestTimeout, authority.ErrorBody{Error: "request_timeout", Description: "the request body did not arrive in time"})
		})
		return
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away; nobody is left to answer.
		w.WriteHeader(499)
		return
	}
	p.cfg.Logger.WarnContext(r.Context(), "upstream request failed",
		"route", route, "err", err, "request_id", requestid.From(r.Context()))
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
	p.answer(w, r, hints{}, func(w http.ResponseWriter) {
		if timeout {
			authority.WriteJSONError(w, http.StatusGatewayTimeout, authority.ErrorBody{Error: "upstream_timeout", Description: "the upstream did not answer in time"})
			return
		}
		authority.WriteJSONError(w, http.StatusBadGateway, authority.ErrorBody{Error: "bad_gateway", Description: "the upstream could not be reached"})
	})
}

// Upstream is where a route forwards to.
type Upstream struct {
	URL *url.URL
	// Transport defaults to NewTransport(Timeout).
	Transport http.RoundTripper
	// Timeout bounds the wait for the upstream's response headers (not
	// the body, so long downloads and streams are not cut).
	Timeout time.Duration
	// StripAuthorization keeps the bearer token from the upstream.
	StripAuthorization bool
	// Exchange, when set, forwards a token exchanged for this upstream
	// instead of the caller's (exchange.go).
	Exchange *Exchange
	// ClientIdleTimeout drops a client that sends nothing of its request
	// body for this long (408, and the connection is closed), however
	// long the whole upload takes. 0: no limit.
	ClientIdleTimeout time.Duration
}
