package requestid

import (
	"net/http"
	"net/http/httptest"
	"testing"
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
