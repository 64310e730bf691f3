package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/clientaddr"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/hostcheck"
	"github.com/erpgate/erpgate/issuer"
	"github.com/erpgate/erpgate/policy"
	"github.com/erpgate/erpgate/proxy"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/webui"
)

// Config reload (SIGHUP). A gateway is two layers:
//
//   - long-lived state built once by New from the file it started
//     with: store, signing keys, revocation list, session manager,
//     reference-token service, metrics registry, listeners, logger;
//   - a snapshot of everything else derived from the file: identity
//     server (apps, users, token lifetimes), policy, upstreams and browser
//     login (proxy), admin API settings.
//
// Reload builds a new snapshot beside the running one and swaps it in
// with one atomic store. Each request loads the snapshot once, at the
// top, and runs on it to the end: requests in flight, long streams
// included, finish on the snapshot they started on; the next request
// sees the new one. No listener is touched, so no connection drops.

// snapshot is the part of a running gateway rebuilt on reload. It is
// immutable once published.
type snapshot struct {
	file     *config.File
	issuer   *issuer.Server
	handler  http.Handler // identity server + proxy, behind the host check
	adminAPI http.Handler // /admin/
	// clients finds the real client address (trusted_proxies).
	clients clientaddr.Resolver
	// pages is the page kit (ui:), which the console serves on the
	// admin listener too (adminui.go).
	pages *webui.Kit
}

// reloadRejected and reloadApplied are the reasons of the
// config.reloaded audit event.
const (
	reloadRejected = "rejected"
	reloadApplied  = "applied"
)

// restartOnly are the settings held by long-lived state; a reload keeps
// their running values and reports a change as needing a restart. Each
// entry names its setting once: keep compares and copies it. The
// license (session manager, SetLicense), log.level (Config.LogLevel)
// and limits (each snapshot's identity server) are applied; see Reload.
var restartOnly = []setting{
	{"public_url", keep(func(f *config.File) *string { return &f.PublicURL })}, // the issuer, in every token
	{"listen", keep(func(f *config.File) *string { return &f.Listen })},
	{"admin_listen", keep(func(f *config.File) *string { return &f.AdminListen })},
	{"tls", keep(func(f *config.File) *config.TLS { return &f.TLS })},
	// The listeners are bound, and their certificates read, at start.
	{"admin_tls", keep(func(f *config.File) *config.TLS { return &f.AdminTLS })},
	{"metrics_listen", keep(func(f *config.File) *string { return &f.MetricsListen })},
	{"store", keep(func(f *config.File) *config.Store { return &f.Store })},
	{"signing", keep(func(f *config.File) *config.Signing { return &f.Signing })},
	// The keyring keeps retired keys published for this long.
	{"tokens.access_token_ttl", keep(func(f *config.File) *config.Duration { return &f.Tokens.AccessTokenTTL })},
	// The reference-token service mints tokens for them.
	{"tokens.audiences", keep(func(f *config.File) *[]string { return &f.Tokens.Audiences })},
	{"sessions", keep(func(f *config.File) *config.Sessions { return &f.Sessions })},
	// The caller built the handlers and opened the audit file; the
	// access log wraps the main handler once.
	{"log.format", keep(func(f *config.File) *string { return &f.Log.Format })},
	{"log.audit", keep(func(f *config.File) *string { return &f.Log.Audit })},
	{"log.access_log", keep(func(f *config.File) *bool { return &f.Log.AccessLog })},
	{"tracing", keep(func(f *config.File) *config.Tracing { return &f.Tracing })}, // the provider, built once
	// The console, built once.
	{"admin_ui", keep(func(f *config.File) *config.AdminUI { return &f.AdminUI })},
	// The DPoP checker's nonces, built once.
	{"dpop", keep(func(f *config.File) *config.DPoP { return &f.DPoP })},
}

// logLevelRestartOnly is log.level's entry, restart-only when the caller
// gave no Config.LogLevel to set.
var logLevelRestartOnly = setting{"log.level", keep(func(f *config.File) *string { return &f.Log.Level })}

// setting is one restart-only setting: its path, and keep, which sets
// next's value to running's and reports whether they differed.
type setting struct {
	path string
	keep func(next, running *config.File) (changed bool)
}

// keep makes the restartOnly entry of the setting that field points to:
// it sets next's value to running's and reports whether they differed.
func keep[T any](field func(*config.File) *T) func(next, running *config.File) bool {
	return func(next, running *config.File) bool {
		dst, src := field(next), field(running)
		changed := !reflect.DeepEqual(*dst, *src)
		*dst = *src
		return changed
	}
}

// keepRestartOnly returns a copy of next with the restart-only settings
// (restartOnly and extra) of running, and the paths of those that
// differ.
func keepRestartOnly(running, next *config.File, extra ...setting) (*config.File, []string) {
	merged := *next
	var changed []string
	for _, s := range append(restartOnly[:len(restartOnly):len(restartOnly)], extra...) {
		if s.keep(&merged, running) {
			changed = append(changed, s.path)
		}
	}
	return &merged, changed
}

// current is the snapshot serving new requests.
func (g *Gateway) current() *snapshot { return g.snap.Load() }

// withClientAddr puts the real client address in RemoteAddr (the current
// snapshot's trusted_proxies), before anything logs or throttles on it.
func (g *Gateway) withClientAddr(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, g.current().clients.Resolve(r))
	})
}

// serveCurrent serves r on the current snapshot, for as long as r takes.
func (g *Gateway) serveCurrent(w http.ResponseWriter, r *http.Request) {
	g.current().handler.ServeHTTP(w, r)
}

// serveAdminAPI serves /admin/ with the current snapshot's settings.
func (g *Gateway) serveAdminAPI(w http.ResponseWriter, r *http.Request) {
	g.current().adminAPI.ServeHTTP(w, r)
}

// syncApps reads apps other processes changed into the directory.
func (g *Gateway) syncApps(ctx context.Context) error { return g.directory.Sync(ctx) }

// Reload applies f, a file config.Parse accepted, to the running gateway:
// a new snapshot is built and swapped in atomically, the session manager
// gets the license (license.slots, license.reserved) and the process log
// log.level. Settings only a restart can change keep their running values
// and are logged as needing a restart; the rest is applied. If the
// snapshot cannot be built the reload is rejected and the old config
// stays. Either way the outcome is logged, audited (config.reloaded,
// reason applied or rejected; applied and needs_restart list the
// settings) and set on erpgate_config_last_reload_success.
func (g *Gateway) Reload(ctx context.Context, f *config.File) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	if f == nil {
		return g.reloadFailed(ctx, errors.New("no config"))
	}
	var extra []setting
	if g.logLevel == nil {
		extra = append(extra, logLevelRestartOnly)
	}
	merged, restart := keepRestartOnly(g.file, f, extra...)
	applied := changedSettings(g.current().file, merged)
	var level slog.Level
	if err := level.UnmarshalText([]byte(merged.Log.Level)); err != nil {
		return g.reloadFailed(ctx, fmt.Errorf("log.level: %w", err))
	}
	apps, users, err := directoryOf(merged) // adminui.go
	if err != nil {
		return g.reloadFailed(ctx, err)
	}
	next, err := g.buildSnapshot(merged)
	if err != nil {
		return g.reloadFailed(ctx, err)
	}
	// Last of what can fail: the license is in force from here on.
	if err := g.sessions.SetLicense(merged.License.Slots, merged.License.Reserved); err != nil {
		return g.reloadFailed(ctx, err)
	}
	next.issuer.InheritState(g.current().issuer) // login throttles, rate limits
	changes := g.directory.SetConfig(apps, users)
	g.snap.Store(next)
	g.enforce(ctx, changes) // enforce.go: end what the change takes away
	g.pruneTransports(merged)
	g.metrics.ConfigReloadOK.Set(1)
	for _, p := range restart {
		g.logger.Warn("config reload: setting not applied, needs a restart", "path", p)
	}
	for _, w := range merged.Warnings() {
		g.logger.Warn("config warning", "path", w.Path, "problem", w.Message)
	}
	attrs := []slog.Attr{slog.Any("applied", applied), slog.Any("needs_restart", append([]string{}, restart...))}
	if slices.ContainsFunc(applied, func(p string) bool { return strings.HasPrefix(p, "license.") }) {
		attrs = append(attrs, g.reportLicense(ctx)...)
	}
	g.logger.LogAttrs(ctx, slog.LevelInfo, "config reloaded", append([]slog.Attr{slog.Int("apps", len(merged.Apps)),
		slog.Int("users", len(merged.Users)), slog.Int("routes", len(merged.Routes))}, attrs...)...)
	g.audit.Log(ctx, audit.Event{Name: audit.ConfigReloaded, Reason: reloadApplied, Attrs: attrs})
	// Last, so the report above is logged at the level it was read at.
	if g.logLevel != nil {
		g.logLevel.Set(level)
	}
	return nil
}

// reportLicense logs what a new license leaves to time, and returns it
// for the reload report: sessions over a lowered cap are not ended (new
// ones are refused until fewer than license.slots are open), and seats
// held by logins no longer reserved stay until their sessions end.
func (g *Gateway) reportLicense(ctx context.Context) []slog.Attr {
	lic, err := g.sessions.License(ctx)
	if err != nil {
		g.logger.Warn("config reload: license applied; its use could not be read", "err", err)
		return nil
	}
	attrs := []slog.Attr{slog.Int("license_slots", lic.Total), slog.Int("license_used", lic.Used)}
	if !lic.Unlimited && lic.Used > lic.Total {
		g.logger.Warn("config reload: license.slots is below the sessions open; none was ended, and new sessions are refused (MaximumLicenseCountExceeded) until fewer than license.slots are open",
			"license_slots", lic.Total, "license_used", lic.Used)
	}
	stale, err := g.sessions.StaleSeats(ctx)
	if err != nil {
		g.logger.Warn("config reload: reserved seats held could not be read", "err", err)
		return attrs
	}
	for _, s := range stale {
		g.logger.Warn("config reload: a session keeps the reserved seat its login no longer has until it ends; end it to free the seat",
			"subject", s.Subject, "session", s.ID)
	}
	if len(stale) > 0 {
		attrs = append(attrs, slog.Int("stale_reserved_seats", len(stale)))
	}
	return attrs
}

// changedSettings lists the settings that differ between a and b, by
// their YAML paths: a top-level key, or one level down in a section
// ("license.slots", "limits.token_burst"); lists by their key ("apps").
func changedSettings(a, b *config.File) []string {
	var out []string
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for i := range va.NumField() {
		f := va.Type().Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		fa, fb := va.Field(i), vb.Field(i)
		if f.Type.Kind() != reflect.Struct || f.Type == reflect.TypeFor[config.Duration]() {
			if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
				out = append(out, name)
			}
			continue
		}
		for j := range f.Type.NumField() {
			if sub := yamlName(f.Type.Field(j)); sub != "" && !reflect.DeepEqual(fa.Field(j).Interface(), fb.Field(j).Interface()) {
				out = append(out, name+"."+sub)
			}
		}
	}
	return out
}

// yamlName is the YAML key of an exported field; "" for none.
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if !f.IsExported() || f.Anonymous || name == "-" {
		return ""
	}
	return name
}

// reloadFrom reads the config with load and applies it; a file that
// does not read or validate is rejected with every problem logged.
func (g *Gateway) reloadFrom(ctx context.Context, load func() (*config.File, error)) error {
	f, err := load()
	if err != nil {
		g.reloadMu.Lock()
		defer g.reloadMu.Unlock()
		return g.reloadFailed(ctx, err)
	}
	return g.Reload(ctx, f)
}

// reloadFailed records a rejected reload; the running config stays.
// Called with reloadMu held.
func (g *Gateway) reloadFailed(ctx context.Context, err error) error {
	g.metrics.ConfigReloadOK.Set(0)
	var probs config.Problems
	if errors.As(err, &probs) {
		for _, p := range probs {
			g.logger.Error("config reload: problem", "path", p.Path, "problem", p.Message)
		}
	}
	g.logger.Error("config reload rejected; the running config stays", "problems", max(len(probs), 1), "err", err)
	g.audit.Log(ctx, audit.Event{Name: audit.ConfigReloaded, Reason: reloadRejected,
		Attrs: []slog.Attr{slog.Int("problems", max(len(probs), 1))}})
	return fmt.Errorf("config reload rejected: %w", err)
}

// buildSnapshot builds the per-config handlers of f on the gateway's
// long-lived state. It has no effect on the running gateway but the
// upstream transports it adds to the pool.
func (g *Gateway) buildSnapshot(f *config.File) (*snapshot, error) {
	pages, err := pageKit(f, g.readFile, g.logger) // ui.go
	if err != nil {
		return nil, err
	}
	providers, err := g.identityProviders(f) // federation.go
	if err != nil {
		return nil, err
	}
	iss, err := issuer.New(issuer.Config{
		Issuer: f.Issuer(), AccessTokenTTL: f.Tokens.AccessTokenTTL.D(), Audiences: f.Tokens.Audiences,
		ScopeAsString: f.Tokens.ScopeFormat == "string", Directory: g.directory,
		CodeTTL: f.Tokens.CodeTTL.D(), RefreshTokenTTL: f.Tokens.RefreshTokenTTL.D(),
		PublicRefreshTokenTTL: f.Tokens.PublicRefreshTokenTTL.D(), RefreshReuseGrace: f.Tokens.RefreshReuseGrace.D(),
		IdentitySessionTTL: identitySessionTTL, Database: f.Instance.DatabaseName(),
		AuthCodes: g.store, RefreshTokens: g.store, IdentitySessions: g.store, Consents: g.store, SessionClients: g.store,
		Revocations: g.revoked, Authority: g.authority,
		EndSession: func(ctx context.Context, sid string) error {
			// Through the manager: refused at once here, audited.
			_, err := g.sessions.End(ctx, sid, store.EndLogout)
			return err
		},
		ReferenceTokens: g.reftokens, SignInURL: signInURL(f), Limits: issuerLimits(f), // limits.go
		// The account page's password change: the directory builds and
		// applies it, the store keeps it for every process.
		// Reset links: the users an operator manages (users.go).
		Passwords: g.directory, PasswordChanges: g.store, PasswordResets: g.users,
		Pages:  pages,
		Signer: g.keys, Clock: g.clock, Logger: g.logger, Audit: g.audit, Metrics: g.metrics,
		DPoP: g.dpop,
		// Sign-in through external identity providers (federation.go):
		// users their rules admit are created as the admin API creates
		// them.
		Providers: providers, FederatedLinks: g.store, FederatedUsers: g.users, Factors: g.store, Passkeys: g.store,
	})
	if err != nil {
		return nil, err
	}
	pol, err := policy.Compile(PolicyRoutes(f)) // routes.go
	if err != nil {
		return nil, err
	}
	ups, err := proxyUpstreams(f)
	if err != nil {
		return nil, err
	}
	for i := range ups { // transports.go
		ups[i].Transport = g.upstreamTransport(g.transport(ups[i])) // tracing.go
		ups[i].ClientIdleTimeout = f.Routes[i].ClientIdleTimeout.D()
	}
	trusted, err := trustedProxies(f)
	if err != nil {
		return nil, err
	}
	// Browser login reaches the identity server in-process: the current
	// one, so a login that spans a reload meets today's apps and users.
	browser, err := newBrowserLogin(f, http.HandlerFunc(g.serveIssuer), g.keys, pages, g.clock, g.logger) // browser.go; nil without gateway.client_id
	if err != nil {
		return nil, err
	}
	px, err := proxy.New(proxy.Config{
		Exchanger: iss,    // mints the routes' upstream_token (proxy/exchange.go)
		Live:      g.live, // the gateway's, outliving this snapshot (live.go)

		Policy: pol, Upstreams: ups, Authority: g.traceAuthority(g.authority), TrustedProxies: trusted, Browser: browser, Pages: pages,
		Scheme: publicScheme(f), Issuer: f.Issuer(),
		Clock: g.clock, Logger: g.logger, Audit: g.audit, Metrics: g.metrics,
	})
	if err != nil {
		return nil, err
	}
	// Host must be public_url's or one of allowed_hosts (421 otherwise),
	// for the identity server as for the proxy.
	hosts, err := hostcheck.New(f.PublicURL, f.AllowedHosts)
	if err != nil {
		return nil, err
	}
	registry := &appRegistry{file: f, store: g.store, directory: g.directory, clock: g.clock, enforce: g.enforce}
	adminAPI, err := newAdminAPI(f, g.authority, g.sessions, registry, g.reftokens, g.users, g.logger, g.audit)
	if err != nil {
		return nil, err
	}
	return &snapshot{file: f, issuer: iss, handler: hosts.Middleware(splitIssuer(iss.Prefix(), iss, px)), adminAPI: adminAPI,
		clients: clientaddr.Resolver{Trusted: trusted}, pages: pages}, nil
}

// serveIssuer serves r with the current identity server.
func (g *Gateway) serveIssuer(w http.ResponseWriter, r *http.Request) {
	g.current().issuer.ServeHTTP(w, r)
}

// splitIssuer sends the issuer's paths to the identity server and
// everything else to the proxy.
func splitIssuer(prefix string, iss, px http.Handler) http.Handler {
	asMetadata := authorizationServerMetadataPath + prefix
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == prefix || strings.HasPrefix(p, prefix+"/"):
			iss.ServeHTTP(w, r)
		case p == asMetadata:
			// RFC 8414 §3.1: an issuer with a path has its metadata at
			// the well-known path with the issuer's path after it. It is
			// the discovery document (§5 allows one for both).
			r2 := r.Clone(r.Context())
			r2.URL.Path, r2.URL.RawPath = prefix+"/.well-known/openid-configuration", ""
			iss.ServeHTTP(w, r2)
		default:
			px.ServeHTTP(w, r)
		}
	})
}

// authorizationServerMetadataPath is RFC 8414's well-known path, where
// OAuth clients that know only the issuer (say, from protected-resource
// metadata, RFC 9728) look for its metadata.
const authorizationServerMetadataPath = "/.well-known/oauth-authorization-server"
