package gateway

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/sampleapi"
)

// listenerWorld is a gateway from the example config, with extra YAML,
// served by Serve on listeners of its own: main, admin and metrics
// (nil unless the test asks for one).
type listenerWorld struct {
	g            *Gateway
	ln, aln, mln net.Listener
	served       chan error
	stop         context.CancelFunc
	dir          string
	token        string // a sec token of the erpgate app, for the admin API
}

// startListenerWorld starts it; extra may name files in dir as $DIR.
func startListenerWorld(t *testing.T, withMetrics bool, extra func(dir string) string) *listenerWorld {
	t.Helper()
	w := &listenerWorld{dir: t.TempDir(), served: make(chan error, 1)}
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	w.ln, w.aln = listen(), listen()
	if withMetrics {
		w.mln = listen()
	}
	up := &http.Server{Handler: sampleapi.New(), ReadHeaderTimeout: time.Second}
	upln := listen()
	go func() { _ = up.Serve(upln) }()
	t.Cleanup(func() { up.Close() })
	raw, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yml := strings.NewReplacer(
		"http://localhost:8080", "http://"+w.ln.Addr().String(),
		"http://127.0.0.1:8081", "http://"+upln.Addr().String(),
		"data/erpgate.db", filepath.Join(w.dir, "erpgate.db"),
	).Replace(withAdminScope(string(raw))) + "\n" + extra(w.dir)
	f, err := config.Parse([]byte(yml), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if w.g, err = newGateway(context.Background(), f, io.Discard); err != nil {
		t.Fatal(err)
	}
	w.token = mint(t, w.g, "admin", "sid-listeners-admin", true, "sec")
	ctx, cancel := context.WithCancel(context.Background())
	w.stop = cancel
	go func() { w.served <- w.g.serve(ctx, w.ln, w.aln, w.mln, nil) }()
	t.Cleanup(func() { cancel(); <-w.served; w.g.Close() })
	return w
}

// get asks client for u with the admin token; it returns the status and
// body.
func get(t *testing.T, client *http.Client, u, token string) (int, string, *tls.ConnectionState) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.TLS
}

// TestAdminTLS: with admin_tls the admin listener speaks only HTTPS, with
// the configured certificate (a client trusting it reaches the admin
// API, /metrics and the probes); the main listener stays plain HTTP.
func TestAdminTLS(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	w := startListenerWorld(t, false, func(dir string) string {
		for name, b := range map[string][]byte{"admin.pem": certPEM, "admin.key": keyPEM} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return "admin_tls: {cert_file: " + filepath.Join(dir, "admin.pem") + ", key_file: " + filepath.Join(dir, "admin.key") + "}\n"
	})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certPool(t, certPEM)}}}
	admin := "https://" + w.aln.Addr().String()
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/admin/license"} {
		code, body, st := get(t, client, admin+p, w.token)
		if code != 200 || st == nil {
			t.Errorf("%s over TLS: %d (TLS %v) %s", p, code, st != nil, body)
		}
	}
	if code, _, _ := get(t, client, admin+"/admin/license", ""); code != 401 {
		t.Errorf("admin API over TLS without a token: %d, want 401", code)
	}
	// Plain HTTP to the admin port gets no admin answer.
	if code, body, _ := get(t, http.DefaultClient, "http://"+w.aln.Addr().String()+"/admin/license", w.token); code != 400 || !strings.Contains(body, "HTTPS") {
		t.Errorf("plain HTTP to the TLS admin listener: %d %q, want Go's 400 to an HTTP request on HTTPS", code, body)
	}
	if code, _, st := get(t, http.DefaultClient, "http://"+w.ln.Addr().String()+"/id/.well-known/openid-configuration", ""); code != 200 || st != nil {
		t.Errorf("main listener without tls: %d (TLS %v), want plain 200", code, st != nil)
	}
}

// TestAdminTLSBadKey: a key that does not read stops Serve with an error
// naming the file's key.
func TestAdminTLSBadKey(t *testing.T) {
	certPEM, _ := selfSigned(t)
	w := startListenerWorld(t, false, func(dir string) string {
		if err := os.WriteFile(filepath.Join(dir, "admin.pem"), certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		return "admin_tls: {cert_file: " + filepath.Join(dir, "admin.pem") + ", key_file: " + filepath.Join(dir, "missing.key") + "}\n"
	})
	select {
	case err := <-w.served:
		if err == nil || !strings.Contains(err.Error(), "admin_tls.key_file: cannot be read") {
			t.Errorf("Serve with the admin key missing: %v", err)
		}
		w.served <- err // for the cleanup
	case <-time.After(40 * time.Second):
		t.Fatal("Serve went on without the admin key")
	}
}

// TestMetricsListen: with metrics_listen, /metrics (and /healthz) is
// served there and nothing else; the admin listener keeps the probes and
// the admin API but answers 404 for /metrics.
func TestMetricsListen(t *testing.T) {
	w := startListenerWorld(t, true, func(string) string { return "metrics_listen: 127.0.0.1:0\n" })
	metrics, admin := "http://"+w.mln.Addr().String(), "http://"+w.aln.Addr().String()
	c := http.DefaultClient
	if code, body, _ := get(t, c, metrics+"/metrics", ""); code != 200 || !strings.Contains(body, "erpgate_license_slots_limit") {
		t.Errorf("/metrics on metrics_listen: %d, erpgate_ metrics %v", code, strings.Contains(body, "erpgate_"))
	}
	if code, _, _ := get(t, c, metrics+"/healthz", ""); code != 200 {
		t.Errorf("/healthz on metrics_listen: %d", code)
	}
	for _, p := range []string{"/readyz", "/admin/license", "/admin/sessions"} {
		if code, _, _ := get(t, c, metrics+p, w.token); code != 404 {
			t.Errorf("%s on metrics_listen: %d, want 404", p, code)
		}
	}
	if code, _, _ := get(t, c, admin+"/metrics", ""); code != 404 {
		t.Errorf("/metrics on admin_listen with metrics_listen set: %d, want 404", code)
	}
	for _, p := range []string{"/healthz", "/readyz", "/admin/license"} {
		if code, body, _ := get(t, c, admin+p, w.token); code != 200 {
			t.Errorf("%s on admin_listen: %d %s", p, code, body)
		}
	}
}
