package clientaddr

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver knows which peers may speak for a client.
type Resolver struct {
	// Trusted are the proxies whose X-Forwarded-For is believed.
	Trusted []netip.Prefix
}

// Trusts reports whether addr (host or host:port) is a trusted proxy.
func (res Resolver) Trusts(addr string) bool {
	if len(res.Trusted) == 0 { // most deployments: no address to parse
		return false
	}
	a, ok := parse(addr)
	if !ok {
		return false
	}
	for _, p := range res.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client returns the client address of a request whose direct peer is
// peer (host:port) and whose X-Forwarded-For values are xff: the peer
// itself unless it is trusted; otherwise the right-most address in
// X-Forwarded-For that is not a trusted proxy (RFC 7239 §5.2: each proxy
// appends, so anything left of the first untrusted hop may be forged).
func (res Resolver) Client(peer string, xff []string) netip.Addr {
	a, ok := parse(peer)
	if !ok {
		return netip.Addr{}
	}
	if !res.Trusts(peer) {
		return a
	}
	hops := strings.Split(strings.Join(xff, ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h, ok := parse(strings.TrimSpace(hops[i]))
		if !ok {
			return a // a malformed hop: believe no further
		}
		a = h
		if !res.Trusts(h.String()) {
			return h
		}
	}
	return a // every hop is trusted: the left-most
}

type peerKey struct{}

// Middleware serves every request as Resolve rewrites it.
func (res Resolver) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, res.Resolve(r))
	})
}

// Resolve returns r with RemoteAddr set to the client's address (with
// the peer's port, so it stays host:port) and the peer kept for Peer;
// r itself when the peer is not a trusted proxy.
func (res Resolver) Resolve(r *http.Request) *http.Request {
	peer := r.RemoteAddr
	if len(res.Trusted) == 0 || !res.Trusts(peer) {
		return r
	}
	c := res.Client(peer, r.Header.Values("X-Forwarded-For"))
	if !c.IsValid() {
		return r
	}
	_, port, _ := net.SplitHostPort(peer)
	r2 := r.WithContext(context.WithValue(r.Context(), peerKey{}, peer))
	r2.RemoteAddr = net.JoinHostPort(c.String(), port)
	return r2
}

// Peer is the direct TCP peer of r: what RemoteAddr was before
// Middleware put the client there.
func Peer(r *http.Request) string {
	if p, ok := r.Context().Value(peerKey{}).(string); ok {
		return p
	}
	return r.RemoteAddr
}

// IP is the address part of a host:port RemoteAddr (or the whole of it
// when it has no port), as throttles key on it.
func IP(remoteAddr string) string {
	if a, ok := parse(remoteAddr); ok {
		return a.String()
	}
	return remoteAddr
}

func parse(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}
