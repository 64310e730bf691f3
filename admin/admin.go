package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/session"
)

// ScopeSec is the scope the admin API requires (SPEC §3).
const ScopeSec = "sec"

// TokenVerifier verifies an access token; *accesstoken.Verifier does.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (*claims.Access, error)
}

// Sessions is what the API does with sessions; *session.Manager does it.
type Sessions interface {
	List(ctx context.Context) ([]session.Info, error)
	End(ctx context.Context, id, reason string) (session.Info, error)
	License(ctx context.Context) (session.License, error)
	// Check returns session.ErrEnded if the caller's own session ended
	// for good.
	Check(ctx context.Context, sid string) error
}

var _ Sessions = (*session.Manager)(nil)

// Config configures the API; cmd/erpgate builds it.
type Config struct {
	Verifier TokenVerifier
	// Audiences: a token must carry at least one (tokens.audiences).
	Audiences []string
	// SecApps are the client ids of the apps allowed the sec scope; only
	// their client-credentials tokens are let in.
	SecApps  []string
	Sessions Sessions
	// Apps and Tokens, when set, enable /admin/apps and /admin/tokens.
	Apps   Apps
	Tokens Tokens
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
	if cfg.Verifier == nil || cfg.Sessions == nil || cfg.Logger == nil || len(cfg.Audiences) == 0 {
		return nil, errors.New("admin: Verifier, Sessions, Logger and Audiences are required")
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

// ServeHTTP authorizes the caller, then routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, ok := h.authorize(w, r)
	if !ok {
		return
	}
	h.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
}

const realm = `Bearer realm="erpgate"`

// authorize checks the bearer token; on refusal it answers and audits.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) (*claims.Access, bool) {
	ctx := r.Context()
	raw, ok := bearerToken(r)
	if !ok {
		h.denied(r, nil, "missing_credentials", "")
		w.Header().Set("WWW-Authenticate", realm)
		writeError(w, http.StatusUnauthorized, "unauthorized", "the admin API requires a bearer token with scope sec")
		return nil, false
	}
	invalid := func(reason, hash string, c *claims.Access) {
		h.denied(r, c, reason, hash)
		w.Header().Set("WWW-Authenticate", realm+`, error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked")
	}
	c, err := h.cfg.Verifier.Verify(ctx, raw)
	if err != nil {
		invalid("invalid_token", audit.TokenHash(raw), nil)
		return nil, false
	}
	if !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(h.cfg.Audiences, a) }) {
		invalid("wrong_audience", "", c)
		return nil, false
	}
	switch err := h.cfg.Sessions.Check(ctx, c.SessionID); {
	case errors.Is(err, session.ErrEnded), errors.Is(err, session.ErrNoSession):
		invalid("session_ended", "", c)
		return nil, false
	case err != nil:
		h.cfg.Logger.ErrorContext(ctx, "admin: session check failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the session store could not be reached")
		return nil, false
	}
	if !slices.Contains(c.Scope.Values, ScopeSec) {
		h.denied(r, c, "insufficient_scope", "")
		w.Header().Set("WWW-Authenticate", realm+`, error="insufficient_scope", scope="sec"`)
		writeError(w, http.StatusForbidden, "insufficient_scope", "the admin API requires scope sec")
		return nil, false
	}
	if !h.privileged(c) {
		h.denied(r, c, "not_admin", "")
		writeError(w, http.StatusForbidden, "access_denied",
			"the admin API is for administrators and for service apps allowed scope sec")
		return nil, false
	}
	return c, true
}

// privileged reports whether c acts for an administrator, or for the
// system user of an app allowed sec.
func (h *Handler) privileged(c *claims.Access) bool {
	if c.Subject != "" {
		return c.IsAdmin != nil && *c.IsAdmin
	}
	return c.ClientSystemUser != "" && slices.Contains(h.cfg.SecApps, c.ClientID)
}

// bearerToken reads Authorization: Bearer (RFC 6750 §2.1).
func bearerToken(r *http.Request) (string, bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	tok = strings.TrimLeft(tok, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
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
