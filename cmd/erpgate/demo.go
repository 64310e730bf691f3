package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/erpgate/erpgate/config"
	gw "github.com/erpgate/erpgate/gateway"
	"github.com/erpgate/erpgate/sampleapi"
)

// demoSecret is the client secret whose hash config.example.yaml gives
// its sample service app. It is public: never use it outside the demo.
const demoSecret = "demo-secret"

// cmdDemo runs the gateway from config.example.yaml and serves the sample
// ERP API on every loopback upstream its routes name, so a fresh clone
// can get a token and call an API with nothing else running.
func cmdDemo(ctx context.Context, args []string, e env) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	path := fs.String("config", "config.example.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := loadConfig(*path, e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	upstreams, err := startSampleUpstreams(ctx, f)
	if err != nil {
		return err
	}
	// SIGHUP re-reads the same file.
	return runGateway(ctx, f, func() (*config.File, error) { return loadConfig(*path, e) }, e, func(_, admin net.Addr) {
		printDemoBanner(e, f, upstreams, admin)
	})
}

// startSampleUpstreams serves sampleapi on each distinct loopback
// host:port that a route forwards to.
func startSampleUpstreams(ctx context.Context, f *config.File) ([]string, error) {
	seen := map[string]bool{}
	var started []string
	for _, r := range f.Routes {
		u, err := url.Parse(r.Upstream)
		if err != nil || seen[u.Host] {
			continue
		}
		seen[u.Host] = true
		if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			continue // not ours to serve
		}
		ln, err := net.Listen("tcp", u.Host)
		if err != nil {
			return nil, fmt.Errorf("sample upstream on %s: %w (is another erpgate demo running?)", u.Host, err)
		}
		srv := &http.Server{Handler: sampleapi.New(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Printf("sample upstream %s: %v\n", u.Host, err)
			}
		}()
		go func() {
			<-ctx.Done()
			_ = srv.Close()
		}()
		started = append(started, u.Host)
	}
	return started, nil
}

func printDemoBanner(e env, f *config.File, upstreams []string, admin net.Addr) {
	id, secret := "<client_id>", "<secret>"
	for _, a := range f.Apps {
		if a.SystemUser != "" && a.SecretHash == gw.SecretHash(demoSecret) {
			id, secret = a.URI, demoSecret
			break
		}
	}
	fmt.Fprintf(e.stdout, `
erpgate demo is running
  gateway + identity server  %s   (issuer %s)
  metrics and health         http://%s/metrics  /healthz  /readyz
  sample ERP API upstream    %v
  store                      %s %s

Try it (in another terminal):
  TOKEN=$(curl -s -d grant_type=client_credentials -d client_id=%s -d client_secret=%s \
    %s/connect/token | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -s -H "Authorization: Bearer $TOKEN" %s/api/domain/odata/General_Contacts_Persons

Stop with Ctrl-C.
`, f.PublicURL, f.Issuer(), admin, upstreams, f.Store.Driver, f.Store.DSN, id, secret, f.Issuer(), f.PublicURL)
}
