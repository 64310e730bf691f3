package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCert writes a self-signed certificate for 127.0.0.1 and its key
// into dir as name.pem and name.key; it returns their paths.
func testCert(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	for p, b := range map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}),
	} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// writeConfig writes the example config with extra appended.
func writeConfig(t *testing.T, dir, extra string, replace ...string) string {
	t.Helper()
	raw, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "erpgate.yaml")
	yml := strings.NewReplacer(replace...).Replace(string(raw)) + "\n" + extra
	if err := os.WriteFile(p, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckReadsCertificates: `erpgate check` reads admin_tls (and tls)
// and fails on a file that does not read or a key of another
// certificate, naming the key at fault.
func TestCheckReadsCertificates(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := testCert(t, dir, "a")
	_, keyB := testCert(t, dir, "b")
	for _, tt := range []struct {
		name, extra string
		code        int
		stderr      string
	}{
		{"pair", "admin_tls: {cert_file: " + certA + ", key_file: " + keyA + "}", 0, ""},
		{"key missing", "admin_tls: {cert_file: " + certA + ", key_file: " + filepath.Join(dir, "none.key") + "}", 1, "admin_tls.key_file: cannot be read"},
		{"another key", "admin_tls: {cert_file: " + certA + ", key_file: " + keyB + "}", 1, "admin_tls: cert_file and key_file are not a PEM certificate and its private key"},
		{"main tls too", "tls: {cert_file: " + filepath.Join(dir, "none.pem") + ", key_file: " + keyA + "}", 1, "tls.cert_file: cannot be read"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, t.TempDir(), tt.extra)
			code, _, errOut := runCmd(t, "check", "--config", cfg)
			if code != tt.code || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("check: exit %d, stderr %q; want %d with %q", code, errOut, tt.code, tt.stderr)
			}
		})
	}
}

// TestHealthcheckAdminTLS: with admin_tls, `erpgate healthcheck` asks
// over HTTPS and accepts only the configured certificate.
func TestHealthcheckAdminTLS(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := testCert(t, dir, "a")
	certB, keyB := testCert(t, dir, "b")
	pair, err := tls.LoadX509KeyPair(certA, keyA)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"status":"ready"}`)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")
	ok := writeConfig(t, t.TempDir(), "admin_tls: {cert_file: "+certA+", key_file: "+keyA+"}", "127.0.0.1:9090", addr)
	if code, out, errOut := runCmd(t, "healthcheck", "--config", ok); code != 0 || !strings.Contains(out, "ready") {
		t.Errorf("healthcheck over TLS: exit %d %q %s", code, out, errOut)
	}
	other := writeConfig(t, t.TempDir(), "admin_tls: {cert_file: "+certB+", key_file: "+keyB+"}", "127.0.0.1:9090", addr)
	if code, _, errOut := runCmd(t, "healthcheck", "--config", other); code != 1 || !strings.Contains(errOut, "not admin_tls.cert_file") {
		t.Errorf("healthcheck against another certificate: exit %d %s; want 1", code, errOut)
	}
}
