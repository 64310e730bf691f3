package hostcheck

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Host is one host the gateway answers for.
type Host struct {
	name string     // lower case, no trailing dot; empty for an IP
	ip   netip.Addr // set for an IP address
	port string     // empty: the default port
}

// String is the host as configured, normalised.
func (h Host) String() string {
	n := h.name
	if h.ip.IsValid() {
		n = h.ip.String()
		if h.ip.Is6() {
			n = "[" + n + "]"
		}
	}
	if h.port != "" {
		return n + ":" + h.port
	}
	return n
}

// Parse reads an allowed_hosts entry: a DNS name or IP address, with an
// optional port ("gw.example.com", "gw.example.com:8443", "10.0.0.5:8080",
// "[2001:db8::1]:8443", "2001:db8::1").
func Parse(s string) (Host, error) {
	name, port, ok := split(s)
	if !ok || name == "" || strings.ContainsAny(s, "/?#@ \t") { // a URL, a path, user information
		return Host{}, errors.New("must be a host name or IP address with an optional port, such as gw.example.com or 10.0.0.5:8080")
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return Host{}, fmt.Errorf("port %q must be a number from 1 to 65535", port)
		}
	}
	if a, err := netip.ParseAddr(name); err == nil {
		if a.Zone() != "" {
			return Host{}, errors.New("must not have an IPv6 zone")
		}
		return Host{ip: a.Unmap(), port: port}, nil
	}
	name = strings.TrimSuffix(name, ".")
	if !validName(name) {
		return Host{}, fmt.Errorf("%q is not a valid host name (letters, digits, \"-\", \"_\" and \".\")", name)
	}
	return Host{name: strings.ToLower(name), port: port}, nil
}

// Set is the hosts of one configuration. Its zero value allows nothing.
type Set struct {
	hosts       []Host
	defaultPort string // of public_url's scheme
}

// New returns the set of public_url's host and the allowed hosts.
func New(publicURL string, allowed []string) (*Set, error) {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("hostcheck: public_url %q has no host", publicURL)
	}
	s := &Set{defaultPort: "80"}
	if u.Scheme == "https" {
		s.defaultPort = "443"
	}
	pub, err := Parse(u.Host)
	if err != nil {
		return nil, fmt.Errorf("hostcheck: public_url: %w", err)
	}
	s.hosts = append(s.hosts, s.withPort(pub))
	for i, a := range allowed {
		h, err := Parse(a)
		if err != nil {
			return nil, fmt.Errorf("hostcheck: allowed_hosts[%d]: %w", i, err)
		}
		s.hosts = append(s.hosts, s.withPort(h))
	}
	return s, nil
}

func (s *Set) withPort(h Host) Host {
	if h.port == "" {
		h.port = s.defaultPort
	}
	return h
}

// Allows reports whether hostport, a request's Host, is one of the set's
// hosts. It does not allocate.
func (s *Set) Allows(hostport string) bool {
	if s == nil {
		return false
	}
	name, port, ok := split(hostport)
	if !ok || name == "" {
		return false
	}
	if port == "" {
		port = s.defaultPort
	}
	// An IP literal is matched as written: "10.0.0.5." is a (bad) name,
	// as Parse reads it, not the address.
	literal := name
	name = strings.TrimSuffix(name, ".")
	var ip netip.Addr
	parsed := false
	for _, h := range s.hosts {
		if h.port != port {
			continue
		}
		if h.ip.IsValid() {
			if !parsed && looksLikeIP(literal) {
				ip, _ = netip.ParseAddr(literal)
				ip = ip.Unmap()
			}
			parsed = true
			if ip == h.ip {
				return true
			}
			continue
		}
		if asciiEqualFold(name, h.name) {
			return true
		}
	}
	return false
}

// Middleware answers 421 for a request whose Host the set does not allow
// and passes the rest to next.
func (s *Set) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.Allows(r.Host) {
			Refuse(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Refuse writes the 421 answer, a JSON error as every door's
// (authority.WriteJSONError's shape; written here so that config, which
// validates allowed_hosts with Parse, does not import the authority).
func Refuse(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusMisdirectedRequest)
	_, _ = io.WriteString(w, refusal)
}

const refusal = `{"error":"misdirected_request","error_description":"this gateway does not serve the requested host"}` + "\n"

// split cuts host[:port] or [ipv6][:port]; an empty port after ":" is
// no port (RFC 3986 §3.2.3). ok is false for what is neither.
func split(s string) (name, port string, ok bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", false
		}
		name, rest := s[1:end], s[end+1:]
		switch {
		case rest == "":
		case rest[0] == ':':
			port = rest[1:]
		default:
			return "", "", false
		}
		if strings.IndexByte(name, ':') < 0 { // brackets are for IPv6 only
			return "", "", false
		}
		return name, port, true
	}
	switch strings.Count(s, ":") {
	case 0:
		return s, "", true
	case 1:
		i := strings.IndexByte(s, ':')
		return s[:i], s[i+1:], true
	default: // a bare IPv6 address
		return s, "", true
	}
}

// asciiEqualFold is strings.EqualFold for ASCII only: no Unicode folds
// (the Kelvin sign is not "k" in a host name).
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// looksLikeIP is a cheap test before netip.ParseAddr, whose error
// allocates: IPv4 starts with a digit, IPv6 has a colon.
func looksLikeIP(s string) bool {
	return s != "" && ('0' <= s[0] && s[0] <= '9' || strings.IndexByte(s, ':') >= 0)
}

// validName reports whether s is a DNS host name: dot-separated labels of
// letters, digits, "-" and "_" (seen in internal names), none empty.
func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
