package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/internal/proc"
	"github.com/erpgate/erpgate/sampleapi"
)

// Forward auth with real edges (SPEC §11): nginx (auth_request) and Caddy
// (forward_auth), from Debian's packages, each run on the config
// deploy/forward-auth ships — only the addresses swapped — in front of the
// built gateway and the sample API. The edge forwards to the API itself;
// erpgate only answers /oauth2/auth, and serves its own pages through the
// edge (public_url is the edge's).

// edgeKind is one real edge: how to run the shipped config.
type edgeKind struct {
	name, binary, config string
	// run starts the edge on config text (addresses swapped) in dir.
	run func(t *testing.T, bin, dir, config string) *exec.Cmd
}

var edgeKinds = []edgeKind{
	{name: "nginx", binary: "nginx", config: "nginx.conf", run: func(t *testing.T, bin, dir, server string) *exec.Cmd {
		// The shipped file is a server block for conf.d/; this is the
		// main file around it, everything in dir, so no root paths.
		main := fmt.Sprintf(`daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 256; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/erpgate.conf;
}
`, dir)
		writeFile(t, filepath.Join(dir, "erpgate.conf"), server)
		writeFile(t, filepath.Join(dir, "nginx.conf"), main)
		return exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	}},
	{name: "Caddy", binary: "caddy", config: "Caddyfile", run: func(t *testing.T, bin, dir, site string) *exec.Cmd {
		// No admin endpoint (tests run side by side), no state outside dir.
		writeFile(t, filepath.Join(dir, "Caddyfile"), "{\n\tadmin off\n\tauto_https off\n}\n\n"+site)
		cmd := exec.Command(bin, "run", "--config", filepath.Join(dir, "Caddyfile"), "--adapter", "caddyfile")
		cmd.Env = append(cleanEnv(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
		return cmd
	}},
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// edgeWorld is a gateway behind one running edge.
type edgeWorld struct {
	g       *Gateway
	edge    string // http://127.0.0.1:PORT, the edge and public_url
	gateway string // 127.0.0.1:PORT, the gateway's listen address
}

var listenRe = regexp.MustCompile(`(?m)^listen: 127\.0\.0\.1:(\d+)`)

// startEdge starts a gateway whose public_url is the edge's, trusting the
// edge, and the edge in front of it and of the sample API.
func startEdge(t *testing.T, k edgeKind, edit func(string) string) *edgeWorld {
	t.Helper()
	bin, err := exec.LookPath(k.binary)
	requireDep(t, err == nil, k.name+" (apt-get install "+k.binary+")")
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile(filepath.Join(root, "deploy", "forward-auth", k.config))
	if err != nil {
		t.Fatal(err)
	}
	port := freePorts(t, 1)[0]
	w := &edgeWorld{edge: fmt.Sprintf("http://127.0.0.1:%d", port)}
	w.g = startGateway(t, gatewayOptions{Edit: func(cfg string) string {
		main := listenRe.FindStringSubmatch(cfg)[1]
		// Tokens, redirect URIs and the sign-in are the edge's URL; the
		// gateway still answers its own address (the tests' token calls).
		cfg = strings.ReplaceAll(cfg, "http://127.0.0.1:"+main, w.edge)
		cfg += fmt.Sprintf("trusted_proxies: [127.0.0.1]\nallowed_hosts: [\"127.0.0.1:%s\"]\n", main)
		if edit != nil {
			cfg = edit(cfg)
		}
		return cfg
	}})
	w.gateway = strings.TrimPrefix(listenRe.FindStringSubmatch(readFile(t, w.g.ConfigPath))[0], "listen: ")
	config := string(shipped)
	for old, new := range map[string]string{
		"erpgate:8080": w.gateway, "erp-api:8081": w.g.Upstream,
		"listen 80;": fmt.Sprintf("listen 127.0.0.1:%d;", port), ":80 {": fmt.Sprintf(":%d {", port),
	} {
		config = strings.ReplaceAll(config, old, new)
	}
	dir := t.TempDir()
	cmd := k.run(t, bin, dir, config)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	p, err := proc.Start(cmd)
	if err != nil {
		t.Fatalf("starting %s: %v", k.name, err)
	}
	t.Cleanup(func() {
		p.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("%s output:\n%s", k.name, out.String())
			if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
				t.Logf("%s error.log:\n%s", k.name, b)
			}
		}
	})
	// Ready when the public route answers through the edge.
	for deadline := time.Now().Add(readyTimeout); ; time.Sleep(pollEvery) {
		if p.Exited() {
			t.Fatalf("%s exited: %v\n%s", k.name, p.Err(), out.String())
		}
		resp, err := w.g.Client.Get(w.edge + "/api/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come up in %s: %v\n%s", k.name, readyTimeout, err, out.String())
		}
	}
	w.g.PublicURL = w.edge // the issuer, as the browser and tokens know it
	return w
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestForwardAuthEdges: through each real edge, the rules of the proxy
// hold — the caller's identity reaches the API and nothing the client
// forged does; no credential, too few scopes and a revoked token are
// refused; a public route needs nothing; the edge's own question
// endpoint cannot be asked from outside; and the answers are the
// gateway's, audited and counted.
func TestForwardAuthEdges(t *testing.T) {
	t.Parallel()
	for _, k := range edgeKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			w := startEdge(t, k, nil)
			g := w.g
			persons := w.edge + sampleapi.PersonsPath
			tok := g.token(t, syncClient, syncSecret)

			// The identity erpgate vouches for reaches the API; what the
			// client forged does not (refused, or dropped by the edge).
			resp := g.call(t, http.MethodGet, persons, tok)
			var p sampleapi.Persons
			if resp.Status != http.StatusOK || json.Unmarshal(resp.Body, &p) != nil {
				t.Fatalf("GET persons with a token: %s", resp)
			}
			if p.Auth.Subject != "svc-sync" || p.Auth.ClientID != syncClient || p.Auth.Scope == "" || p.Auth.Session == "" {
				t.Errorf("the API saw identity %+v", p.Auth)
			}
			for _, forged := range []string{"X-Auth-Subject", "X_Auth_Subject", "X-Auth-User-Id", "X-HTTP-Method-Override"} {
				resp := g.call(t, http.MethodGet, persons, tok, forged, "admin")
				if resp.Status == http.StatusOK {
					var p sampleapi.Persons
					_ = json.Unmarshal(resp.Body, &p)
					if p.Auth.Subject != "svc-sync" || p.Auth.UserID != "" || strings.Contains(string(resp.Body), "admin") {
						t.Errorf("%s: forged header reached the API: %s", forged, resp.Body)
					}
				}
			}

			// Refusals, as the proxy gives them.
			if resp := g.call(t, http.MethodGet, persons, ""); resp.Status != http.StatusUnauthorized ||
				!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("no token: %s (WWW-Authenticate %q)", resp, resp.Header.Get("WWW-Authenticate"))
			}
			_, ro := g.requestToken(t, syncClient, syncSecret, secretPost, "scope", "read")
			readOnly := ro.AccessToken
			if resp := g.call(t, http.MethodPost, persons, readOnly); resp.Status != http.StatusForbidden {
				t.Errorf("POST with a read-only token: %s", resp)
			}
			if resp := g.call(t, http.MethodGet, w.edge+"/api/health", ""); resp.Status != http.StatusOK {
				t.Errorf("public route: %s", resp)
			}
			revoked := g.token(t, syncClient, syncSecret)
			revokeToken(t, g, syncClient, syncSecret, revoked)
			if resp := g.call(t, http.MethodGet, persons, revoked); resp.Status != http.StatusUnauthorized {
				t.Errorf("revoked token: %s", resp)
			}

			// The question is the edge's to ask: the shipped configs do
			// not let a client ask it through them (erpgate's refusal of
			// untrusted peers is proxy/forwardauth_test.go's).
			for _, path := range []string{"/oauth2/auth", "/oauth2/auth" + sampleapi.PersonsPath} {
				resp = g.call(t, http.MethodGet, w.edge+path, tok,
					"X-Forwarded-Method", "GET", "X-Forwarded-Uri", sampleapi.PersonsPath)
				if resp.Status != http.StatusNotFound {
					t.Errorf("%s from outside through the edge: %s", path, resp)
				}
			}

			m := g.metrics(t)
			if !strings.Contains(m, `erpgate_http_requests_total{code="202",method="GET",route="domain-read"}`) {
				t.Errorf("no 202 of domain-read in the metrics")
			}
			denied := false
			for _, e := range auditEvents(t, g.Stderr()) {
				denied = denied || e.Event == "access.denied" && e.Reason == "insufficient_scope"
			}
			if !denied {
				t.Errorf("the refused POST is not audited")
			}
		})
	}
}

// TestForwardAuthBrowserSession: a browser signs in through each edge
// (sent to /oauth2/start, the login page, back to the page it asked for),
// and keeps its session across the access token's expiry: the check never
// refreshes (the edge drops its cookies), so the expired session goes
// through /oauth2/start, which refreshes and comes straight back.
func TestForwardAuthBrowserSession(t *testing.T) {
	t.Parallel()
	for _, k := range edgeKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			w := startEdge(t, k, func(cfg string) string {
				return strings.Replace(cfg, "access_token_ttl: 1h", "access_token_ttl: 3s", 1)
			})
			page := w.edge + "/api/domain/html/x?tab=1"
			b := newHTTPBrowser(t)
			resp, body := b.signIn(w.g, page, aliceLogin, alicePassword)
			if m := subjectRe.FindStringSubmatch(body); resp.StatusCode != http.StatusOK || m == nil || m[1] != aliceLogin {
				t.Fatalf("after sign-in: %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
			}
			if resp.Request.URL.String() != page {
				t.Errorf("after sign-in at %s, want %s", resp.Request.URL, page)
			}
			time.Sleep(4 * time.Second) // the access token has expired
			var hops []string
			b.client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
				hops = append(hops, req.URL.Path)
				return nil
			}
			resp, body = b.do(http.MethodGet, page, nil)
			if m := subjectRe.FindStringSubmatch(body); resp.StatusCode != http.StatusOK || m == nil || m[1] != aliceLogin {
				t.Fatalf("after the token expired: %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
			}
			if len(hops) != 2 || hops[0] != "/oauth2/start" || hops[1] != "/api/domain/html/x" {
				t.Errorf("the expired session went %v, want /oauth2/start and straight back", hops)
			}
			if n := countRefreshes(w.g.Stderr()); n != 1 {
				t.Errorf("%d refresh_token grants, want 1", n)
			}
			// An API client on the same route gets the 401, not a redirect.
			if resp := w.g.call(t, http.MethodGet, page, ""); resp.Status != http.StatusUnauthorized {
				t.Errorf("API client without a token: %s", resp)
			}
		})
	}
}

// revokeToken revokes tok as its client (RFC 7009).
func revokeToken(t *testing.T, g *Gateway, clientID, secret, tok string) {
	t.Helper()
	form := url.Values{"token": {tok}, "client_id": {clientID}, "client_secret": {secret}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, g.Issuer()+"/connect/revocation", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp := g.do(t, req); resp.Status != http.StatusOK {
		t.Fatalf("revoking: %s", resp)
	}
}
