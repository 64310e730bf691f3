package proxy

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/net/http/httpguts"

	"github.com/erpgate/erpgate/live"
	"github.com/erpgate/erpgate/requestid"
)

// Live connections (package live): a proxied request that outlives its
// call is registered while it lasts, so it is closed when its session
// ends or its credential may no longer act (SPEC §12). Only such
// requests pay for it: an upgrade request (its Upgrade header, one map
// lookup on every request) and a response of unknown length (checked in
// ModifyResponse); the ordinary call registers nothing.

// isUpgrade reports whether r asks to switch protocols (RFC 9110 §7.8),
// as httputil.ReverseProxy reads it.
func isUpgrade(r *http.Request) bool {
	if _, ok := r.Header["Upgrade"]; !ok {
		return false
	}
	return httpguts.HeaderValuesContainsToken(r.Header["Connection"], "Upgrade")
}

// watchUpgrade returns w with the connection ReverseProxy hijacks, once
// the upstream switched protocols, registered as a live connection.
func (p *Proxy) watchUpgrade(w http.ResponseWriter, r *http.Request, id *identity) http.ResponseWriter {
	return &upgradeWriter{
		ResponseWriter: w, reg: p.cfg.Live, id: id,
		websocket: strings.EqualFold(r.Header.Get("Upgrade"), "websocket"),
		remote:    r.RemoteAddr, requestID: requestid.From(r.Context()),
	}
}

// upgradeWriter is the response writer of an allowed upgrade request.
// http.ResponseController (which ReverseProxy hijacks with) stops at its
// Hijack; everything else it reaches through Unwrap.
type upgradeWriter struct {
	http.ResponseWriter
	reg       *live.Registry
	id        *identity
	websocket bool
	remote    string
	requestID string
}

func (u *upgradeWriter) Unwrap() http.ResponseWriter { return u.ResponseWriter }

func (u *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(u.ResponseWriter).Hijack()
	if err != nil {
		return conn, brw, err
	}
	// ReverseProxy writes the 101 to the hijacked connection itself.
	if sw, ok := u.ResponseWriter.(*statusWriter); ok && sw.code == 0 {
		sw.code = http.StatusSwitchingProtocols
	}
	c := &live.Conn{
		Kind: live.KindWebSocket, Route: u.id.route, Caller: u.id.caller,
		RemoteAddr: u.remote, RequestID: u.requestID,
	}
	if !u.websocket {
		// Another protocol: no frames to end at; the connection is
		// closed as it is.
		oc := &onceConn{Conn: conn}
		oc.onClose = func() { u.reg.Remove(c) }
		c.Close = func(live.Reason) { _ = oc.Close() }
		u.reg.Add(c)
		return oc, brw, nil
	}
	ws := live.NewWebSocket(conn, func() { u.reg.Remove(c) })
	c.Close = ws.CloseFor
	u.reg.Add(c)
	return ws, brw, nil
}

// onceConn runs onClose when it is first closed.
type onceConn struct {
	net.Conn
	onClose func()
	once    sync.Once
}

func (o *onceConn) Close() error {
	err := o.Conn.Close()
	o.once.Do(o.onClose)
	return err
}

// watchStream is ReverseProxy's ModifyResponse: a response of an
// authenticated caller whose length is unknown — server-sent events, a
// chunked long poll, any stream — is registered until its body closes.
// A response with a Content-Length costs one comparison.
func (p *Proxy) watchStream(res *http.Response) error {
	if res.ContentLength >= 0 || p.cfg.Live == nil || res.StatusCode == http.StatusSwitchingProtocols ||
		res.Body == nil || res.Body == http.NoBody || res.Request == nil || res.Request.Method == http.MethodHead {
		return nil
	}
	id, _ := res.Request.Context().Value(identityKey{}).(*identity)
	if id == nil || id.caller == nil { // a public route: no credential to lose
		return nil
	}
	in := res.Request
	c := &live.Conn{
		Kind: live.KindStream, Route: id.route, Caller: id.caller,
		RemoteAddr: in.RemoteAddr, RequestID: requestid.From(in.Context()),
	}
	s := live.NewStream(res.Body, func() { p.cfg.Live.Remove(c) })
	c.Close = s.CutFor
	p.cfg.Live.Add(c)
	res.Body = s
	return nil
}
