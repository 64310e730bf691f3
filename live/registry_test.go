package live

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/session"
)

// judgeFunc is a Judge for tests.
type judgeFunc func(*authority.Caller) *authority.Refusal

func (f judgeFunc) Recheck(_ context.Context, c *authority.Caller) *authority.Refusal { return f(c) }

type closes struct {
	mu  sync.Mutex
	got map[string]Reason // conn name -> reason
}

func (c *closes) conn(r *Registry, name, sid, jti string) *Conn {
	conn := &Conn{
		Kind: KindStream, Route: "r", Caller: &authority.Caller{Claims: &claims.Access{SessionID: sid, ID: jti}},
		Close: func(reason Reason) { c.mu.Lock(); c.got[name] = reason; c.mu.Unlock() },
	}
	r.Add(conn)
	return conn
}

func (c *closes) wait(t *testing.T, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c.mu.Lock()
		ok := len(c.got) == len(want)
		for name, code := range want {
			ok = ok && c.got[name].Code == code
		}
		got := c.got
		c.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("closed %v, want %v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newTestRegistry(t *testing.T, j Judge) (*Registry, *metrics.Live) {
	m := metrics.NewLive(prometheus.NewRegistry())
	r, err := New(Config{Judge: j, Clock: time.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return r, m
}

// Events close exactly the connections of their session or token, each
// once; a connection removed by its own end is not closed.
func TestRegistryEvents(t *testing.T) {
	r, m := newTestRegistry(t, judgeFunc(func(*authority.Caller) *authority.Refusal { return nil }))
	c := &closes{got: map[string]Reason{}}
	c.conn(r, "a1", "sid-a", "jti-a")
	c.conn(r, "a2", "sid-a", "jti-a2")
	c.conn(r, "b", "sid-b", "jti-b")
	gone := c.conn(r, "gone", "sid-a", "jti-gone")
	r.Remove(gone)
	r.Remove(gone) // twice: counted once
	if n := testutil.ToFloat64(m.Connections.WithLabelValues(KindStream)); n != 3 {
		t.Fatalf("gauge %v, want 3", n)
	}
	ctx := context.Background()
	r.SessionEnded(ctx, session.Info{ID: "sid-a", EndReason: "logout"})
	r.SessionEnded(ctx, session.Info{ID: "sid-a", EndReason: "logout"}) // SyncEnded re-reads ends: harmless
	r.TokenRevoked(ctx, "jti-b")
	r.TokenRevoked(ctx, "")
	c.wait(t, map[string]string{"a1": authority.ReasonSessionEnded, "a2": authority.ReasonSessionEnded, "b": authority.ReasonRevoked})
	if r.Len() != 0 || testutil.ToFloat64(m.Connections.WithLabelValues(KindStream)) != 0 {
		t.Fatalf("%d left, gauge %v", r.Len(), testutil.ToFloat64(m.Connections.WithLabelValues(KindStream)))
	}
	if n := testutil.ToFloat64(m.Closed.WithLabelValues(authority.ReasonSessionEnded)); n != 2 {
		t.Fatalf("closed{session_ended} = %v, want 2", n)
	}
}

// Recheck closes what the authority refuses, with its reason, and keeps
// what it cannot judge because the store did not answer.
func TestRegistryRecheck(t *testing.T) {
	r, _ := newTestRegistry(t, judgeFunc(func(c *authority.Caller) *authority.Refusal {
		switch c.Claims.SessionID {
		case "sid-disabled":
			return &authority.Refusal{Reason: authority.ReasonAppDisabled}
		case "sid-unavailable":
			return &authority.Refusal{Reason: authority.ReasonUnavailable}
		}
		return nil
	}))
	c := &closes{got: map[string]Reason{}}
	c.conn(r, "disabled", "sid-disabled", "j1")
	c.conn(r, "unavailable", "sid-unavailable", "j2")
	c.conn(r, "fine", "sid-fine", "j3")
	r.Recheck(context.Background())
	c.wait(t, map[string]string{"disabled": authority.ReasonAppDisabled})
	if r.Len() != 2 {
		t.Fatalf("%d left, want 2", r.Len())
	}
}

// An end reported again for the same id (the end sync's window overlaps)
// does not close a connection of the session's next incarnation: a
// session ended by a timeout reopens under its id.
func TestRegistryLaterIncarnationStays(t *testing.T) {
	r, _ := newTestRegistry(t, judgeFunc(func(*authority.Caller) *authority.Refusal { return nil }))
	c := &closes{got: map[string]Reason{}}
	first := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	again := first.Add(time.Minute)
	conn := c.conn(r, "reopened", "sid-a", "jti-a")
	conn.Caller.Session = session.Info{ID: "sid-a", OpenedAt: again}
	r.SessionEnded(context.Background(), session.Info{ID: "sid-a", OpenedAt: first, EndReason: "idle"})
	if r.Len() != 1 {
		t.Fatal("the end of the session's first incarnation closed a connection of its second")
	}
	r.SessionEnded(context.Background(), session.Info{ID: "sid-a", OpenedAt: again, EndReason: "idle"})
	c.wait(t, map[string]string{"reopened": authority.ReasonSessionEnded})
}

// Shutdown closes every WebSocket, for ReasonShutdown, and leaves the
// streams to the graceful shutdown, which lets them finish.
func TestRegistryShutdown(t *testing.T) {
	r, m := newTestRegistry(t, judgeFunc(func(*authority.Caller) *authority.Refusal { return nil }))
	c := &closes{got: map[string]Reason{}}
	for _, name := range []string{"a", "b"} {
		r.Add(&Conn{Kind: KindWebSocket, Route: "r", Caller: &authority.Caller{Claims: &claims.Access{SessionID: "sid-" + name, ID: "jti-" + name}},
			Close: func(reason Reason) { c.mu.Lock(); c.got[name] = reason; c.mu.Unlock() }})
	}
	c.conn(r, "stream", "sid-c", "jti-c")
	r.Shutdown(context.Background())
	c.wait(t, map[string]string{"a": ReasonShutdown, "b": ReasonShutdown})
	if r.Len() != 1 || testutil.ToFloat64(m.Closed.WithLabelValues(ReasonShutdown)) != 2 {
		t.Fatalf("%d left, closed{shutdown} = %v; want the stream left, two closed", r.Len(), testutil.ToFloat64(m.Closed.WithLabelValues(ReasonShutdown)))
	}
}

func TestReasonText(t *testing.T) {
	for code, want := range map[string]string{
		authority.ReasonSessionEnded: "session ended", authority.ReasonRevoked: "token revoked", authority.ReasonAppDisabled: "app disabled",
	} {
		if got := (Reason{Code: code}).Text(); got != want {
			t.Errorf("%s: %q, want %q", code, got, want)
		}
	}
}
