package live

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
)

// Stream is the upstream's body of a streamed response, as the proxy
// copies it to the client. Cut ends it: the copy's read fails, and
// httputil.ReverseProxy aborts the response (http.ErrAbortHandler), so
// the client sees the stream cut — on HTTP/1.1 the connection closes, on
// HTTP/2 the stream is reset. A clean end would read as "the stream is
// over", which it is not: the caller may no longer have it.
type Stream struct {
	body    io.ReadCloser
	onClose func()
	cut     atomic.Bool
	once    sync.Once
}

// NewStream wraps body; onClose, if not nil, runs once when it closes
// (the proxy unregisters it then).
func NewStream(body io.ReadCloser, onClose func()) *Stream {
	return &Stream{body: body, onClose: onClose}
}

func (s *Stream) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	if s.cut.Load() {
		// context.Canceled: the proxy does not log it as an upstream
		// failure; it still aborts the response.
		return n, context.Canceled
	}
	return n, err
}

// Close closes the upstream's body.
func (s *Stream) Close() error {
	err := s.body.Close()
	s.once.Do(func() {
		if s.onClose != nil {
			s.onClose()
		}
	})
	return err
}

// CutFor ends the stream; the reason is the registry's to log.
func (s *Stream) CutFor(Reason) {
	s.cut.Store(true)
	// Closing the body unblocks the Read waiting for the next event
	// (http.Transport's bodies may be closed while read).
	_ = s.Close()
}
