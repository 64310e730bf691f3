package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/erpgate/erpgate/admin"
	"github.com/erpgate/erpgate/adminui"
	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/webui"
)

// recentEvents is how many audit events the console's events page can
// show: the last ones of this replica, in memory.
const recentEvents = 200

// consoleApp is the admin console's built-in Trusted App: public, PKCE,
// scope sec, internal users only, consent implicit, redirected to the
// console's own origin. It is not in the config file (no one should have
// to register it), and config.AdminConsoleApp is refused there.
func consoleApp(f *config.File) directory.App {
	origin := f.AdminUIURL()
	return directory.App{
		ID: config.AdminConsoleApp, Name: "erpgate admin console", Public: true,
		Scopes:                 []string{adminui.Scope},
		RedirectURIs:           []string{adminui.RedirectURI(origin)},
		PostLogoutRedirectURIs: []string{adminui.SignedOutURI(origin)},
		AllowInternalUsers:     true, ReferenceTokens: config.ReferenceTokensNone,
		RequirePKCE: true, Enabled: true,
	}
}

// directoryOf is the directory's config part of f: its apps and users,
// and the console's app when the console is on.
func directoryOf(f *config.File) ([]directory.App, []directory.User, error) {
	apps, users, err := f.Directory()
	if err != nil || !f.AdminUI.Enabled {
		return apps, users, err
	}
	return append(apps, consoleApp(f)), users, nil
}

// newConsole builds the admin console of the file the gateway started
// with (admin_ui is restart-only), or nil when it is off. It judges its
// callers with an admin API handler of its own over the same authority
// and services, so a console request is authorized and audited as an API
// call; its apps are the current snapshot's (liveApps).
func (g *Gateway) newConsole() (http.Handler, error) {
	f := g.file
	if !f.AdminUI.Enabled {
		return nil, nil
	}
	keys, err := f.Gateway.DecodedCookieKeys()
	if err != nil {
		return nil, err
	}
	pages := &consoleKit{g: g}
	apps := liveApps{g}
	judge, err := admin.New(admin.Config{
		Authority: g.authority, Audiences: f.Tokens.Audiences, Sessions: g.sessions,
		Apps: apps, Tokens: g.reftokens, Users: g.users, Logger: g.logger, Audit: g.audit,
	})
	if err != nil {
		return nil, err
	}
	c, err := adminui.New(adminui.Config{
		Admin: judge, Sessions: g.sessions, Apps: apps, Tokens: g.reftokens, Users: g.users,
		Recent: g.recent, Audit: g.audit, Pages: pages.current, IdentityProviders: g.consoleProviders,
		ClientID: config.AdminConsoleApp, Issuer: f.Issuer(), URL: f.AdminUIURL(),
		// The code is exchanged in-process, as browser login does: the
		// admin host need not reach public_url.
		TokenClient: &http.Client{Transport: inProcess{http.HandlerFunc(g.serveIssuer)}, Timeout: 30 * time.Second},
		CookieKeys:  keys, Clock: g.clock, Logger: g.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("admin_ui: %w", err)
	}
	return c, nil
}

// consoleProviders are the current snapshot's identity_providers, which
// the console's app form offers (a reload may change them).
func (g *Gateway) consoleProviders() []adminui.IdentityProvider {
	ps := g.current().file.IdentityProviders
	out := make([]adminui.IdentityProvider, len(ps))
	for i, p := range ps {
		out[i] = adminui.IdentityProvider{ID: p.ID, Name: p.Name}
	}
	return out
}

// consoleKit is the current snapshot's page kit with its assets on the
// admin listener: the console has the identity pages' branding, a
// reload's included, without reading the ui: files again.
type consoleKit struct {
	g    *Gateway
	mu   sync.Mutex
	from *webui.Kit // the snapshot's kit that kit was made from
	kit  *webui.Kit
}

func (k *consoleKit) current() *webui.Kit {
	pages := k.g.current().pages
	k.mu.Lock()
	defer k.mu.Unlock()
	if pages != k.from {
		k.from, k.kit = pages, pages.At(adminui.StaticPath)
	}
	return k.kit
}

// keepRecent makes the gateway's audit logger also keep its latest
// events for the console.
func (g *Gateway) keepRecent() {
	g.recent = audit.NewRecent(recentEvents)
	g.audit = g.audit.KeepIn(g.recent)
}

// liveApps is admin.Apps on the current snapshot's config file, which a
// reload replaces (the API's registry is rebuilt with each snapshot).
type liveApps struct{ g *Gateway }

var _ admin.Apps = liveApps{}

func (l liveApps) registry() *appRegistry {
	g := l.g
	return &appRegistry{file: g.current().file, store: g.store, directory: g.directory, clock: g.clock, enforce: g.enforce}
}

func (l liveApps) List(ctx context.Context) ([]admin.AppInfo, error) { return l.registry().List(ctx) }

func (l liveApps) Create(ctx context.Context, in config.App) (admin.AppInfo, string, error) {
	return l.registry().Create(ctx, in)
}

func (l liveApps) SetEnabled(ctx context.Context, uri string, enabled bool) (admin.AppInfo, error) {
	return l.registry().SetEnabled(ctx, uri, enabled)
}

func (l liveApps) RotateSecret(ctx context.Context, uri string) (admin.AppInfo, string, error) {
	return l.registry().RotateSecret(ctx, uri)
}

func (l liveApps) Update(ctx context.Context, uri string, ch admin.AppChange) (admin.AppInfo, error) {
	return l.registry().Update(ctx, uri, ch)
}
