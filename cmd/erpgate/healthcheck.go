package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
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
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	resp, err := (&http.Client{}).Do(req) // bounded by ctx
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
