package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Header, host and path hygiene against the built binary (SPEC §4, issue
// 15). Requests are written as raw bytes on a TCP connection: Go's client
// would canonicalise header names, and the point is names like
// X_Auth_Subject that a CGI, WSGI or Rack upstream reads as
// HTTP_X_AUTH_SUBJECT. A recording upstream shows what got through.

// recorder is an upstream that keeps the last request's head.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	last *http.Request
	n    int
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return // a body the gateway gave up on
		}
		rec.mu.Lock()
		rec.last, rec.n = r.Clone(r.Context()), rec.n+1
		rec.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(rec.Close)
	return rec
}

// take returns the last request and how many arrived, and forgets them.
func (rec *recorder) take() (*http.Request, int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	r, n := rec.last, rec.n
	rec.last, rec.n = nil, 0
	return r, n
}

// cgi is what a CGI application reads for header name name (HTTP_…):
// every value of every header that maps to it.
func cgi(h http.Header, name string) []string {
	var out []string
	for k, vs := range h {
		if "HTTP_"+strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(k)) == name {
			out = append(out, vs...)
		}
	}
	return out
}

// cgiNames are the CGI names of every header in h.
func cgiNames(h http.Header) []string {
	var out []string
	for k := range h {
		out = append(out, "HTTP_"+strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(k)))
	}
	return out
}

// exchange writes raw on a new connection and reads one response.
func exchange(t *testing.T, addr, raw string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, httpTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(httpTimeout))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response to %q: %v", strings.SplitN(raw, "\r\n", 2)[0], err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// abuseGateway runs the example config plus a public and a protected
// route to a recording upstream (the public one drops a body that stalls
// for a second), and allows one more host, gw.internal.
func abuseGateway(t *testing.T) (*Gateway, *recorder, string) {
	t.Helper()
	rec := startRecorder(t)
	// serve, not demo: demo would serve the sample API on every loopback
	// upstream, the recorder's too.
	g := startGateway(t, gatewayOptions{Serve: true, Edit: func(c string) string {
		return withRoutes(t, c, fmt.Sprintf(`  - name: abuse-public
    match: {path_prefix: /abuse/public/}
    upstream: %[1]s
    public: true
    client_idle_timeout: 1s
  - name: abuse-protected
    match: {path_prefix: /abuse/protected/}
    upstream: %[1]s
    audience: DomainAPI
    scopes: [read]
allowed_hosts: [gw.internal]
`, rec.URL))
	}})
	return g, rec, strings.TrimPrefix(g.PublicURL, "http://")
}

func TestAbuseHeaderSpellings(t *testing.T) {
	t.Parallel()
	g, rec, addr := abuseGateway(t)
	tok := g.token(t, syncClient, syncSecret)
	// The same header line in several spellings, and method overrides.
	spoof := "X_Auth_Subject: admin\r\nX-Auth-Subject: admin\r\nx-auth_scope: sec\r\nX.Auth.User-Id: 1\r\n" +
		"X-AUTH-SESSION: s\r\nX_Auth_Client_Id: evil-app\r\nX-Auth_User.Type: InternalUser\r\n" +
		"X-HTTP-Method-Override: DELETE\r\nx_http_method: DELETE\r\nX.Method.Override: DELETE\r\n" +
		"X-Forwarded-Host: evil.example\r\nX_Forwarded_Host: evil.example\r\nX-Forwarded-Prefix: /evil\r\n"
	spoofed := map[string]bool{"admin": true, "sec": true, "1": true, "s": true, "evil-app": true, "InternalUser": true}
	for _, tc := range []struct {
		name, path, auth string
		want             map[string]string // CGI name → the one value the upstream reads
	}{
		{"public route", "/abuse/public/x", "", map[string]string{}},
		{"protected route", "/abuse/protected/x", "Authorization: Bearer " + tok + "\r\n", map[string]string{
			"HTTP_X_AUTH_SUBJECT": "svc-sync", "HTTP_X_AUTH_CLIENT_ID": syncClient, "HTTP_X_AUTH_SCOPE": "read update",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := exchange(t, addr, "GET "+tc.path+" HTTP/1.1\r\nHost: "+addr+"\r\n"+tc.auth+spoof+"Connection: close\r\n\r\n")
			if code != http.StatusOK {
				t.Fatalf("status %d %s", code, body)
			}
			r, _ := rec.take()
			if r == nil {
				t.Fatal("the upstream was not reached")
			}
			for _, n := range cgiNames(r.Header) {
				switch {
				case strings.HasPrefix(n, "HTTP_X_AUTH_"):
					// Only the gateway's own, one value each, none of them
					// a spoofed one.
					got := cgi(r.Header, n)
					if tc.auth == "" || len(got) != 1 || spoofed[got[0]] {
						t.Errorf("upstream reads %s = %q: client-sent", n, got)
					}
				case strings.Contains(n, "METHOD"):
					t.Errorf("method override %s reached the upstream", n)
				case strings.HasPrefix(n, "HTTP_X_FORWARDED_") && n != "HTTP_X_FORWARDED_FOR" && n != "HTTP_X_FORWARDED_HOST" && n != "HTTP_X_FORWARDED_PROTO":
					t.Errorf("client-sent %s reached the upstream", n)
				}
			}
			for n, want := range tc.want {
				if got := cgi(r.Header, n); len(got) != 1 || got[0] != want {
					t.Errorf("upstream reads %s = %q, want [%q]", n, got, want)
				}
			}
			if got := cgi(r.Header, "HTTP_X_FORWARDED_HOST"); len(got) != 1 || got[0] != addr {
				t.Errorf("upstream reads HTTP_X_FORWARDED_HOST = %q, want [%q] (the untrusted client's is not believed)", got, addr)
			}
			if r.Method != http.MethodGet {
				t.Errorf("upstream method %s", r.Method)
			}
		})
	}
}

// A request for a host the gateway does not serve gets 421, on the proxy
// and the identity server alike, and reaches no upstream.
func TestAbuseMisdirectedHost(t *testing.T) {
	t.Parallel()
	g, rec, addr := abuseGateway(t)
	_, port, _ := net.SplitHostPort(addr)
	for _, tc := range []struct {
		name, target, host string
		want               int
	}{
		{"public_url's host", "/abuse/public/x", addr, http.StatusOK},
		{"allowed host", "/abuse/public/x", "gw.internal", http.StatusOK},
		{"allowed host, uppercase, trailing dot", "/abuse/public/x", "GW.Internal.", http.StatusOK},
		{"allowed host, default port", "/abuse/public/x", "gw.internal:80", http.StatusOK},
		{"evil host", "/abuse/public/x", "evil.example", http.StatusMisdirectedRequest},
		{"evil host on the identity server", "/id/.well-known/openid-configuration", "evil.example", http.StatusMisdirectedRequest},
		{"evil host at the token endpoint", "/id/connect/token", "evil.example", http.StatusMisdirectedRequest},
		{"evil host on a public ERP route", healthPath, "evil.example", http.StatusMisdirectedRequest},
		{"public_url's host, another port", "/abuse/public/x", "127.0.0.1:1", http.StatusMisdirectedRequest},
		{"public_url's host without its port", "/abuse/public/x", "127.0.0.1", http.StatusMisdirectedRequest},
		{"allowed host, another port", "/abuse/public/x", "gw.internal:" + port, http.StatusMisdirectedRequest},
		{"IPv6 loopback", "/abuse/public/x", "[::1]:" + port, http.StatusMisdirectedRequest},
		{"absolute-form target names the host", "http://evil.example/abuse/public/x", addr, http.StatusMisdirectedRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := exchange(t, addr, "GET "+tc.target+" HTTP/1.1\r\nHost: "+tc.host+"\r\nConnection: close\r\n\r\n")
			if code != tc.want {
				t.Fatalf("Host %q: %d %s, want %d", tc.host, code, body, tc.want)
			}
			r, n := rec.take()
			if tc.want != http.StatusOK {
				if !strings.Contains(body, `"error":"misdirected_request"`) {
					t.Errorf("421 body %s", body)
				}
				if n != 0 {
					t.Errorf("the upstream was reached %d times", n)
				}
				return
			}
			if got := r.Header.Values("X-Forwarded-Host"); len(got) != 1 || got[0] != tc.host {
				t.Errorf("upstream X-Forwarded-Host %q, want [%q]", got, tc.host)
			}
		})
	}
	// The gateway's own callers are unaffected.
	if resp := g.call(t, http.MethodGet, g.Issuer()+"/.well-known/openid-configuration", ""); resp.Status != http.StatusOK {
		t.Errorf("discovery at public_url: %s", resp)
	}
}

// Path parameters that hide dot segments are refused as non-canonical
// (Tomcat and Jetty read "/abuse/public/x/..;/..;/protected/y" as
// "/abuse/protected/y").
func TestAbuseDotSegmentParameters(t *testing.T) {
	t.Parallel()
	_, rec, addr := abuseGateway(t)
	for _, target := range []string{
		"/abuse/public/x/..;/..;/protected/y",
		"/abuse/public/..;/protected/y",
		"/abuse/public/.;x/y",
		"/abuse/public/%2e%2e;/..;/protected/y",
		"/abuse/public/%2E%2E%3B/protected/y",
		"/abuse/public/;x/y",
		"/api/health/..;/domain/odata/General_Contacts_Persons",
	} {
		code, body := exchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n")
		if code != http.StatusBadRequest || !strings.Contains(body, `"invalid_request"`) {
			t.Errorf("GET %s: %d %s, want 400 invalid_request", target, code, body)
		}
	}
	if _, n := rec.take(); n != 0 {
		t.Errorf("a non-canonical path reached the upstream %d times", n)
	}
	// Parameters on an ordinary name pass.
	if code, body := exchange(t, addr, "GET /abuse/public/x;jsessionid=1 HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n"); code != http.StatusOK {
		t.Errorf("parameters on a name: %d %s", code, body)
	}
}

// A client that declares Content-Length: 1000 and sends 3 bytes is
// answered 408 after routes[].client_idle_timeout (1s here) and its
// connection closed; many of them leave no goroutine or file behind.
func TestAbuseStalledBody(t *testing.T) {
	t.Parallel()
	g, rec, addr := abuseGateway(t)
	stall := func() error {
		c, err := net.DialTimeout("tcp", addr, httpTimeout)
		if err != nil {
			return err
		}
		defer c.Close()
		start := time.Now()
		if _, err := io.WriteString(c, "POST /abuse/public/upload HTTP/1.1\r\nHost: "+addr+"\r\nContent-Length: 1000\r\n\r\nabc"); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(httpTimeout))
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return fmt.Errorf("no answer: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		took := time.Since(start)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "request_timeout") {
			return fmt.Errorf("stalled body: %d %s, want 408 request_timeout", resp.StatusCode, body)
		}
		if took < time.Second || took > 5*time.Second {
			return fmt.Errorf("stalled body answered after %v, want about 1s", took)
		}
		if _, err := br.ReadByte(); err == nil {
			return fmt.Errorf("the connection stayed open")
		}
		return nil
	}
	if err := stall(); err != nil { // warm up
		t.Fatal(err)
	}
	gBefore, fdBefore := processGauges(t, g)
	const n = 50
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { errs <- stall() })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if _, got := rec.take(); got != 0 {
		t.Errorf("the upstream answered %d stalled uploads", got)
	}
	const slack = 10
	var gAfter, fdAfter float64
	ok := poll(10*time.Second, func() bool {
		gAfter, fdAfter = processGauges(t, g)
		return gAfter <= gBefore+slack && fdAfter <= fdBefore+slack
	})
	t.Logf("after %d stalled uploads: goroutines %v -> %v, open fds %v -> %v", n, gBefore, gAfter, fdBefore, fdAfter)
	if !ok {
		t.Errorf("leak: goroutines %v -> %v, open fds %v -> %v (slack %d)", gBefore, gAfter, fdBefore, fdAfter, slack)
	}
	// A whole body, sent promptly, still goes through.
	code, body := exchange(t, addr, "POST /abuse/public/upload HTTP/1.1\r\nHost: "+addr+"\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
	if code != http.StatusOK {
		t.Errorf("a prompt upload: %d %s", code, body)
	}
}
