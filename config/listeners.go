package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
)

// adminListeners checks admin_tls and metrics_listen: the admin
// listener's certificate pair, and a metrics listener apart from the two
// others.
func (v *validator) adminListeners() {
	f := v.f
	if t := f.AdminTLS; t.CertFile != "" && t.KeyFile == "" {
		v.add("admin_tls.key_file", "required when admin_tls.cert_file is set")
	} else if t.KeyFile != "" && t.CertFile == "" {
		v.add("admin_tls.cert_file", "required when admin_tls.key_file is set")
	}
	m := f.MetricsListen
	if m == "" {
		return
	}
	if msg := checkHostPort(m); msg != "" {
		v.add("metrics_listen", msg)
		return
	}
	// Port 0 picks a free port each, so only fixed ports can clash.
	if strings.HasSuffix(m, ":0") {
		return
	}
	for _, l := range []struct{ path, addr string }{{"listen", f.Listen}, {"admin_listen", f.AdminListen}} {
		if m == l.addr {
			v.addf("metrics_listen", "must differ from %s", l.path)
		}
	}
}

// CheckFiles reads the certificate files f names, with read, and reports
// what the listeners would fail on when they start: a file that does
// not read, or a certificate and key that are not a pair. Parse does
// not read files; `erpgate check` calls this after it.
func (f *File) CheckFiles(read func(path string) ([]byte, error)) Problems {
	var probs Problems
	for _, l := range []struct {
		path string
		tls  TLS
	}{{"tls", f.TLS}, {"admin_tls", f.AdminTLS}} {
		if !l.tls.Enabled() {
			continue
		}
		var kerr *KeyPairError
		if _, err := LoadKeyPair(l.path, l.tls, read); errors.As(err, &kerr) {
			probs = append(probs, kerr.Problem)
		}
	}
	return probs
}

// LoadKeyPair reads and pairs the certificate and key of t, the TLS block
// at path ("tls", "admin_tls"), with read, for a listener to serve. Its
// error is a *KeyPairError naming the file at fault.
func LoadKeyPair(path string, t TLS, read func(path string) ([]byte, error)) (tls.Certificate, error) {
	cert, err := read(t.CertFile)
	if err != nil {
		return tls.Certificate{}, &KeyPairError{Problem{path + ".cert_file", fmt.Sprintf("cannot be read: %v", err)}}
	}
	key, err := read(t.KeyFile)
	if err != nil {
		return tls.Certificate{}, &KeyPairError{Problem{path + ".key_file", fmt.Sprintf("cannot be read: %v", err)}}
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return tls.Certificate{}, &KeyPairError{Problem{path, fmt.Sprintf("cert_file and key_file are not a PEM certificate and its private key: %v", err)}}
	}
	return pair, nil
}

// KeyPairError is why LoadKeyPair failed, at the path of the file (or the
// block) at fault.
type KeyPairError struct{ Problem }

func (e *KeyPairError) Error() string { return e.Problem.String() }
