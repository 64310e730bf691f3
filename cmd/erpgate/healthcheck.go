package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/erpgate/erpgate/config"
)

// healthcheckCommand asks the running instance's /readyz (on admin_listen)
// and fails unless it says ready: a container HEALTHCHECK without curl.
func healthcheckCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	return func(ctx context.Context, _ []string, e env) error { return healthcheck(ctx, *path, e) }
}

func healthcheck(ctx context.Context, path string, e env) error {
	f, err := loadConfig(configPath(path, e), e)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(f.AdminListen)
	if err != nil { // config validation should have caught it
		return fmt.Errorf("admin_listen %q: want HOST:PORT", f.AdminListen)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1" // listening on every interface: ask locally
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	client, scheme, err := healthcheckClient(f.AdminTLS)
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, port)+"/readyz", nil)
	resp, err := client.Do(req) // bounded by ctx
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		return fmt.Errorf("no answer from %s: %v", req.URL, ue.Err)
	} else if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %d %s", resp.StatusCode, body)
	}
	fmt.Fprintf(e.stdout, "%s", body)
	return nil
}

// healthcheckClient asks admin_listen as it serves: over HTTPS with
// admin_tls, where the instance must present exactly the configured
// certificate (pinned: the probe dials 127.0.0.1 or admin_listen's host,
// which the certificate need not name).
func healthcheckClient(t config.TLS) (*http.Client, string, error) {
	if !t.Enabled() {
		return &http.Client{}, "http", nil
	}
	certPEM, err := os.ReadFile(t.CertFile)
	if err != nil {
		return nil, "", fmt.Errorf("admin_tls.cert_file: %w", err)
	}
	block, _ := pem.Decode(certPEM) // the leaf comes first
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, "", fmt.Errorf("admin_tls.cert_file %s: no PEM certificate", t.CertFile)
	}
	leaf := block.Bytes
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, leaf) {
				return errors.New("the admin listener's certificate is not admin_tls.cert_file")
			}
			return nil
		},
	}}}, "https", nil
}
