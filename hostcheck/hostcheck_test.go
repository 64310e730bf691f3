package hostcheck

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestAllows(t *testing.T) {
	for _, tc := range []struct {
		name      string
		publicURL string
		allowed   []string
		host      string
		want      bool
	}{
		{"public_url's host", "https://gw.example.com", nil, "gw.example.com", true},
		{"uppercase", "https://gw.example.com", nil, "GW.Example.COM", true},
		{"trailing dot", "https://gw.example.com", nil, "gw.example.com.", true},
		{"default port written out", "https://gw.example.com", nil, "gw.example.com:443", true},
		{"empty port", "https://gw.example.com", nil, "gw.example.com:", true},
		{"another port", "https://gw.example.com", nil, "gw.example.com:8443", false},
		{"http's default port under https", "https://gw.example.com", nil, "gw.example.com:80", false},
		{"another host", "https://gw.example.com", nil, "evil.example", false},
		{"suffix of another host", "https://gw.example.com", nil, "gw.example.com.evil.example", false},
		{"prefix", "https://gw.example.com", nil, "xgw.example.com", false},
		{"empty Host", "https://gw.example.com", nil, "", false},
		{"two trailing dots", "https://gw.example.com", nil, "gw.example.com..", false},
		{"public_url with a port", "http://127.0.0.1:8080", nil, "127.0.0.1:8080", true},
		{"public_url with a port, Host without", "http://127.0.0.1:8080", nil, "127.0.0.1", false},
		{"public_url's path is no part of it", "https://gw.example.com/erp", nil, "gw.example.com", true},
		{"listed host", "https://gw.example.com", []string{"erp.internal"}, "ERP.internal", true},
		{"listed host:port", "https://gw.example.com", []string{"10.0.0.5:8080"}, "10.0.0.5:8080", true},
		{"listed host:port, other port", "https://gw.example.com", []string{"10.0.0.5:8080"}, "10.0.0.5:8081", false},
		{"listed IPv6", "https://gw.example.com", []string{"[2001:db8::1]:8443"}, "[2001:DB8:0::1]:8443", true},
		{"listed IPv6 without port", "https://gw.example.com", []string{"2001:db8::1"}, "[2001:db8::1]", true},
		{"IPv6 loopback in public_url", "http://[::1]:8080", nil, "[::1]:8080", true},
		{"IPv6 other address", "http://[::1]:8080", nil, "[::2]:8080", false},
		{"IPv4-mapped IPv6", "http://127.0.0.1:8080", nil, "[::ffff:127.0.0.1]:8080", true},
		{"unclosed bracket", "http://[::1]:8080", nil, "[::1:8080", false},
		{"garbage after bracket", "http://[::1]:8080", nil, "[::1]x8080", false},
		{"brackets around a name", "https://gw.example.com", nil, "[gw.example.com]", false},
		{"no Unicode case folding", "https://gw.example.com", nil, "gw.example.\u212aom", false},
		{"a name is not an IP entry", "https://gw.example.com", []string{"10.0.0.5"}, "10.0.0.5.evil.example", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.publicURL, tc.allowed)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Allows(tc.host); got != tc.want {
				t.Errorf("Allows(%q) = %v, want %v (hosts %v)", tc.host, got, tc.want, s.hosts)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		wantErr  bool
	}{
		{in: "gw.example.com", want: "gw.example.com"},
		{in: "GW.Example.com.", want: "gw.example.com"},
		{in: "gw.example.com:8443", want: "gw.example.com:8443"},
		{in: "10.0.0.5:8080", want: "10.0.0.5:8080"},
		{in: "[2001:db8::1]:8443", want: "[2001:db8::1]:8443"},
		{in: "2001:db8::1", want: "[2001:db8::1]"},
		{in: "erp_internal", want: "erp_internal"},
		{in: "", wantErr: true},
		{in: ":8080", wantErr: true},
		{in: "gw.example.com:0", wantErr: true},
		{in: "gw.example.com:65536", wantErr: true},
		{in: "gw.example.com:08080", wantErr: true},
		{in: "gw.example.com:http", wantErr: true},
		{in: "https://gw.example.com", wantErr: true},
		{in: "gw.example.com/path", wantErr: true},
		{in: "*.example.com", wantErr: true},
		{in: "gw..example.com", wantErr: true},
		{in: "gw example.com", wantErr: true},
		{in: "[fe80::1%eth0]", wantErr: true},
		{in: "[gw.example.com]", wantErr: true},
	} {
		h, err := Parse(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("Parse(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && h.String() != tc.want {
			t.Errorf("Parse(%q) = %s, want %s", tc.in, h, tc.want)
		}
	}
}

func TestNewRefusesBadEntries(t *testing.T) {
	if _, err := New("https://gw.example.com", []string{"ok.example", "bad host"}); err == nil {
		t.Error("a bad allowed_hosts entry was accepted")
	}
	if _, err := New("/relative", nil); err == nil {
		t.Error("a public_url without a host was accepted")
	}
}

func TestMiddleware(t *testing.T) {
	s, err := New("https://gw.example.com", []string{"erp.internal:8080"})
	if err != nil {
		t.Fatal(err)
	}
	reached := 0
	h := s.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached++ }))
	for _, tc := range []struct {
		host string
		want int
	}{
		{"gw.example.com", http.StatusOK},
		{"erp.internal:8080", http.StatusOK},
		{"evil.example", http.StatusMisdirectedRequest},
		{"erp.internal", http.StatusMisdirectedRequest},
	} {
		r := httptest.NewRequest("GET", "/id/.well-known/openid-configuration", nil)
		r.Host = tc.host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tc.want {
			t.Errorf("Host %q: %d, want %d", tc.host, rec.Code, tc.want)
		}
		if tc.want == http.StatusMisdirectedRequest {
			var body struct{ Error string }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error != "misdirected_request" {
				t.Errorf("Host %q: body %q", tc.host, rec.Body)
			}
			if rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("Host %q: Content-Type %q", tc.host, rec.Header().Get("Content-Type"))
			}
		}
	}
	if reached != 2 {
		t.Errorf("next reached %d times, want 2", reached)
	}
}

func TestAllowsDoesNotAllocate(t *testing.T) {
	s, _ := New("https://gw.example.com", []string{"10.0.0.5:8080", "[2001:db8::1]"})
	for _, host := range []string{"GW.example.com.", "10.0.0.5:8080", "[2001:db8::1]:443", "evil.example"} {
		if n := testing.AllocsPerRun(100, func() { s.Allows(host) }); n != 0 {
			t.Errorf("Allows(%q): %v allocations", host, n)
		}
	}
}

func FuzzAllows(f *testing.F) {
	s, _ := New("https://gw.example.com", []string{"10.0.0.5:8080", "[2001:db8::1]"})
	for _, h := range []string{"gw.example.com", "GW.EXAMPLE.COM.:443", "[2001:db8::1]", "10.0.0.5:8080", "evil.example", "[::1"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if !s.Allows(host) {
			return
		}
		// Whatever is allowed parses as an entry equal to one of the set's.
		h, err := Parse(host)
		if err != nil {
			t.Fatalf("Allows(%q) but Parse: %v", host, err)
		}
		h = s.withPort(h)
		for _, x := range s.hosts {
			if x == h {
				return
			}
		}
		t.Fatalf("Allows(%q), parsed as %v, which is none of %v", host, h, s.hosts)
	})
}
