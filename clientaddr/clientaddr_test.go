package clientaddr

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClient(t *testing.T) {
	res := Resolver{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer: its forwarding header is ignored", "203.0.113.9:4000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"trusted peer: the client it names", "10.0.0.7:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"forged left part is skipped", "10.0.0.7:4000", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"trusted hops are walked", "10.0.0.7:4000", []string{"198.51.100.1, 10.0.0.8"}, "198.51.100.1"},
		{"several header lines", "10.0.0.7:4000", []string{"198.51.100.1", "10.0.0.8"}, "198.51.100.1"},
		{"all trusted: the left-most", "10.0.0.7:4000", []string{"10.0.0.9, 10.0.0.8"}, "10.0.0.9"},
		{"no header: the peer", "10.0.0.7:4000", nil, "10.0.0.7"},
		{"malformed hop: believe no further", "10.0.0.7:4000", []string{"198.51.100.1, evil"}, "10.0.0.7"},
		{"IPv6 peer", "[::1]:4000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv4-mapped", "[::ffff:10.0.0.7]:4000", []string{"198.51.100.1"}, "198.51.100.1"},
	} {
		if got := res.Client(tc.peer, tc.xff); got.String() != tc.want {
			t.Errorf("%s: Client(%q, %q) = %s, want %s", tc.name, tc.peer, tc.xff, got, tc.want)
		}
	}
}

func TestMiddleware(t *testing.T) {
	res := Resolver{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	var remote, peer string
	h := res.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		remote, peer = r.RemoteAddr, Peer(r)
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.7:4000"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if remote != "198.51.100.1:4000" || peer != "10.0.0.7:4000" {
		t.Errorf("behind a trusted proxy: RemoteAddr %q, Peer %q", remote, peer)
	}
	r = httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "203.0.113.9:4000"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if remote != "203.0.113.9:4000" || peer != "203.0.113.9:4000" {
		t.Errorf("from an untrusted peer: RemoteAddr %q, Peer %q", remote, peer)
	}
}

func FuzzClient(f *testing.F) {
	res := Resolver{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	f.Add("10.0.0.7:4000", "198.51.100.1, 10.0.0.8")
	f.Add("203.0.113.9:1", "x")
	f.Fuzz(func(t *testing.T, peer, xff string) {
		got := res.Client(peer, []string{xff})
		// Whatever the header says, an untrusted peer is the client.
		if !res.Trusts(peer) && got.IsValid() && got.String() != IP(peer) {
			t.Fatalf("untrusted peer %q: client %s", peer, got)
		}
	})
}
