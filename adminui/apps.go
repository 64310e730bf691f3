package adminui

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/erpgate/erpgate/admin"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/webui"
)

// The Trusted Apps pages: the list (config apps read-only, run-time apps
// editable), a new app, an edit, the kill switch and the secret
// rotation. A new confidential app's secret, and a rotated one, are shown
// once, on the page that answers the POST; the store keeps only its hash.

// appsData is what web/apps.html reads as .D.
type appsData struct {
	frame
	Apps []admin.AppInfo
}

// handleApps lists the apps.
func (c *Console) handleApps(w http.ResponseWriter, r *http.Request, q *req) {
	apps, err := c.cfg.Apps.List(r.Context())
	if err != nil {
		c.failed(w, r, q, "list apps", err)
		return
	}
	c.render(w, r, q, http.StatusOK, webui.Page{Name: "apps.html", Title: webui.Msg("console.apps.title"),
		Data: appsData{frame: c.frame(q, "/apps"), Apps: apps}, Notice: notice(r)})
}

// appForm is the new-app and edit-app form, as typed.
type appForm struct {
	frame
	New                         bool // a new app: uri, type and system user are typed
	URI, Name, Type             string
	SystemUser                  string
	Scopes                      []choice
	RedirectURIs, PostLogout    string // one per line
	AllowInternal, Community    bool
	RequirePKCE                 bool
	ReferenceTokens, Consent    string
	ReferencePolicies, Consents []string
	// Issue 21's settings: DPoP binding, back-channel logout, token
	// exchange.
	DPoP                 string
	DPoPPolicies         []string
	BackchannelLogoutURI string
	BackchannelSID       bool
	TokenExchange        bool
	// Issue 19's: the identity providers the app's login page offers,
	// and whether it takes local passwords.
	Providers      []providerChoice
	LocalPasswords bool
	// Problems are why the app was not saved (config's messages, each
	// with the key it is about).
	Problems []string
}

// choice is one checkbox of a list.
type choice struct {
	Name    string
	Checked bool
}

// IdentityProvider is one of the config file's identity_providers, as
// the app form offers it.
type IdentityProvider struct {
	ID   string
	Name string // the login page's label; "" for the id
}

// providerChoice is one provider checkbox of the app form.
type providerChoice struct {
	ID, Name string
	Checked  bool
	// Gone marks an id the app names that the running config no longer
	// has: shown, so that it can be unchecked, and refused if kept.
	Gone bool
}

// providerChoices are the checkboxes of the configured providers with
// selected checked: selected first, in their order (the login page's),
// then the others in the config's.
func (c *Console) providerChoices(selected []string) []providerChoice {
	var configured []IdentityProvider
	if c.cfg.IdentityProviders != nil {
		configured = c.cfg.IdentityProviders()
	}
	name := func(id string) (string, bool) {
		for _, p := range configured {
			if p.ID == id {
				return cmp.Or(p.Name, p.ID), true
			}
		}
		return id, false
	}
	var out []providerChoice
	for _, id := range selected {
		if slices.ContainsFunc(out, func(ch providerChoice) bool { return ch.ID == id }) {
			continue // a duplicate posted is one checkbox
		}
		n, ok := name(id)
		out = append(out, providerChoice{ID: id, Name: n, Checked: true, Gone: !ok})
	}
	for _, p := range configured {
		if !slices.Contains(selected, p.ID) {
			out = append(out, providerChoice{ID: p.ID, Name: cmp.Or(p.Name, p.ID)})
		}
	}
	return out
}

func (f *appForm) providers() []string {
	out := []string{} // none is a choice: an edit sets it
	for _, ch := range f.Providers {
		if ch.Checked {
			out = append(out, ch.ID)
		}
	}
	return out
}

// appScopes are the scopes an app may be allowed (config apps[].scope).
var appScopes = []string{"read", "update", "sec", "openid", "profile", "offline_access"}

func scopeChoices(selected []string) []choice {
	out := make([]choice, len(appScopes))
	for i, s := range appScopes {
		out[i] = choice{Name: s, Checked: slices.Contains(selected, s)}
	}
	return out
}

func (c *Console) appForm(q *req, isNew bool) appForm {
	return appForm{frame: c.frame(q, "/apps"), New: isNew,
		ReferencePolicies: []string{config.ReferenceTokensNone, config.ReferenceTokensAuthenticatedUsers, config.ReferenceTokensAdministratorsOnly},
		Consents:          []string{config.ConsentImplicit, config.ConsentRequired},
		DPoPPolicies:      []string{config.DPoPOptional, config.DPoPRequired}}
}

// handleNewApp shows the new-app form with the defaults of an apps[]
// entry: confidential, internal users, PKCE, no reference tokens.
func (c *Console) handleNewApp(w http.ResponseWriter, r *http.Request, q *req) {
	f := c.appForm(q, true)
	f.Type, f.AllowInternal, f.RequirePKCE = config.AppConfidential, true, true
	f.ReferenceTokens, f.Consent, f.Scopes = config.ReferenceTokensNone, config.ConsentImplicit, scopeChoices([]string{"read"})
	f.DPoP = config.DPoPOptional
	f.Providers, f.LocalPasswords = c.providerChoices(nil), true
	c.showAppForm(w, r, q, http.StatusOK, f, webui.Text{})
}

func (c *Console) showAppForm(w http.ResponseWriter, r *http.Request, q *req, status int, f appForm, errMsg webui.Text) {
	title := webui.Msg("console.app.edit.title", f.URI)
	if f.New {
		title = webui.Msg("console.app.new.title")
	}
	c.render(w, r, q, status, webui.Page{Name: "app_form.html", Title: title, Data: f, Error: errMsg})
}

// readAppForm reads the posted form into f.
func (c *Console) readAppForm(r *http.Request, f *appForm) {
	p := r.PostForm
	f.Name = strings.TrimSpace(p.Get("name"))
	f.Scopes = scopeChoices(p["scope"])
	f.RedirectURIs, f.PostLogout = p.Get("redirect_uris"), p.Get("post_logout_redirect_uris")
	f.AllowInternal, f.Community, f.RequirePKCE = p.Get("allow_internal_users") == "on", p.Get("allow_community_users") == "on", p.Get("require_pkce") == "on"
	f.ReferenceTokens, f.Consent = p.Get("reference_tokens"), p.Get("consent")
	f.DPoP, f.BackchannelLogoutURI = p.Get("dpop"), strings.TrimSpace(p.Get("backchannel_logout_uri"))
	f.BackchannelSID, f.TokenExchange = p.Get("backchannel_logout_session_required") == "on", p.Get("token_exchange") == "on"
	f.Providers, f.LocalPasswords = c.providerChoices(p["identity_provider"]), p.Get("local_passwords") == "on"
	if f.New {
		f.URI, f.Type, f.SystemUser = strings.TrimSpace(p.Get("uri")), p.Get("type"), strings.TrimSpace(p.Get("system_user"))
	}
}

// lines splits a textarea into its non-empty lines.
func lines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (f *appForm) scope() string {
	var s []string
	for _, ch := range f.Scopes {
		if ch.Checked {
			s = append(s, ch.Name)
		}
	}
	return strings.Join(s, " ")
}

// handleCreateApp creates an app as POST /admin/apps does.
func (c *Console) handleCreateApp(w http.ResponseWriter, r *http.Request, q *req) {
	f := c.appForm(q, true)
	c.readAppForm(r, &f)
	in := config.App{
		URI: f.URI, Name: f.Name, Type: f.Type, SystemUser: f.SystemUser, Scope: f.scope(),
		RedirectURIs: lines(f.RedirectURIs), PostLogoutRedirectURIs: lines(f.PostLogout),
		AllowInternalUsers: &f.AllowInternal, AllowCommunityUsers: &f.Community, RequirePKCE: &f.RequirePKCE,
		ReferenceTokens: f.ReferenceTokens, Consent: f.Consent, DPoP: f.DPoP,
		BackchannelLogoutURI: f.BackchannelLogoutURI, BackchannelLogoutSessionRequired: f.BackchannelSID,
		TokenExchange: f.TokenExchange,

		IdentityProviders: f.providers(), LocalPasswords: &f.LocalPasswords,
	}
	app, secret, err := c.cfg.Apps.Create(r.Context(), in)
	if c.appRefused(w, r, q, f, err) {
		return
	}
	c.auditChange(r, "app.created", app.URI)
	c.showSecret(w, r, q, http.StatusCreated, app, secret, webui.Msg("console.app.created"))
}

// appRefused answers an Apps error on a form; it reports whether there
// was one. A refused form is shown again as typed, with the reasons.
func (c *Console) appRefused(w http.ResponseWriter, r *http.Request, q *req, f appForm, err error) bool {
	var inv *admin.InvalidError
	switch {
	case err == nil:
		return false
	case errors.As(err, &inv):
		f.Problems = inv.Problems
		c.showAppForm(w, r, q, http.StatusBadRequest, f, webui.Msg("console.app.invalid"))
	case errors.Is(err, admin.ErrConflict):
		c.showAppForm(w, r, q, http.StatusConflict, f, webui.Msg("console.app.conflict"))
	default:
		c.appFailed(w, r, q, err)
	}
	return true
}

// appFailed answers an Apps error outside a form.
func (c *Console) appFailed(w http.ResponseWriter, r *http.Request, q *req, err error) {
	switch {
	case errors.Is(err, admin.ErrNotFound):
		c.message(w, r, q, http.StatusNotFound, webui.Msg("console.apps.title"), webui.Msg("console.app.gone"))
	case errors.Is(err, admin.ErrConfigApp):
		c.message(w, r, q, http.StatusConflict, webui.Msg("console.apps.title"), webui.Msg("console.app.config"))
	default:
		var inv *admin.InvalidError
		if errors.As(err, &inv) {
			c.message(w, r, q, http.StatusBadRequest, webui.Msg("console.apps.title"), webui.Msg("console.app.invalid_action", strings.Join(inv.Problems, "; ")))
			return
		}
		c.failed(w, r, q, "apps", err)
	}
}

// secretData is what web/app_secret.html reads as .D.
type secretData struct {
	frame
	App    admin.AppInfo
	Secret string
}

// showSecret shows an app and its new secret, this once.
func (c *Console) showSecret(w http.ResponseWriter, r *http.Request, q *req, status int, app admin.AppInfo, secret string, notice webui.Text) {
	c.render(w, r, q, status, webui.Page{Name: "app_secret.html", Title: webui.Msg("console.app.secret.title", app.URI),
		Data: secretData{frame: c.frame(q, "/apps"), App: app, Secret: secret}, Notice: notice, Script: secret != ""})
}

// findApp is the listed app with uri.
func (c *Console) findApp(r *http.Request, uri string) (admin.AppInfo, error) {
	apps, err := c.cfg.Apps.List(r.Context())
	if err != nil {
		return admin.AppInfo{}, err
	}
	for _, a := range apps {
		if a.URI == uri {
			return a, nil
		}
	}
	return admin.AppInfo{}, admin.ErrNotFound
}

// handleEditApp shows a run-time app's edit form.
func (c *Console) handleEditApp(w http.ResponseWriter, r *http.Request, q *req) {
	a, err := c.findApp(r, r.URL.Query().Get("uri"))
	if err == nil && a.Source != "store" {
		err = admin.ErrConfigApp
	}
	if err != nil {
		c.appFailed(w, r, q, err)
		return
	}
	f := c.appForm(q, false)
	f.URI, f.Name, f.Type, f.SystemUser = a.URI, a.Name, a.Type, a.SystemUser
	f.Scopes = scopeChoices(strings.Fields(a.Scope))
	f.RedirectURIs, f.PostLogout = strings.Join(a.RedirectURIs, "\n"), strings.Join(a.PostLogoutRedirectURIs, "\n")
	f.AllowInternal, f.Community, f.RequirePKCE = a.AllowInternalUsers, a.AllowCommunityUsers, a.RequirePKCE
	f.ReferenceTokens, f.Consent = a.ReferenceTokens, a.Consent
	f.DPoP, f.BackchannelLogoutURI, f.BackchannelSID, f.TokenExchange = a.DPoP, a.BackchannelLogoutURI, a.BackchannelLogoutSessionRequired, a.TokenExchange
	f.Providers, f.LocalPasswords = c.providerChoices(a.IdentityProviders), a.LocalPasswords
	c.showAppForm(w, r, q, http.StatusOK, f, webui.Text{})
}

// handleUpdateApp saves an edit as PATCH /admin/apps/{uri} does.
func (c *Console) handleUpdateApp(w http.ResponseWriter, r *http.Request, q *req) {
	f := c.appForm(q, false)
	f.URI = r.PostForm.Get("uri")
	a, err := c.findApp(r, f.URI)
	if err != nil {
		c.appFailed(w, r, q, err)
		return
	}
	f.Type, f.SystemUser = a.Type, a.SystemUser
	c.readAppForm(r, &f)
	scope, redirects, logout, providers := f.scope(), lines(f.RedirectURIs), lines(f.PostLogout), f.providers()
	if redirects == nil {
		redirects = []string{}
	}
	if logout == nil {
		logout = []string{}
	}
	ch := admin.AppChange{
		Name: &f.Name, Scope: &scope, RedirectURIs: &redirects, PostLogoutRedirectURIs: &logout,
		AllowInternalUsers: &f.AllowInternal, AllowCommunityUsers: &f.Community,
		ReferenceTokens: &f.ReferenceTokens, Consent: &f.Consent, DPoP: &f.DPoP,
		BackchannelLogoutURI: &f.BackchannelLogoutURI, BackchannelLogoutSessionRequired: &f.BackchannelSID,
		TokenExchange: &f.TokenExchange,

		IdentityProviders: &providers, LocalPasswords: &f.LocalPasswords,
	}
	if a.Type != config.AppPublic { // a public app always uses PKCE
		ch.RequirePKCE = &f.RequirePKCE
	}
	app, err := c.cfg.Apps.Update(r.Context(), f.URI, ch)
	if c.appRefused(w, r, q, f, err) {
		return
	}
	c.auditChange(r, "app.updated", app.URI)
	c.done(w, r, "/apps", "app_updated")
}

// handleEnableApp is the kill switch (ERP.net IsEnabled), as POST
// /admin/apps/{uri}/enable and /disable: disabling ends the app's
// sessions and refuses its tokens everywhere.
func (c *Console) handleEnableApp(enabled bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, q *req) {
		app, err := c.cfg.Apps.SetEnabled(r.Context(), r.PostForm.Get("uri"), enabled)
		if err != nil {
			c.appFailed(w, r, q, err)
			return
		}
		what, done := "app.disabled", "app_disabled"
		if enabled {
			what, done = "app.enabled", "app_enabled"
		}
		c.auditChange(r, what, app.URI)
		c.done(w, r, "/apps", done)
	}
}

// handleRotateSecret replaces a confidential app's secret, as POST
// /admin/apps/{uri}/secret; the old one stops working at once.
func (c *Console) handleRotateSecret(w http.ResponseWriter, r *http.Request, q *req) {
	app, secret, err := c.cfg.Apps.RotateSecret(r.Context(), r.PostForm.Get("uri"))
	if err != nil {
		c.appFailed(w, r, q, err)
		return
	}
	c.auditChange(r, "app.secret_rotated", app.URI)
	c.showSecret(w, r, q, http.StatusOK, app, secret, webui.Msg("console.app.rotated"))
}
