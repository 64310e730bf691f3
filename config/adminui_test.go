package config

import (
	"strings"
	"testing"
)

// TestAdminUI: admin_ui is off by default; on, it needs a cookie key and
// an origin a browser may be sent back to (https, or http on loopback);
// the console's app id is reserved.
func TestAdminUI(t *testing.T) {
	const keys = `gateway: {cookie_keys: ["<key>"]}` + "\n"
	for _, tt := range []struct {
		name, yaml string
		wantPath   string // "" accepts
		wantMsg    string
		wantURL    string
	}{
		{"off", "", "", "", "http://127.0.0.1:9090"},
		{"on, default url", keys + "admin_ui: {enabled: true}", "", "", "http://127.0.0.1:9090"},
		{"admin_tls, default url", keys + "admin_listen: 'gw.internal:9443'\nadmin_tls: {cert_file: c.pem, key_file: k.pem}\nadmin_ui: {enabled: true}", "", "", "https://gw.internal:9443"},
		{"on, https url", keys + "admin_ui: {enabled: true, url: 'https://admin.gw.example:9443/'}", "", "", "https://admin.gw.example:9443"},
		{"on without a cookie key", "admin_ui: {enabled: true}", "gateway.cookie_keys", "admin_ui.enabled", ""},
		{"every interface, no url", keys + "admin_listen: ':9090'\nadmin_ui: {enabled: true}", "", "", "http://127.0.0.1:9090"},
		{"any address, no url", keys + "admin_listen: '0.0.0.0:9090'\nadmin_ui: {enabled: true}", "", "", "http://127.0.0.1:9090"},
		{"every interface, admin_tls, no url", keys + "admin_listen: '[::]:9443'\nadmin_tls: {cert_file: c.pem, key_file: k.pem}\nadmin_ui: {enabled: true}", "admin_ui.url", "every interface", ""},
		{"off loopback, http", keys + "admin_listen: '10.0.0.5:9090'\nadmin_ui: {enabled: true}", "admin_ui.url", "no admin_tls", ""},
		{"http off loopback", keys + "admin_ui: {enabled: true, url: 'http://admin.gw.example'}", "admin_ui.url", "http on loopback", ""},
		{"url with a path", keys + "admin_ui: {enabled: true, url: 'https://admin.gw.example/console'}", "admin_ui.url", "origin only", ""},
		{"url not absolute", keys + "admin_ui: {enabled: true, url: 'admin.gw.example'}", "admin_ui.url", "absolute URL", ""},
		{"reserved app id", "apps: [{uri: erpgate/admin-console, type: public, redirect_uris: ['http://127.0.0.1:9/cb']}]", "apps[0].uri", "built-in app", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(expandTest(tt.yaml)), nil)
			if tt.wantPath == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := f.AdminUIURL(); got != tt.wantURL {
					t.Errorf("AdminUIURL = %q, want %q", got, tt.wantURL)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want a problem at %s", tt.wantPath)
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Path != tt.wantPath || !strings.Contains(ps[0].Message, tt.wantMsg) {
				t.Errorf("problems %v, want one at %s containing %q", ps, tt.wantPath, tt.wantMsg)
			}
		})
	}
}
