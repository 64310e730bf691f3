package live

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// frame builds one unmasked server frame (RFC 6455 §5.2) with a payload
// of n bytes of b, in the shortest length encoding.
func frame(opcode byte, n int, b byte) []byte {
	h := []byte{0x80 | opcode}
	switch {
	case n < 126:
		h = append(h, byte(n))
	case n <= 0xffff:
		h = append(h, 126, 0, 0)
		binary.BigEndian.PutUint16(h[2:], uint16(n))
	default:
		h = append(h, 127, 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint64(h[2:], uint64(n))
	}
	return append(h, bytes.Repeat([]byte{b}, n)...)
}

// The tracker finds every boundary whatever the length encoding, with a
// masking key, and however the bytes are split across writes.
func TestFrameTrackerBoundaries(t *testing.T) {
	masked := []byte{0x81, 0x80 | 3, 1, 2, 3, 4, 'a', 'b', 'c'}
	stream := bytes.Join([][]byte{frame(0x1, 5, 'a'), frame(0x2, 300, 'b'), frame(0x2, 70000, 'c'), masked, frame(0x9, 0, 0)}, nil)
	boundaries := map[int]bool{0: true}
	at := 0
	for _, n := range []int{7, 304, 70010, len(masked), 2} {
		at += n
		boundaries[at] = true
	}
	for _, step := range []int{1, 2, 3, 13, 4096, len(stream)} {
		var f frameTracker
		for off := 0; off < len(stream); {
			end := min(off+step, len(stream))
			if n := f.feed(stream[off:end], false); n != end-off {
				t.Fatalf("step %d: feed took %d of %d", step, n, end-off)
			}
			off = end
			if got := f.atBoundary(); got != boundaries[off] {
				t.Fatalf("step %d: at byte %d atBoundary = %v, want %v", step, off, got, boundaries[off])
			}
		}
	}
	// With stop, feed takes exactly up to the next boundary.
	var f frameTracker
	if n := f.feed(stream[:3], false); n != 3 {
		t.Fatal(n)
	}
	if n := f.feed(stream[3:], true); n != 4 {
		t.Fatalf("stop: took %d, want the 4 bytes ending the first frame", n)
	}
	if n := f.feed(stream[7:], true); n != 0 {
		t.Fatalf("stop at a boundary: took %d, want 0", n)
	}
}

// pipe is a WebSocket over one end of net.Pipe; the test reads the other.
func pipe(t *testing.T) (*WebSocket, net.Conn, chan struct{}) {
	t.Helper()
	a, b := net.Pipe()
	closed := make(chan struct{})
	ws := NewWebSocket(a, func() { close(closed) })
	t.Cleanup(func() { a.Close(); b.Close() })
	return ws, b, closed
}

// readAll collects what the client end receives until it is closed.
func readAll(c net.Conn) <-chan []byte {
	out := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(c)
		out <- b
	}()
	return out
}

var reason = Reason{Code: "session_ended"}

// At a boundary the Close frame goes at once: 1008 and the reason text.
func TestWebSocketCloseAtBoundary(t *testing.T) {
	ws, client, closed := pipe(t)
	got := readAll(client)
	first := frame(0x1, 5, 'a')
	if n, err := ws.Write(first); n != len(first) || err != nil {
		t.Fatal(n, err)
	}
	ws.CloseFor(reason)
	if _, err := ws.Write(frame(0x1, 5, 'b')); err == nil {
		t.Fatal("a Write after the Close frame succeeded")
	}
	_ = ws.Close()
	<-closed
	want := append(first, closeFrame(1008, "session ended")...)
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("client got % x\nwant % x", b, want)
	}
	if want[len(first)] != 0x88 || want[len(first)+1] != 15 || binary.BigEndian.Uint16(want[len(first)+2:]) != 1008 {
		t.Fatalf("close frame % x", want[len(first):])
	}
}

// When the gateway stops, the Close frame says 1001 going away (RFC 6455
// §7.4.1): the client may reconnect at once, elsewhere.
func TestWebSocketGoingAway(t *testing.T) {
	ws, client, closed := pipe(t)
	got := readAll(client)
	ws.CloseFor(Reason{Code: ReasonShutdown})
	_ = ws.Close()
	<-closed
	if b, want := <-got, closeFrame(1001, "going away"); !bytes.Equal(b, want) {
		t.Fatalf("client got % x\nwant % x", b, want)
	}
}

// In the middle of a frame the close waits for the frame to end, sends
// nothing after it but the Close frame, and ends the proxy's copy.
func TestWebSocketCloseMidFrame(t *testing.T) {
	ws, client, _ := pipe(t)
	got := readAll(client)
	big := frame(0x2, 1000, 'x')
	next := frame(0x1, 3, 'n')
	if _, err := ws.Write(big[:100]); err != nil {
		t.Fatal(err)
	}
	ws.CloseFor(reason)
	if n, err := ws.Write(big[100:500]); n != 400 || err != nil {
		t.Fatalf("the frame's middle: %d, %v", n, err)
	}
	rest := append(big[500:], next...)
	n, err := ws.Write(rest)
	if n != len(big)-500 || !errors.Is(err, errClosedForReason) {
		t.Fatalf("the frame's end and the next: wrote %d, %v; want %d, errClosedForReason", n, err, len(big)-500)
	}
	_ = ws.Close()
	want := append(big, closeFrame(1008, "session ended")...)
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("client got %d bytes, want the frame and the Close frame (%d)", len(b), len(want))
	}
}

// A frame that does not end within boundaryWait (an upstream stalled in
// the middle of one) does not keep the connection: it is closed without
// a Close frame.
func TestWebSocketCloseWithoutBoundary(t *testing.T) {
	ws, client, closed := pipe(t)
	got := readAll(client)
	big := frame(0x2, 1000, 'x')
	if _, err := ws.Write(big[:10]); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ws.CloseFor(reason)
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("still open")
	}
	if took := time.Since(start); took < boundaryWait {
		t.Fatalf("closed after %v, before boundaryWait", took)
	}
	if b := <-got; !bytes.Equal(b, big[:10]) {
		t.Fatalf("client got % x", b)
	}
}

func TestCloseFrameReasonBounded(t *testing.T) {
	f := closeFrame(1008, string(bytes.Repeat([]byte("r"), 200)))
	if len(f) != 2+125 || f[1] != 125 {
		t.Fatalf("close frame of %d bytes, length byte %d; control frames carry at most 125 (RFC 6455 §5.5)", len(f), f[1])
	}
}
