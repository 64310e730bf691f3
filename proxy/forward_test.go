package proxy

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"reflect"
	"testing"
)

// TestSetXForwarded: setXForwarded sets what ProxyRequest.SetXForwarded
// sets, for every kind of peer address and either scheme.
func TestSetXForwarded(t *testing.T) {
	for _, tc := range []struct {
		name, remote, host string
		tls                bool
		prior              []string
	}{
		{name: "ipv4", remote: "192.0.2.1:1234", host: "gw.example.com"},
		{name: "ipv6 over TLS", remote: "[2001:db8::1]:443", host: "gw.example.com:8443", tls: true},
		{name: "no port", remote: "192.0.2.1", host: "gw.example.com"},
		{name: "empty", remote: "", host: ""},
		{name: "prior value", remote: "192.0.2.1:1234", host: "gw.example.com", prior: []string{"198.51.100.7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := func() *httputil.ProxyRequest {
				in := httptest.NewRequest(http.MethodGet, "/", nil)
				in.RemoteAddr, in.Host = tc.remote, tc.host
				if tc.tls {
					in.TLS = &tls.ConnectionState{}
				}
				out := in.Clone(in.Context())
				out.Header = http.Header{"Accept": {"*/*"}}
				if tc.prior != nil {
					out.Header["X-Forwarded-For"] = append([]string(nil), tc.prior...)
				}
				return &httputil.ProxyRequest{In: in, Out: out}
			}
			want, got := pr(), pr()
			want.SetXForwarded()
			setXForwarded(got)
			if !reflect.DeepEqual(got.Out.Header, want.Out.Header) {
				t.Errorf("setXForwarded: %v\nSetXForwarded: %v", got.Out.Header, want.Out.Header)
			}
		})
	}
}
