package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/sampleapi"
	"github.com/erpgate/erpgate/store/sqlite"
)

// fakeFiles is a Config.ReadFile over a map that notes what was read.
type fakeFiles struct {
	mu    sync.Mutex
	files map[string][]byte
	reads []string
}

func (f *fakeFiles) ReadFile(path string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, path)
	b, ok := f.files[path]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	return b, nil
}

func (f *fakeFiles) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, p := range f.reads {
		if p == path {
			n++
		}
	}
	return n
}

// TestFilesThroughReadFile: the gateway reads the files its config names
// only through Config.ReadFile — the logo at start and at every reload,
// the TLS certificate and key when the main listener starts — and a file
// that does not read fails with its config key.
func TestFilesThroughReadFile(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	files := &fakeFiles{files: map[string][]byte{
		"brand/logo.svg": []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`),
		"tls/cert.pem":   certPEM, "tls/key.pem": keyPEM,
	}}
	up := httptest.NewServer(sampleapi.New())
	t.Cleanup(up.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yml := strings.NewReplacer(
		"http://localhost:8080", "https://"+ln.Addr().String(),
		"http://127.0.0.1:8081", up.URL,
		"data/erpgate.db", filepath.Join(t.TempDir(), "erpgate.db"),
	).Replace(string(raw)) + "\ntls: {cert_file: tls/cert.pem, key_file: tls/key.pem}\nui: {logo_file: brand/logo.svg}\n"
	f, err := config.Parse([]byte(yml), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	open := func(f *config.File, read func(string) ([]byte, error)) (*Gateway, error) {
		st, err := sqlite.Open(context.Background(), f.Store.DSN)
		if err != nil {
			t.Fatal(err)
		}
		discard := slog.New(slog.DiscardHandler)
		return New(context.Background(), Config{File: f, Store: st, Logger: discard, Audit: audit.New(slog.DiscardHandler), ReadFile: read})
	}

	// Without a ReadFile, a config naming a file is refused.
	if g, err := open(f, nil); err == nil || !strings.Contains(err.Error(), "ui.logo_file") {
		if g != nil {
			g.Close()
		}
		t.Fatalf("New without ReadFile, a logo named: %v", err)
	}
	g, err := open(f, files.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	if n := files.count("brand/logo.svg"); n != 1 {
		t.Errorf("logo read %d times at start, want 1", n)
	}
	if err := g.Reload(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if n := files.count("brand/logo.svg"); n != 2 {
		t.Errorf("logo read %d times after a reload, want 2", n)
	}
	if n := files.count("tls/cert.pem"); n != 0 {
		t.Errorf("certificate read %d times before serving, want 0", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, ln, aln) }()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certPool(t, certPEM)}}, Timeout: 10 * time.Second}
	resp, err := client.Get("https://" + ln.Addr().String() + "/id/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("HTTPS with the certificate read through ReadFile: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Errorf("discovery over TLS: %d (TLS %v)", resp.StatusCode, resp.TLS != nil)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if files.count("tls/cert.pem") != 1 || files.count("tls/key.pem") != 1 {
		t.Errorf("reads %v, want the certificate and key once each", files.reads)
	}

	// A logo that no longer reads: the reload is rejected with its key.
	files.mu.Lock()
	delete(files.files, "brand/logo.svg")
	files.mu.Unlock()
	if err := g.Reload(context.Background(), f); err == nil || !strings.Contains(err.Error(), "ui.logo_file") {
		t.Errorf("reload with the logo gone: %v, want a ui.logo_file error", err)
	}
}

// selfSigned is a certificate for 127.0.0.1 and its key, in PEM.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
}

func certPool(t *testing.T, certPEM []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(certPEM) {
		t.Fatalf("no certificate in %q", certPEM)
	}
	return p
}
