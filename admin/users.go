package admin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/erpgate/erpgate/directory"
)

// Users manages users created at run time (gateway/users.go); users of
// the config file are listed and shown, never changed.
type Users interface {
	List(ctx context.Context) ([]UserInfo, error) // file users too, Source "config"
	Get(ctx context.Context, login string) (UserInfo, error)
	Create(ctx context.Context, in UserInput) (UserInfo, error)
	Update(ctx context.Context, login string, e UserEdit) (UserInfo, error)
	SetPassword(ctx context.Context, login, password string) error
	// ResetLink issues a one-time password reset link, shown once.
	ResetLink(ctx context.Context, login string) (link string, expires time.Time, err error)
	Delete(ctx context.Context, login string) error
	// ResetFactors removes every second factor of the user (issue 20):
	// the user enrols again at the next sign-in if a policy requires
	// one; sign-ins already made are not ended.
	ResetFactors(ctx context.Context, login string) error
}

// Errors a Users implementation returns; validation problems are an
// *InvalidError.
var (
	ErrUserNotFound = errors.New("admin: no such user")
	ErrUserConflict = errors.New("admin: a user with this login exists")
	ErrConfigUser   = errors.New("admin: the user is defined in the config file; change it there")
)

// UserInfo is a user as the API shows it (a view of directory.User);
// never the password hash.
type UserInfo struct {
	Login         string    `json:"login"`
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Email         string    `json:"email"`
	Locale        string    `json:"locale"`
	Type          string    `json:"type"`
	EmailVerified bool      `json:"email_verified"`
	Admin         bool      `json:"admin"`
	Disabled      bool      `json:"disabled"`
	MFARequired   bool      `json:"mfa_required"`
	Source        string    `json:"source"` // "config" or "store"
	CreatedAt     time.Time `json:"created_at,omitzero"`
	UpdatedAt     time.Time `json:"updated_at,omitzero"`
}

// UserInput is a new user. Password is optional: without one the user
// cannot sign in until an operator sets one or they use a reset link.
type UserInput struct {
	Login         string `json:"login"`
	Name          string `json:"name"`
	Email         string `json:"email"`
	Locale        string `json:"locale"`
	Type          string `json:"type"`
	EmailVerified bool   `json:"email_verified"`
	Admin         bool   `json:"admin"`
	MFARequired   bool   `json:"mfa_required"`
	Password      string `json:"password"`
}

// UserEdit changes a stored user; a nil field stays as it is.
type UserEdit struct {
	Name          *string `json:"name"`
	Email         *string `json:"email"`
	Locale        *string `json:"locale"`
	Type          *string `json:"type"`
	EmailVerified *bool   `json:"email_verified"`
	Admin         *bool   `json:"admin"`
	Disabled      *bool   `json:"disabled"`
	MFARequired   *bool   `json:"mfa_required"`
}

// Actor is the administrator making the request of ctx, by login, for
// the records a Users implementation keeps of who did what (a reset
// link's creator, a revocation); "" for a service app allowed sec, and
// outside the API (the CLI).
func Actor(ctx context.Context) string {
	if c := caller(ctx); c != nil {
		return c.Subject
	}
	return ""
}

// UserView is how the API shows u; source is "config" or "store".
func UserView(u directory.User, source string) UserInfo {
	return UserInfo{
		Login: u.Login, ID: u.ID, Name: u.Name, Email: u.Email, Locale: u.Locale, Type: u.Type,
		EmailVerified: u.EmailVerified, Admin: u.Admin, Disabled: u.Disabled, MFARequired: u.MFARequired, Source: source,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(),
	}
}

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request) {
	users, err := h.cfg.Users.List(r.Context())
	if err != nil {
		h.storeFailed(w, r, err)
		return
	}
	if users == nil {
		users = []UserInfo{}
	}
	writeJSON(w, http.StatusOK, struct {
		Users []UserInfo `json:"users"`
	}{users})
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request) {
	u, err := h.cfg.Users.Get(r.Context(), r.PathValue("login"))
	if h.userFailed(w, r, err) {
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request) {
	var in UserInput
	if !decodeBody(w, r, &in) {
		return
	}
	u, err := h.cfg.Users.Create(r.Context(), in)
	if h.userFailed(w, r, err) {
		return
	}
	h.auditAdmin(r, "user.created", u.Login)
	writeJSON(w, http.StatusCreated, u)
}

func (h *Handler) updateUser(w http.ResponseWriter, r *http.Request) {
	var e UserEdit
	if !decodeBody(w, r, &e) {
		return
	}
	u, err := h.cfg.Users.Update(r.Context(), r.PathValue("login"), e)
	if h.userFailed(w, r, err) {
		return
	}
	h.auditAdmin(r, "user.updated", u.Login)
	writeJSON(w, http.StatusOK, u)
}

// enableUser is POST /admin/users/{login}/disable and /enable: a PATCH
// of disabled alone, audited by its own name.
func (h *Handler) enableUser(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		disabled := !enabled
		u, err := h.cfg.Users.Update(r.Context(), r.PathValue("login"), UserEdit{Disabled: &disabled})
		if h.userFailed(w, r, err) {
			return
		}
		what := "user.disabled"
		if enabled {
			what = "user.enabled"
		}
		h.auditAdmin(r, what, u.Login)
		writeJSON(w, http.StatusOK, u)
	}
}

func (h *Handler) setUserPassword(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Password string `json:"password"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	login := r.PathValue("login")
	if h.userFailed(w, r, h.cfg.Users.SetPassword(r.Context(), login, in.Password)) {
		return
	}
	h.auditAdmin(r, "user.password_set", login)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) userResetLink(w http.ResponseWriter, r *http.Request) {
	login := r.PathValue("login")
	link, expires, err := h.cfg.Users.ResetLink(r.Context(), login)
	if h.userFailed(w, r, err) {
		return
	}
	// The link is a password: audited by the fact, never by value.
	h.auditAdmin(r, "user.reset_link_issued", login)
	writeJSON(w, http.StatusCreated, struct {
		Link      string    `json:"link"`
		ExpiresAt time.Time `json:"expires_at"`
	}{link, expires.UTC()})
}

func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request) {
	login := r.PathValue("login")
	if h.userFailed(w, r, h.cfg.Users.Delete(r.Context(), login)) {
		return
	}
	h.auditAdmin(r, "user.deleted", login)
	w.WriteHeader(http.StatusNoContent)
}

// resetFactors is DELETE /admin/users/{login}/factors.
func (h *Handler) resetFactors(w http.ResponseWriter, r *http.Request) {
	login := r.PathValue("login")
	if h.userFailed(w, r, h.cfg.Users.ResetFactors(r.Context(), login)) {
		return
	}
	h.auditAdmin(r, "user.factors_reset", login)
	w.WriteHeader(http.StatusNoContent)
}

// userFailed answers a Users error; it reports whether there was one.
func (h *Handler) userFailed(w http.ResponseWriter, r *http.Request, err error) bool {
	var inv *InvalidError
	switch {
	case err == nil:
		return false
	case errors.As(err, &inv):
		writeJSON(w, http.StatusBadRequest, struct {
			Error    string   `json:"error"`
			Problems []string `json:"problems"`
		}{"invalid_request", inv.Problems})
	case errors.Is(err, ErrUserNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no user has this login")
	case errors.Is(err, ErrUserConflict):
		writeError(w, http.StatusConflict, "conflict", "a user with this login exists")
	case errors.Is(err, ErrConfigUser):
		writeError(w, http.StatusConflict, "config_user", "the user is defined in the config file; change it there")
	default:
		h.storeFailed(w, r, err)
	}
	return true
}
