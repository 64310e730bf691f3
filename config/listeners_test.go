package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestAdminListenersValidate: admin_tls needs both files; metrics_listen
// is a host:port apart from listen and admin_listen.
func TestAdminListenersValidate(t *testing.T) {
	for _, tt := range []struct {
		name, yaml, path, msg string
	}{
		{"admin_tls cert without key", "admin_tls: {cert_file: c.pem}", "admin_tls.key_file", "required when admin_tls.cert_file is set"},
		{"admin_tls key without cert", "admin_tls: {key_file: k.pem}", "admin_tls.cert_file", "required when admin_tls.key_file is set"},
		{"metrics_listen without port", "metrics_listen: 127.0.0.1", "metrics_listen", "must be host:port"},
		{"metrics_listen port range", "metrics_listen: 127.0.0.1:70000", "metrics_listen", "port must be a number from 0 to 65535"},
		{"metrics_listen on admin_listen", "metrics_listen: 127.0.0.1:9090", "metrics_listen", "must differ from admin_listen"},
		{"metrics_listen on listen", "metrics_listen: 127.0.0.1:8080", "metrics_listen", "must differ from listen"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), nil)
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Path != tt.path || !strings.Contains(ps[0].Message, tt.msg) {
				t.Fatalf("problems %v; want one at %s: %s", ps, tt.path, tt.msg)
			}
		})
	}
	f, err := Parse([]byte("admin_tls: {cert_file: c.pem, key_file: k.pem}\nmetrics_listen: 127.0.0.1:9100\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !f.AdminTLS.Enabled() || f.MetricsListen != "127.0.0.1:9100" {
		t.Errorf("parsed %+v %q", f.AdminTLS, f.MetricsListen)
	}
	if _, err := Parse([]byte("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:0\n"), nil); err != nil {
		t.Errorf("three :0 listeners (each its own free port): %v", err)
	}
}

// TestCheckFiles: erpgate check reads tls and admin_tls and names the
// file that does not read, or the block whose files are not a pair.
func TestCheckFiles(t *testing.T) {
	certA, keyA := testKeyPair(t)
	_, keyB := testKeyPair(t)
	files := map[string][]byte{"a.pem": certA, "a.key": keyA, "b.key": keyB, "junk": []byte("not PEM")}
	read := func(p string) ([]byte, error) {
		if b, ok := files[p]; ok {
			return b, nil
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	for _, tt := range []struct {
		name      string
		tls, adm  TLS
		wantPaths []string
	}{
		{"none", TLS{}, TLS{}, nil},
		{"both pairs", TLS{"a.pem", "a.key"}, TLS{"a.pem", "a.key"}, nil},
		{"admin cert missing", TLS{}, TLS{"missing.pem", "a.key"}, []string{"admin_tls.cert_file"}},
		{"admin key missing", TLS{}, TLS{"a.pem", "missing.key"}, []string{"admin_tls.key_file"}},
		{"admin key of another cert", TLS{"a.pem", "a.key"}, TLS{"a.pem", "b.key"}, []string{"admin_tls"}},
		{"main not PEM", TLS{"junk", "a.key"}, TLS{}, []string{"tls"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &File{TLS: tt.tls, AdminTLS: tt.adm}
			var paths []string
			for _, p := range f.CheckFiles(read) {
				paths = append(paths, p.Path)
				if p.Message == "" {
					t.Errorf("%s: no message", p.Path)
				}
			}
			if strings.Join(paths, " ") != strings.Join(tt.wantPaths, " ") {
				t.Errorf("problems at %v, want %v", paths, tt.wantPaths)
			}
		})
	}
	_, err := LoadKeyPair("admin_tls", TLS{"a.pem", "missing.key"}, read)
	var kerr *KeyPairError
	if !errors.As(err, &kerr) || !strings.HasPrefix(err.Error(), "admin_tls.key_file: cannot be read") {
		t.Errorf("LoadKeyPair error = %v", err)
	}
}

// testKeyPair is a self-signed PEM certificate for localhost and its key.
func testKeyPair(t *testing.T) (cert, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}
