package requestid

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestNewIsUniqueHex(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		id := New()
		if len(id) != 32 || !valid(id) {
			t.Fatalf("New() = %q; want 32 hex characters", id)
		}
		if seen[id] {
			t.Fatalf("New() repeated %q", id)
		}
		seen[id] = true
	}
}

// TestMiddleware: a client's id that a log pipeline can carry is kept
// and echoed; anything else is replaced by a fresh one.
func TestMiddleware(t *testing.T) {
	for _, tc := range []struct {
		sent string
		keep bool
	}{
		{"client-req-1", true},
		{"", false},
		{"a b", false},
		{"id\nInjected: yes", false},
		{string(make([]byte, 65)), false},
	} {
		var seen string
		h := Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = From(r.Context()) }))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.sent != "" {
			req.Header[Header] = []string{tc.sent}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		echoed := rec.Header().Get(Header)
		switch {
		case echoed != seen:
			t.Errorf("sent %q: echoed %q but the handler saw %q", tc.sent, echoed, seen)
		case tc.keep && seen != tc.sent:
			t.Errorf("sent %q: replaced by %q", tc.sent, seen)
		case !tc.keep && (seen == tc.sent || !valid(seen)):
			t.Errorf("sent %q: kept as %q", tc.sent, seen)
		}
	}
}

type otherKey struct{}

// TestFromDerivedContext: the id is found through contexts derived from
// the request's, and the request's cancellation still reaches them.
func TestFromDerivedContext(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	ctx := With(parent, "req-1")
	child, stop := context.WithCancel(context.WithValue(ctx, otherKey{}, "other"))
	defer stop()
	if got := From(child); got != "req-1" {
		t.Fatalf("From(derived) = %q, want req-1", got)
	}
	if got := From(context.Background()); got != "" {
		t.Fatalf("From(no id) = %q, want \"\"", got)
	}
	cancel()
	select {
	case <-child.Done():
	case <-time.After(time.Second):
		t.Fatal("cancelling the parent did not reach a context derived through the id's")
	}
}

// TestMiddlewareAllocations: assigning an id costs the one context
// node that carries it (id text and header value inside) and the
// request's copy, however the id came.
func TestMiddlewareAllocations(t *testing.T) {
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if From(r.Context()) == "" || w.Header().Get(Header) != From(r.Context()) {
			t.Fatal("no id, or another one echoed")
		}
	}))
	for _, sent := range []string{"", "client-req-1"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if sent != "" {
			req.Header[Header] = []string{sent}
		}
		rec := httptest.NewRecorder()
		if n := testing.AllocsPerRun(1000, func() { h.ServeHTTP(rec, req) }); n > 2 {
			t.Errorf("sent %q: %.0f allocations per request, want at most 2", sent, n)
		}
	}
}
