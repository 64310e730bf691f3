package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/session"
)

// ScopeSec is the scope the admin API requires (SPEC §3).
const ScopeSec = "sec"

// Authenticator is the credential authority (*authority.Authority): the
// same judge of tokens as the proxy's.
type Authenticator interface {
	Authenticate(ctx context.Context, cred authority.Credential, door authority.Door) (*authority.Caller, *authority.Refusal)
}

// Sessions is what the API does with sessions; *session.Manager does it.
type Sessions interface {
	List(ctx context.Context) ([]session.Info, error)
	End(ctx context.Context, id, reason string) (session.Info, error)
	License(ctx context.Context) (session.License, error)
}

var _ Sessions = (*session.Manager)(nil)

// Config configures the API; the gateway builds it (gateway/admin.go).
type Config struct {
	Authority Authenticator
	// Audiences: a token must carry at least one (tokens.audiences).
	Audiences []string
	Sessions  Sessions
	// Apps and Tokens, when set, enable /admin/apps and /admin/tokens.
	Apps   Apps
	Tokens Tokens
	// Users, when set, enables /admin/users.
	Users  Users
	Logger *slog.Logger
	Audit  *audit.Logger // nil discards
}

// Handler serves /admin/.
type Handler struct {
	cfg Config
	mux *http.ServeMux
}

// New returns the API handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Authority == nil || cfg.Sessions == nil || cfg.Logger == nil || len(cfg.Audiences) == 0 {
		return nil, errors.New("admin: Authority, Sessions, Logger and Audiences are required")
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /admin/sessions", h.listSessions)
	h.mux.HandleFunc("DELETE /admin/sessions/{id}", h.endSession)
	h.mux.HandleFunc("GET /admin/license", h.license)
	if cfg.Apps != nil {
		// App URIs contain "/": clients send them path-escaped (%2F),
		// and {uri} matches one escaped segment.
		h.mux.HandleFunc("GET /admin/apps", h.listApps)
		h.mux.HandleFunc("POST /admin/apps", h.createApp)
		h.mux.HandleFunc("POST /admin/apps/{uri}/disable", h.enableApp(false))
		h.mux.HandleFunc("POST /admin/apps/{uri}/enable", h.enableApp(true))
		h.mux.HandleFunc("POST /admin/apps/{uri}/secret", h.rotateSecret)
		h.mux.HandleFunc("PATCH /admin/apps/{uri}", h.updateApp)
	}
	if cfg.Users != nil {
		h.mux.HandleFunc("GET /admin/users", h.listUsers)
		h.mux.HandleFunc("POST /admin/users", h.createUser)
		h.mux.HandleFunc("GET /admin/users/{login}", h.getUser)
		h.mux.HandleFunc("PATCH /admin/users/{login}", h.updateUser)
		h.mux.HandleFunc("DELETE /admin/users/{login}", h.deleteUser)
		h.mux.HandleFunc("DELETE /admin/users/{login}/factors", h.resetFactors)
		h.mux.HandleFunc("POST /admin/users/{login}/password", h.setUserPassword)
		h.mux.HandleFunc("POST /admin/users/{login}/reset-link", h.userResetLink)
		h.mux.HandleFunc("POST /admin/users/{login}/disable", h.enableUser(false))
		h.mux.HandleFunc("POST /admin/users/{login}/enable", h.enableUser(true))
	}
	if cfg.Tokens != nil {
		h.mux.HandleFunc("GET /admin/tokens", h.listTokens)
		h.mux.HandleFunc("POST /admin/tokens", h.issueToken)
		h.mux.HandleFunc("DELETE /admin/tokens/{id}", h.revokeToken)
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no admin endpoint at this method and path")
	})
	return h, nil
}

// callerKey carries the authorized caller's claims to the endpoints.
type callerKey struct{}

func caller(ctx context.Context) *claims.Access {
	c, _ := ctx.Value(callerKey{}).(*claims.Access)
	return c
}

// WithCaller returns ctx carrying c, the caller Authorize let in, for
// the audit lines of the actions done on its behalf (Audit) — the admin
// console does its actions under it as the API does.
func WithCaller(ctx context.Context, c *claims.Access) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// ServeHTTP authorizes the caller, then routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, ok := h.authorize(w, r)
	if !ok {
		return
	}
	h.mux.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), c)))
}

// authorize reads the request's credential and answers a refusal.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) (*claims.Access, bool) {
	cred, err := authority.ReadCredential(r)
	if err != nil {
		h.denied(r, nil, authority.ReasonInvalidRequest, "")
		authority.WriteRefusal(w, &authority.Refusal{Reason: authority.ReasonInvalidRequest, Detail: err.Error()})
		return nil, false
	}
	c, ref := h.Authorize(r, cred)
	switch {
	case ref == nil:
		return c, true
	case ref.Reason == ReasonNoSec:
		authority.WriteInsufficientScope(w, ScopeSec)
	case ref.Reason == ReasonNotAdmin:
		authority.WriteJSONError(w, http.StatusForbidden, authority.ErrorBody{Error: "access_denied",
			Description: "the admin API is for administrators and for service apps allowed scope sec"})
	default:
		authority.WriteRefusal(w, ref)
	}
	return nil, false
}

// Reasons Authorize refuses a credential the authority accepted.
const (
	ReasonNoSec    = "insufficient_scope" // 403: the token lacks sec, or its app no longer has it
	ReasonNotAdmin = "not_admin"          // 403: neither an administrator nor a sec service app
)

// Authorize is the one judgement of who may administer (the API and the
// admin console both call it): administrators and the system users of
// apps that still have scope sec, with a token the authority accepts
// now — not revoked, its session not ended, its app enabled, its user
// still there and still an administrator by the current user record. A
// refusal is the authority's (its Reason: 401s, 503) or ReasonNoSec /
// ReasonNotAdmin (403); it is audited as access.denied.
func (h *Handler) Authorize(r *http.Request, cred authority.Credential) (*claims.Access, *authority.Refusal) {
	ctx := r.Context()
	caller, ref := h.cfg.Authority.Authenticate(ctx, cred, authority.Door{Audiences: h.cfg.Audiences})
	if ref != nil {
		if ref.Reason == authority.ReasonUnavailable {
			h.cfg.Logger.ErrorContext(ctx, "admin: credential check failed", "err", ref.Detail)
		}
		h.denied(r, ref.Claims, ref.Reason, audit.TokenHash(cred.Token))
		return nil, ref
	}
	c := caller.Claims
	if !slices.Contains(c.Scope.Values, ScopeSec) {
		h.denied(r, c, ReasonNoSec, "")
		return nil, &authority.Refusal{Reason: ReasonNoSec, Detail: "the token lacks scope sec", Claims: c}
	}
	if !privileged(caller) {
		h.denied(r, c, ReasonNotAdmin, "")
		return nil, &authority.Refusal{Reason: ReasonNotAdmin, Detail: "not an administrator", Claims: c}
	}
	return c, nil
}

// privileged reports whether the caller is, right now, an administrator,
// or the system user of an app that is allowed sec.
func privileged(c *authority.Caller) bool {
	if c.Claims.Subject != "" {
		return c.User.Admin
	}
	return c.App.Grants(ScopeSec)
}

// denied audits a refused admin call; c is nil before the token is
// verified.
func (h *Handler) denied(r *http.Request, c *claims.Access, reason, tokenHash string) {
	e := audit.Event{
		Name: audit.AccessDenied, RemoteAddr: r.RemoteAddr, Reason: reason,
		Attrs: []slog.Attr{slog.String("route", "admin"), slog.String("path", r.URL.Path)},
	}
	if c != nil {
		e.ClientID, e.Subject, e.Session = c.ClientID, c.Principal(), c.SessionID
	}
	if tokenHash != "" {
		e.Attrs = append(e.Attrs, slog.String("token_hash", tokenHash))
	}
	h.cfg.Audit.Log(r.Context(), e)
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, errorBody{Error: code, Description: desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
