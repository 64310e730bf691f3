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
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/erpgate/erpgate/config"
	gw "github.com/erpgate/erpgate/gateway"
	"github.com/erpgate/erpgate/sampleapi"
)

// demoSecret is the client secret whose hash config.example.yaml gives
// its sample service app. It is public: never use it outside the demo.
const demoSecret = "demo-secret"

// demoSampleAPI is where config.example.yaml's routes forward: the
// demo's own sample ERP API.
const demoSampleAPI = "127.0.0.1:8081"

// demoCommand runs the gateway from config.example.yaml and serves the
// sample ERP API at --sample-api, so a fresh clone can get a token and
// call an API with nothing else running. It serves the sample only
// there, never on whatever other upstream a config names: that address
// may be a real API not started yet.
func demoCommand(fs *flag.FlagSet) runFunc {
	path := fs.String("config", "config.example.yaml", "the config `FILE`")
	sample := fs.String("sample-api", demoSampleAPI, "the `HOST:PORT` (loopback) where the demo serves its sample ERP API")
	return func(ctx context.Context, _ []string, e env) error {
		f, err := loadConfig(*path, e)
		if err != nil {
			return err
		}
		if err := checkSampleAddr(*sample); err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		routes := sampleRoutes(f, *sample)
		if len(routes) > 0 {
			if err := startSampleAPI(ctx, *sample, e.stderr); err != nil {
				return err
			}
		}
		// SIGHUP re-reads the same file.
		return runGateway(ctx, f, func() (*config.File, error) { return loadConfig(*path, e) }, e, func(main, admin net.Addr) {
			printDemoBanner(e.stdout, f, demoBanner{main: main, admin: admin, sample: *sample, routes: routes, config: *path})
		})
	}
}

// checkSampleAddr refuses a sample API address off loopback: the demo
// serves public demo data, never to the network.
func checkSampleAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--sample-api %q: want HOST:PORT, such as %s", addr, demoSampleAPI)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--sample-api %q: the sample API listens on loopback only (127.0.0.1, ::1 or localhost)", addr)
	}
	return nil
}

// sampleRoutes names the routes of f that forward to the sample API at
// addr.
func sampleRoutes(f *config.File, addr string) []string {
	var names []string
	for _, r := range f.Routes {
		if u, err := url.Parse(r.Upstream); err == nil && u.Host == addr {
			names = append(names, r.Name)
		}
	}
	return names
}

// startSampleAPI serves sampleapi on addr until ctx ends.
func startSampleAPI(ctx context.Context, addr string, stderr io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("the sample ERP API cannot listen on %s (is another erpgate demo running?): %w", addr, err)
	}
	srv := &http.Server{Handler: sampleapi.New(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "sample ERP API on %s: %v\n", addr, err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return nil
}

// demoBanner is what the banner says where things are.
type demoBanner struct {
	main, admin net.Addr // as listening
	sample      string   // the sample API's address
	routes      []string // the routes forwarding to it; none: not started
	config      string   // the config file
}

// printDemoBanner says where everything listens, as URLs a person can
// paste, and how to get a first token.
func printDemoBanner(w io.Writer, f *config.File, b demoBanner) {
	id, secret := "<client_id>", "<secret>"
	for _, a := range f.Apps {
		if a.SystemUser != "" && a.SecretHash == gw.SecretHash(demoSecret) {
			id, secret = a.URI, demoSecret
			break
		}
	}
	admin := "http://" + hostPort(b.admin)
	sample := "not started: no route forwards to " + b.sample
	if len(b.routes) > 0 {
		sample = fmt.Sprintf("http://%s (routes %s)", b.sample, strings.Join(b.routes, ", "))
	}
	store := f.Store.Driver
	if f.Store.Driver == config.DriverSQLite {
		store += " " + f.Store.DSN
	}
	fmt.Fprint(w, "\nerpgate demo is running\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  gateway\t%s\t(listening on %s)\n", f.PublicURL, b.main)
	fmt.Fprintf(tw, "  identity server\t%s\t(discovery: %s/.well-known/openid-configuration)\n", f.Issuer(), f.Issuer())
	fmt.Fprintf(tw, "  metrics and health\t%s/metrics\t%s/healthz  %s/readyz\n", admin, admin, admin)
	if f.AdminUI.Enabled {
		fmt.Fprintf(tw, "  admin console\t%s/admin/ui/\t(sign in as an administrator)\n", f.AdminUIURL())
	}
	fmt.Fprintf(tw, "  sample ERP API\t%s\t\n", sample)
	fmt.Fprintf(tw, "  store\t%s\t\n", store)
	tw.Flush()
	fmt.Fprintf(w, `
Try it (in another terminal):
  TOKEN=$(curl -s -d grant_type=client_credentials -d client_id=%s -d client_secret=%s \
    %s/connect/token | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -s -H "Authorization: Bearer $TOKEN" %s/api/domain/odata/General_Contacts_Persons

An admin API token: erpgate admin token --config %s --ttl 10m

Stop with Ctrl-C.
`, id, secret, f.Issuer(), f.PublicURL, b.config)
}

// hostPort is a listener's address as a URL host a local client can
// reach: 127.0.0.1:8080, [::1]:8080; a listener on every interface
// (0.0.0.0, ::) is reached on loopback.
func hostPort(a net.Addr) string {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := t.IP
	if ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(t.Port))
}
