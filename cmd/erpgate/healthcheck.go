package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// cmdHealthcheck asks the running instance's /readyz (on admin_listen)
// and fails unless it says ready: a container HEALTHCHECK without curl.
func cmdHealthcheck(ctx context.Context, args []string, e env) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	path := fs.String("config", "", "config file (default $ERPGATE_CONFIG, else erpgate.yaml)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := loadConfig(configPath(*path, e), e)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(f.AdminListen)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1" // listening on every interface: ask locally
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	resp, err := (&http.Client{}).Do(req) // bounded by ctx
	if err != nil {
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
