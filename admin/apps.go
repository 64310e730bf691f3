package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/requestid"
)

// Apps manages Trusted Applications created at run time; the gateway
// implements it over the store and the live directory (gateway/apps.go).
type Apps interface {
	List(ctx context.Context) ([]AppInfo, error)
	// Create stores a new app; for a confidential app it returns the
	// generated secret, shown once.
	// in has the keys of an apps[] entry of the config file, without
	// secret_hash.
	Create(ctx context.Context, in config.App) (AppInfo, string, error)
	SetEnabled(ctx context.Context, uri string, enabled bool) (AppInfo, error)
	// RotateSecret replaces a confidential app's secret and returns the
	// new one, shown once.
	RotateSecret(ctx context.Context, uri string) (AppInfo, string, error)
	// Update edits a run-time app (config apps are ErrConfigApp): the
	// fields ch sets replace the app's, by the rules of Create.
	Update(ctx context.Context, uri string, ch AppChange) (AppInfo, error)
}

// AppChange is an edit of an app: each field that is set (non-nil)
// replaces the app's value, the others stay (PATCH, RFC 7396 style). The
// keys are those of an apps[] entry of the config file. The uri, type,
// system user and secret are not edited: they are the app's identity and
// credential (the secret is rotated, not set).
type AppChange struct {
	Name                   *string   `json:"name,omitempty"`
	Scope                  *string   `json:"scope,omitempty"`
	RedirectURIs           *[]string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs *[]string `json:"post_logout_redirect_uris,omitempty"`
	AllowInternalUsers     *bool     `json:"allow_internal_users,omitempty"`
	AllowCommunityUsers    *bool     `json:"allow_community_users,omitempty"`
	ReferenceTokens        *string   `json:"reference_tokens,omitempty"`
	Consent                *string   `json:"consent,omitempty"`
	DPoP                   *string   `json:"dpop,omitempty"`
	MFA                    *string   `json:"mfa,omitempty"` // issue 20: optional or required
	RequirePKCE            *bool     `json:"require_pkce,omitempty"`
	// Issue 21: back-channel logout and token exchange.
	BackchannelLogoutURI             *string `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired *bool   `json:"backchannel_logout_session_required,omitempty"`
	TokenExchange                    *bool   `json:"token_exchange,omitempty"`
	// Issue 19: the identity providers the login page offers (ids of the
	// config file's identity_providers; [] for none) and whether it takes
	// local passwords.
	IdentityProviders *[]string `json:"identity_providers,omitempty"`
	LocalPasswords    *bool     `json:"local_passwords,omitempty"`
}

// Apply sets ch's fields on a, an app in the config file's form.
func (ch AppChange) Apply(a *config.App) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&a.Name, ch.Name)
	set(&a.Scope, ch.Scope)
	set(&a.ReferenceTokens, ch.ReferenceTokens)
	set(&a.Consent, ch.Consent)
	set(&a.DPoP, ch.DPoP)
	set(&a.MFA, ch.MFA)
	set(&a.BackchannelLogoutURI, ch.BackchannelLogoutURI)
	if ch.BackchannelLogoutSessionRequired != nil {
		a.BackchannelLogoutSessionRequired = *ch.BackchannelLogoutSessionRequired
	}
	if ch.TokenExchange != nil {
		a.TokenExchange = *ch.TokenExchange
	}
	if ch.RedirectURIs != nil {
		a.RedirectURIs = slices.Clone(*ch.RedirectURIs)
	}
	if ch.PostLogoutRedirectURIs != nil {
		a.PostLogoutRedirectURIs = slices.Clone(*ch.PostLogoutRedirectURIs)
	}
	if ch.IdentityProviders != nil {
		a.IdentityProviders = slices.Clone(*ch.IdentityProviders)
	}
	for _, b := range []struct {
		dst **bool
		v   *bool
	}{
		{&a.AllowInternalUsers, ch.AllowInternalUsers}, {&a.AllowCommunityUsers, ch.AllowCommunityUsers}, {&a.RequirePKCE, ch.RequirePKCE},
		{&a.LocalPasswords, ch.LocalPasswords},
	} {
		if b.v != nil {
			v := *b.v
			*b.dst = &v
		}
	}
}

// Errors an Apps implementation returns.
var (
	ErrNotFound  = errors.New("admin: no such app")
	ErrConflict  = errors.New("admin: an app with this uri exists")
	ErrConfigApp = errors.New("admin: the app is defined in the config file; change it there")
)

// InvalidError lists what is wrong with a new app, each with its path
// ("app.redirect_uris[0]: must be …").
type InvalidError struct{ Problems []string }

func (e *InvalidError) Error() string { return "admin: invalid app" }

// SourceBuiltIn is the source of the admin console's own app, which is
// neither in the config file nor stored (gateway/adminui.go).
const SourceBuiltIn = "builtin"

// ViewOf is how the API shows a; source is "config", "store" or
// SourceBuiltIn.
func ViewOf(a directory.App, source string) AppInfo {
	typ := config.AppConfidential
	if a.Public {
		typ = config.AppPublic
	}
	v := AppInfo{
		URI: a.ID, Name: a.Name, Type: typ, SystemUser: a.SystemUser, Scope: strings.Join(a.Scopes, " "),
		RedirectURIs: nonNil(a.RedirectURIs), PostLogoutRedirectURIs: nonNil(a.PostLogoutRedirectURIs),
		AllowInternalUsers: a.AllowInternalUsers, AllowCommunityUsers: a.AllowCommunityUsers,
		ReferenceTokens: a.ReferenceTokens, RequirePKCE: a.RequirePKCE, Enabled: a.Enabled, Source: source,
		Consent: config.ConsentImplicit, DPoP: config.DPoPOptional, MFA: config.MFAOptional,
		BackchannelLogoutURI: a.BackchannelLogoutURI, BackchannelLogoutSessionRequired: a.BackchannelLogoutSID,
		TokenExchange: a.TokenExchange,

		IdentityProviders: nonNil(a.IdentityProviders), LocalPasswords: !a.NoLocalPasswords,
	}
	if a.ConsentRequired {
		v.Consent = config.ConsentRequired
	}
	if a.DPoPRequired {
		v.DPoP = config.DPoPRequired
	}
	if a.MFARequired {
		v.MFA = config.MFARequired
	}
	if !a.CreatedAt.IsZero() {
		created, updated := a.CreatedAt.UTC(), a.UpdatedAt.UTC()
		v.CreatedAt, v.UpdatedAt = &created, &updated
	}
	return v
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// AppInfo is an app as the API shows it (a view of directory.App); never
// its secret or hash.
type AppInfo struct {
	URI                    string   `json:"uri"`
	Name                   string   `json:"name"`
	Type                   string   `json:"type"`
	SystemUser             string   `json:"system_user,omitempty"`
	Scope                  string   `json:"scope"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	AllowInternalUsers     bool     `json:"allow_internal_users"`
	AllowCommunityUsers    bool     `json:"allow_community_users"`
	ReferenceTokens        string   `json:"reference_tokens"`
	RequirePKCE            bool     `json:"require_pkce"`
	Consent                string   `json:"consent"`
	DPoP                   string   `json:"dpop"` // optional or required (RFC 9449)
	MFA                    string   `json:"mfa"`  // optional or required (issue 20)
	// Issue 21: back-channel logout and token exchange.
	BackchannelLogoutURI             string     `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool       `json:"backchannel_logout_session_required"`
	TokenExchange                    bool       `json:"token_exchange"`
	Enabled                          bool       `json:"enabled"`
	Source                           string     `json:"source"` // "config", "store" or SourceBuiltIn
	CreatedAt                        *time.Time `json:"created_at,omitempty"`
	UpdatedAt                        *time.Time `json:"updated_at,omitempty"`

	// Issue 19: the identity providers the login page offers, in order,
	// and whether it takes local passwords.
	IdentityProviders []string `json:"identity_providers"`
	LocalPasswords    bool     `json:"local_passwords"`
}

// maxBody bounds admin request bodies.
const maxBody = 64 << 10

func (h *Handler) listApps(w http.ResponseWriter, r *http.Request) {
	apps, err := h.cfg.Apps.List(r.Context())
	if err != nil {
		h.storeFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Apps []AppInfo `json:"apps"`
	}{apps})
}

func (h *Handler) createApp(w http.ResponseWriter, r *http.Request) {
	var in config.App
	if !decodeBody(w, r, &in) {
		return
	}
	if in.SecretHash != "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "secret_hash is not accepted: the server generates the secret and returns it once")
		return
	}
	app, secret, err := h.cfg.Apps.Create(r.Context(), in)
	if h.appFailed(w, r, err) {
		return
	}
	h.auditAdmin(r, "app.created", app.URI)
	out := struct {
		AppInfo
		ClientSecret string `json:"client_secret,omitempty"`
	}{app, secret}
	writeJSON(w, http.StatusCreated, out)
}

func (h *Handler) enableApp(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		app, err := h.cfg.Apps.SetEnabled(r.Context(), r.PathValue("uri"), enabled)
		if h.appFailed(w, r, err) {
			return
		}
		what := "app.disabled"
		if enabled {
			what = "app.enabled"
		}
		h.auditAdmin(r, what, app.URI)
		writeJSON(w, http.StatusOK, app)
	}
}

func (h *Handler) updateApp(w http.ResponseWriter, r *http.Request) {
	var ch AppChange
	if !decodeBody(w, r, &ch) {
		return
	}
	app, err := h.cfg.Apps.Update(r.Context(), r.PathValue("uri"), ch)
	if h.appFailed(w, r, err) {
		return
	}
	h.auditAdmin(r, "app.updated", app.URI)
	writeJSON(w, http.StatusOK, app)
}

func (h *Handler) rotateSecret(w http.ResponseWriter, r *http.Request) {
	app, secret, err := h.cfg.Apps.RotateSecret(r.Context(), r.PathValue("uri"))
	if h.appFailed(w, r, err) {
		return
	}
	h.auditAdmin(r, "app.secret_rotated", app.URI)
	writeJSON(w, http.StatusOK, struct {
		AppInfo
		ClientSecret string `json:"client_secret"`
	}{app, secret})
}

// appFailed answers an Apps error; it reports whether there was one.
func (h *Handler) appFailed(w http.ResponseWriter, r *http.Request, err error) bool {
	var inv *InvalidError
	switch {
	case err == nil:
		return false
	case errors.As(err, &inv):
		writeJSON(w, http.StatusBadRequest, struct {
			Error    string   `json:"error"`
			Problems []string `json:"problems"`
		}{"invalid_request", inv.Problems})
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no app has this uri")
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, "conflict", "an app with this uri exists")
	case errors.Is(err, ErrConfigApp):
		writeError(w, http.StatusConflict, "config_app", "the app is defined in the config file; change it there")
	default:
		h.storeFailed(w, r, err)
	}
	return true
}

// auditAdmin records an administrative change.
func (h *Handler) auditAdmin(r *http.Request, what, target string) {
	AuditChange(h.cfg.Audit, r, what, target)
}

// AuditChange records an administrative change (what: "app.created",
// "app.disabled", …; target: the app, user or session) by the caller in
// r's context (WithCaller): the API and the admin console write the same
// line for the same action.
func AuditChange(a *audit.Logger, r *http.Request, what, target string) {
	c := caller(r.Context())
	a.Log(r.Context(), audit.Event{
		Name: audit.AdminChange, ClientID: c.ClientID, Subject: c.Principal(), Session: c.SessionID,
		RequestID: requestid.From(r.Context()), RemoteAddr: r.RemoteAddr, Reason: what,
		Attrs: []slog.Attr{slog.String("target", target)},
	})
}

// decodeBody reads a strict JSON body (unknown fields are errors).
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body must be one JSON object with known fields: "+err.Error())
		return false
	}
	return true
}
