package live

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of closing a WebSocket.
const (
	// boundaryWait bounds the wait for the frame being written to the
	// client to end (and for a Write blocked on a slow client): past it
	// the connection is closed without a Close frame.
	boundaryWait = 300 * time.Millisecond
	// lingerWait is how long the client may take to read the Close frame
	// and answer it before the socket is closed (RFC 6455 §7.1.1: the
	// server closes the TCP connection first; closing it with the
	// client's answer unread would reset it, and could lose the frame).
	lingerWait = time.Second
)

// closePolicyViolation is the status of the Close frame (RFC 6455 §7.4.1:
// "an endpoint is terminating the connection because it has received a
// message that violates its policy"): the caller may no longer act.
const closePolicyViolation = 1008

// closeGoingAway is the status when the gateway stops (RFC 6455 §7.4.1:
// "an endpoint is going away, such as a server going down").
const closeGoingAway = 1001

// closeCode is the Close frame status for reason.
func closeCode(reason Reason) uint16 {
	if reason.Code == ReasonShutdown {
		return closeGoingAway
	}
	return closePolicyViolation
}

// errClosedForReason ends the proxy's copy to the client once the Close
// frame is sent.
var errClosedForReason = errors.New("live: websocket closed by the gateway")

// WebSocket is the client side of an upgraded connection, as the proxy
// hands it to httputil.ReverseProxy: it passes every byte through, and
// follows the frames written to the client (server frames are unmasked,
// RFC 6455 §5.2), so that CloseFor can end the stream at a frame
// boundary with a Close frame (§5.5.1). A Close frame may come between
// the fragments of a message (§5.4), so any frame boundary will do.
type WebSocket struct {
	net.Conn
	onClose func() // once, when the connection is closed

	mu      sync.Mutex // one Write, or the close, at a time
	frames  frameTracker
	pending *Reason // CloseFor is waiting for the frame in progress to end

	sentClose atomic.Bool
	closed    atomic.Bool
	closeOnce sync.Once
}

// NewWebSocket wraps c, the hijacked client connection; onClose, if not
// nil, runs once when it closes (the proxy unregisters it then).
func NewWebSocket(c net.Conn, onClose func()) *WebSocket {
	return &WebSocket{Conn: c, onClose: onClose}
}

// Write passes b to the client. After CloseFor, it writes only what ends
// the frame in progress, then the Close frame, and fails.
func (w *WebSocket) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed.Load() || w.sentClose.Load() {
		return 0, net.ErrClosed
	}
	if w.pending == nil {
		w.frames.feed(b, false)
		return w.Conn.Write(b)
	}
	n := w.frames.feed(b, true)
	written, err := w.Conn.Write(b[:n])
	if err != nil || !w.frames.atBoundary() {
		return written, err // n == len(b): the frame goes on in the next Write
	}
	w.sendCloseLocked(*w.pending)
	return written, errClosedForReason
}

// CloseFor ends the connection for reason: a Close frame with status
// 1008 and reason's text at the next frame boundary, then both
// connections close (the proxy closes the upstream's when its copy to
// the client fails). If no boundary comes within boundaryWait — a large
// frame, or an upstream that stopped in the middle of one — the
// connection is closed without it.
func (w *WebSocket) CloseFor(reason Reason) {
	// A Write blocked on a client that reads nothing holds mu: make it
	// fail by the bound.
	_ = w.Conn.SetWriteDeadline(time.Now().Add(boundaryWait))
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed.Load() || w.sentClose.Load() || w.pending != nil {
		return
	}
	if w.frames.atBoundary() {
		w.sendCloseLocked(reason)
		return
	}
	w.pending = &reason
	time.AfterFunc(boundaryWait, func() {
		if !w.sentClose.Load() {
			_ = w.Close()
		}
	})
}

// sendCloseLocked writes the Close frame and half-closes the connection:
// the client reads the frame, then EOF. w.mu must be held.
func (w *WebSocket) sendCloseLocked(reason Reason) {
	w.sentClose.Store(true)
	if _, err := w.Conn.Write(closeFrame(closeCode(reason), reason.Text())); err != nil {
		_ = w.Close()
		return
	}
	if cw, ok := w.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	// End the proxy's copy to the upstream now, even while it waits for a
	// client that sends nothing: its failed read ends the proxied
	// request, which closes the upstream connection, then this one
	// (Close lingers for the client's answer).
	_ = w.Conn.SetReadDeadline(time.Now())
}

// Close closes the connection. After a Close frame it first lets the
// client read it and answer, for up to lingerWait, reading (and
// dropping) what it still sends.
func (w *WebSocket) Close() error {
	var err error
	w.closeOnce.Do(func() {
		w.closed.Store(true)
		if w.onClose != nil {
			defer w.onClose()
		}
		if !w.sentClose.Load() {
			err = w.Conn.Close()
			return
		}
		_ = w.Conn.SetReadDeadline(time.Now().Add(lingerWait))
		go func() {
			_, _ = io.Copy(io.Discard, w.Conn)
			_ = w.Conn.Close()
		}()
	})
	return err
}

// Read is the client's bytes; the proxy copies them to the upstream.
func (w *WebSocket) Read(b []byte) (int, error) {
	if w.sentClose.Load() {
		// The client's answer to the Close frame is for the gateway, not
		// the upstream. An error, not EOF: EOF would half-close the
		// upstream and wait for it to hang up; an error ends the proxied
		// request, which closes the upstream connection now.
		return 0, errClosedForReason
	}
	return w.Conn.Read(b)
}

// closeFrame is a Close frame (RFC 6455 §5.5.1): FIN and opcode 0x8, an
// unmasked payload of the status code (2 bytes, network order) and the
// reason, at most 125 bytes in all (§5.5).
func closeFrame(code uint16, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	f := make([]byte, 4, 4+len(reason))
	f[0] = 0x80 | 0x8
	f[1] = byte(2 + len(reason))
	binary.BigEndian.PutUint16(f[2:], code)
	return append(f, reason...)
}

// frameTracker follows the frame boundaries of a byte stream of
// WebSocket frames (RFC 6455 §5.2): a 2-byte header, then a 16- or
// 64-bit extended length when the 7-bit one is 126 or 127, then a 4-byte
// masking key when the mask bit is set, then the payload.
type frameTracker struct {
	header [14]byte
	have   int    // header bytes seen of the frame in progress
	left   uint64 // payload bytes still to come, once the header is whole
	inBody bool
}

func (f *frameTracker) atBoundary() bool { return f.have == 0 && !f.inBody }

// feed consumes b and returns how many bytes it took: all of them, or
// with stop those up to the first frame boundary (0 when at one).
func (f *frameTracker) feed(b []byte, stop bool) int {
	n := 0
	for n < len(b) {
		if stop && f.atBoundary() {
			return n
		}
		if f.inBody {
			k := uint64(len(b) - n)
			if k > f.left {
				k = f.left
			}
			n += int(k)
			f.left -= k
			if f.left == 0 {
				f.inBody = false
			}
			continue
		}
		f.header[f.have] = b[n]
		f.have++
		n++
		if need := headerLen(f.header[:f.have]); f.have == need {
			f.left = payloadLen(f.header[:need])
			f.have = 0
			f.inBody = f.left > 0
		}
	}
	return n
}

// headerLen is the length of the frame header that begins with h, or
// 14 (the longest) while fewer than 2 bytes are known.
func headerLen(h []byte) int {
	if len(h) < 2 {
		return 14
	}
	n := 2
	switch h[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h[1]&0x80 != 0 {
		n += 4 // masking key
	}
	return n
}

// payloadLen reads the payload length of the whole header h.
func payloadLen(h []byte) uint64 {
	switch l := h[1] & 0x7f; l {
	case 126:
		return uint64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		return binary.BigEndian.Uint64(h[2:10])
	default:
		return uint64(l)
	}
}
