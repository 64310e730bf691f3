package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// AdminUI is the admin console, served on AdminListen under /admin/ui/
// (the admin API's network boundary: the console is not on the public
// listener). Operators sign in to it through the identity server as an
// administrator; it is an OAuth client of its own, built in (the app
// AdminConsoleApp), not listed under apps.
type AdminUI struct {
	// Enabled serves the console. It needs gateway.cookie_keys, which
	// encrypt its cookie. Omitted: false.
	Enabled bool `yaml:"enabled"`

	// URL is the console's origin as operators' browsers reach it
	// ("https://admin.gw.internal:9443"), without a path; the built-in
	// app's redirect URI is URL + "/admin/ui/callback". An absolute
	// https URL, or http on a loopback host (RFC 8252 §7.3). Empty or
	// omitted: "http://" + admin_listen ("https://" with admin_tls); an
	// admin_listen on every interface without admin_tls gives
	// http://127.0.0.1:<port> (a browser on the host, or through a
	// tunnel), and http off loopback is refused.
	URL string `yaml:"url"`
}

// AdminConsoleApp is the client_id of the console's built-in app; no app
// under apps (or created at run time) may take it.
const AdminConsoleApp = "erpgate/admin-console"

// AdminConsolePath is where the console is served on AdminListen.
const AdminConsolePath = "/admin/ui/"

// AdminUIURL is the console's origin: admin_ui.url, or one made of
// admin_listen.
func (f *File) AdminUIURL() string {
	if f.AdminUI.URL != "" {
		return strings.TrimRight(f.AdminUI.URL, "/")
	}
	if f.AdminTLS.CertFile != "" {
		return "https://" + f.AdminListen
	}
	if host, port, err := net.SplitHostPort(f.AdminListen); err == nil && unspecifiedHost(host) {
		return "http://" + net.JoinHostPort("127.0.0.1", port)
	}
	return "http://" + f.AdminListen
}

// unspecifiedHost reports whether a listen address's host means every
// interface ("", 0.0.0.0, ::).
func unspecifiedHost(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}

// adminUI checks admin_ui and keeps AdminConsoleApp for the console.
func (v *validator) adminUI() {
	f := v.f
	for i, a := range f.Apps {
		if a.URI == AdminConsoleApp {
			v.addf(fmt.Sprintf("apps[%d].uri", i), "%q is the admin console's built-in app; choose another uri", AdminConsoleApp)
		}
	}
	if !f.AdminUI.Enabled {
		return
	}
	if len(f.Gateway.CookieKeys) == 0 {
		v.add("gateway.cookie_keys", "at least one key is required when admin_ui.enabled is true (the console's cookie)")
	}
	if f.AdminUI.URL == "" {
		host, _, err := net.SplitHostPort(f.AdminListen)
		switch {
		case err != nil: // admin_listen's own problem
		case f.AdminTLS.CertFile != "" && unspecifiedHost(host):
			v.add("admin_ui.url", "required when admin_listen with admin_tls listens on every interface: the https origin, with the certificate's name, operators' browsers reach the console at")
		case checkRedirectURI(f.AdminUIURL()+AdminConsolePath+"callback") != "":
			v.add("admin_ui.url", "required when admin_listen is not on a loopback host and has no admin_tls: an https origin operators' browsers reach the console at")
		}
		return
	}
	u, err := url.Parse(f.AdminUI.URL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		v.add("admin_ui.url", "must be an absolute URL such as https://admin.gw.internal:9443")
	case strings.TrimRight(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		v.add("admin_ui.url", "must be an origin only (scheme, host, port): the console is at its "+AdminConsolePath)
	default:
		if msg := checkRedirectURI(f.AdminUIURL() + AdminConsolePath + "callback"); msg != "" {
			v.add("admin_ui.url", msg)
		}
	}
}
