package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// idleBody is a request body the client must keep sending. Bodies are
// streamed to the upstream, never buffered, so an upload may take as
// long as it needs; but each Read pushes the connection's read deadline
// idle ahead (http.ResponseController), so a client that sends nothing
// for that long — one that declared Content-Length: 1000 and sent 3
// bytes — fails the Read, the upstream call ends, the handler returns and
// the connection is closed, instead of holding a goroutine, a file
// descriptor and an upstream connection for as long as it likes.
type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	// off: the writer has no read deadline (an in-process caller).
	off bool
	// reading is the deadline (Unix ns) of the Read in progress, 0
	// between Reads; timedOut is set once a Read ended at its deadline.
	// The transport reads the body on its own goroutine, and the failed
	// read cancels the request before the Read returns, so the handler
	// may learn of the failure first: clientIdle looks at both.
	reading  atomic.Int64
	timedOut atomic.Bool
}

// idleBodyKey carries a request's *idleBody to upstreamFailed (whose
// request is ReverseProxy's copy, with the body wrapped again).
type idleBodyKey struct{}

// withClientIdle returns r with its body, if it has one, wrapped so the
// client must keep sending it (idleBody); r itself is not changed.
func withClientIdle(w http.ResponseWriter, r *http.Request, idle time.Duration) *http.Request {
	if idle <= 0 || r.Body == nil || r.Body == http.NoBody {
		return r
	}
	b := &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: idle}
	r = r.WithContext(context.WithValue(r.Context(), idleBodyKey{}, b))
	r.Body = b
	return r
}

// idleBodyOf is the idleBody of r, or nil.
func idleBodyOf(r *http.Request) *idleBody {
	b, _ := r.Context().Value(idleBodyKey{}).(*idleBody)
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	if !b.off {
		d := time.Now().Add(b.idle)
		if b.rc.SetReadDeadline(d) != nil {
			b.off = true // http.ErrNotSupported: nothing to extend
		} else {
			b.reading.Store(d.UnixNano())
		}
	}
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == nil || b.off:
	case err == io.EOF:
		// The whole body arrived. The deadline must not outlive it: the
		// server keeps reading the connection while the upstream answers
		// (to notice a client that goes away), and a read that ends at
		// the deadline would cancel the request.
		_ = b.rc.SetReadDeadline(time.Time{})
	case isTimeout(err):
		// Keep the deadline: closing the body reads what is left of it,
		// and that read must fail at once too.
		b.timedOut.Store(true)
	}
	b.reading.Store(0)
	return n, err
}

// clientIdle reports whether the client has sent nothing for the idle
// time: a Read ended at its deadline, or one is still waiting past it.
func (b *idleBody) clientIdle(now time.Time) bool {
	if b.timedOut.Load() {
		return true
	}
	d := b.reading.Load()
	return d != 0 && now.UnixNano() >= d
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
