package adminui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/erpgate/erpgate/admin"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/webui"
)

// The users pages: the directory's users (file users read-only), a new
// user, an edit, disable/enable, a password set by the administrator, a
// one-time reset link shown once, and delete. Disabling or deleting a
// user ends their sessions and revokes their tokens (admin.Users).

// usersData is what web/users.html reads as .D.
type usersData struct {
	frame
	Users []admin.UserInfo
}

func (c *Console) handleUsers(w http.ResponseWriter, r *http.Request, q *req) {
	users, err := c.cfg.Users.List(r.Context())
	if err != nil {
		c.failed(w, r, q, "list users", err)
		return
	}
	c.render(w, r, q, http.StatusOK, webui.Page{Name: "users.html", Title: webui.Msg("console.users.title"),
		Data: usersData{frame: c.frame(q, "/users"), Users: users}, Notice: notice(r)})
}

// userForm is the new-user and edit-user form, as typed.
type userForm struct {
	frame
	New                              bool
	Login, Name, Email, Locale, Type string
	Admin, EmailVerified, Disabled   bool
	MFARequired                      bool
	Source                           string
	Types                            []string
	Problems                         []string
	// Reset is a reset link just issued, shown once, and when it ends.
	Reset        string
	ResetExpires time.Time
}

var userTypes = []string{directory.TypeInternal, directory.TypeCommunity, directory.TypeSystem}

func (c *Console) userForm(q *req, isNew bool) userForm {
	return userForm{frame: c.frame(q, "/users"), New: isNew, Types: userTypes, Type: directory.TypeInternal}
}

func (c *Console) showUserForm(w http.ResponseWriter, r *http.Request, q *req, status int, f userForm, errMsg, note webui.Text) {
	title := webui.Msg("console.user.edit.title", f.Login)
	if f.New {
		title = webui.Msg("console.user.new.title")
	}
	c.render(w, r, q, status, webui.Page{Name: "user_form.html", Title: title, Data: f, Error: errMsg, Notice: note, Script: f.Reset != ""})
}

func (c *Console) handleNewUser(w http.ResponseWriter, r *http.Request, q *req) {
	c.showUserForm(w, r, q, http.StatusOK, c.userForm(q, true), webui.Text{}, webui.Text{})
}

func readUserForm(r *http.Request, f *userForm) {
	p := r.PostForm
	f.Name, f.Email, f.Locale = strings.TrimSpace(p.Get("name")), strings.TrimSpace(p.Get("email")), strings.TrimSpace(p.Get("locale"))
	f.Type, f.Admin, f.EmailVerified = p.Get("type"), p.Get("admin") == "on", p.Get("email_verified") == "on"
	f.MFARequired = p.Get("mfa_required") == "on"
}

// handleCreateUser creates a user as POST /admin/users does.
func (c *Console) handleCreateUser(w http.ResponseWriter, r *http.Request, q *req) {
	f := c.userForm(q, true)
	f.Login = strings.TrimSpace(r.PostForm.Get("login"))
	readUserForm(r, &f)
	u, err := c.cfg.Users.Create(r.Context(), admin.UserInput{
		Login: f.Login, Name: f.Name, Email: f.Email, Locale: f.Locale, Type: f.Type,
		EmailVerified: f.EmailVerified, Admin: f.Admin, MFARequired: f.MFARequired, Password: r.PostForm.Get("password"),
	})
	if c.userRefused(w, r, q, f, err) {
		return
	}
	c.auditChange(r, "user.created", u.Login)
	c.done(w, r, "/users", "user_created")
}

// userRefused answers a Users error on a form; the form is shown again
// as typed (never the password), with the reasons.
func (c *Console) userRefused(w http.ResponseWriter, r *http.Request, q *req, f userForm, err error) bool {
	var inv *admin.InvalidError
	switch {
	case err == nil:
		return false
	case errors.As(err, &inv):
		f.Problems = inv.Problems
		c.showUserForm(w, r, q, http.StatusBadRequest, f, webui.Msg("console.user.invalid"), webui.Text{})
	case errors.Is(err, admin.ErrUserConflict):
		c.showUserForm(w, r, q, http.StatusConflict, f, webui.Msg("console.user.conflict"), webui.Text{})
	default:
		c.userFailed(w, r, q, err)
	}
	return true
}

// userFailed answers a Users error outside a form.
func (c *Console) userFailed(w http.ResponseWriter, r *http.Request, q *req, err error) {
	var inv *admin.InvalidError
	switch {
	case errors.Is(err, admin.ErrUserNotFound):
		c.message(w, r, q, http.StatusNotFound, webui.Msg("console.users.title"), webui.Msg("console.user.gone"))
	case errors.Is(err, admin.ErrConfigUser):
		c.message(w, r, q, http.StatusConflict, webui.Msg("console.users.title"), webui.Msg("console.user.config"))
	case errors.As(err, &inv):
		c.message(w, r, q, http.StatusBadRequest, webui.Msg("console.users.title"), webui.Msg("console.user.invalid_action", strings.Join(inv.Problems, "; ")))
	default:
		c.failed(w, r, q, "users", err)
	}
}

// editForm is the edit form of the stored user login.
func (c *Console) editForm(r *http.Request, q *req, login string) (userForm, error) {
	u, err := c.cfg.Users.Get(r.Context(), login)
	if err != nil {
		return userForm{}, err
	}
	if u.Source != "store" {
		return userForm{}, admin.ErrConfigUser
	}
	f := c.userForm(q, false)
	f.Login, f.Name, f.Email, f.Locale, f.Type = u.Login, u.Name, u.Email, u.Locale, u.Type
	f.Admin, f.EmailVerified, f.Disabled, f.Source = u.Admin, u.EmailVerified, u.Disabled, u.Source
	f.MFARequired = u.MFARequired
	return f, nil
}

func (c *Console) handleEditUser(w http.ResponseWriter, r *http.Request, q *req) {
	f, err := c.editForm(r, q, r.URL.Query().Get("login"))
	if err != nil {
		c.userFailed(w, r, q, err)
		return
	}
	c.showUserForm(w, r, q, http.StatusOK, f, webui.Text{}, notice(r))
}

// handleUpdateUser saves an edit as PATCH /admin/users/{login} does.
func (c *Console) handleUpdateUser(w http.ResponseWriter, r *http.Request, q *req) {
	f, err := c.editForm(r, q, r.PostForm.Get("login"))
	if err != nil {
		c.userFailed(w, r, q, err)
		return
	}
	readUserForm(r, &f)
	u, err := c.cfg.Users.Update(r.Context(), f.Login, admin.UserEdit{
		Name: &f.Name, Email: &f.Email, Locale: &f.Locale, Type: &f.Type, EmailVerified: &f.EmailVerified, Admin: &f.Admin,
		MFARequired: &f.MFARequired,
	})
	if c.userRefused(w, r, q, f, err) {
		return
	}
	c.auditChange(r, "user.updated", u.Login)
	c.done(w, r, "/users/edit?login="+queryEscape(u.Login), "user_updated")
}

// handleEnableUser disables or enables a user as POST
// /admin/users/{login}/disable and /enable do.
func (c *Console) handleEnableUser(enabled bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, q *req) {
		disabled := !enabled
		u, err := c.cfg.Users.Update(r.Context(), r.PostForm.Get("login"), admin.UserEdit{Disabled: &disabled})
		if err != nil {
			c.userFailed(w, r, q, err)
			return
		}
		what, done := "user.disabled", "user_disabled"
		if enabled {
			what, done = "user.enabled", "user_enabled"
		}
		c.auditChange(r, what, u.Login)
		c.done(w, r, "/users", done)
	}
}

// handleSetPassword sets a user's password as POST
// /admin/users/{login}/password does; a refused password is said on the
// edit form.
func (c *Console) handleSetPassword(w http.ResponseWriter, r *http.Request, q *req) {
	login := r.PostForm.Get("login")
	err := c.cfg.Users.SetPassword(r.Context(), login, r.PostForm.Get("password"))
	var inv *admin.InvalidError
	if errors.As(err, &inv) {
		f, ferr := c.editForm(r, q, login)
		if ferr != nil {
			c.userFailed(w, r, q, ferr)
			return
		}
		f.Problems = inv.Problems
		c.showUserForm(w, r, q, http.StatusBadRequest, f, webui.Msg("console.user.password_refused"), webui.Text{})
		return
	}
	if err != nil {
		c.userFailed(w, r, q, err)
		return
	}
	c.auditChange(r, "user.password_set", login)
	c.done(w, r, "/users/edit?login="+queryEscape(login), "user_password")
}

// handleResetLink issues a one-time reset link, shown on the answer
// once (no mail server is assumed: the administrator hands it over).
func (c *Console) handleResetLink(w http.ResponseWriter, r *http.Request, q *req) {
	login := r.PostForm.Get("login")
	link, expires, err := c.cfg.Users.ResetLink(r.Context(), login)
	if err != nil {
		c.userFailed(w, r, q, err)
		return
	}
	// The link is a password: audited by the fact, never by value.
	c.auditChange(r, "user.reset_link_issued", login)
	f, err := c.editForm(r, q, login)
	if err != nil {
		c.userFailed(w, r, q, err)
		return
	}
	f.Reset, f.ResetExpires = link, expires
	c.showUserForm(w, r, q, http.StatusCreated, f, webui.Text{}, webui.Msg("console.user.reset_issued"))
}

// handleResetFactors removes a user's second factors as DELETE
// /admin/users/{login}/factors does, once the administrator ticked the
// confirmation.
func (c *Console) handleResetFactors(w http.ResponseWriter, r *http.Request, q *req) {
	login := r.PostForm.Get("login")
	if r.PostForm.Get("confirm") != "on" {
		f, err := c.editForm(r, q, login)
		if err != nil {
			c.userFailed(w, r, q, err)
			return
		}
		c.showUserForm(w, r, q, http.StatusBadRequest, f, webui.Msg("console.user.factors_confirm"), webui.Text{})
		return
	}
	if err := c.cfg.Users.ResetFactors(r.Context(), login); err != nil {
		c.userFailed(w, r, q, err)
		return
	}
	c.auditChange(r, "user.factors_reset", login)
	c.done(w, r, "/users/edit?login="+url.QueryEscape(login), "factors_reset")
}

// handleDeleteUser deletes a user as DELETE /admin/users/{login} does,
// once the administrator ticked the confirmation.
func (c *Console) handleDeleteUser(w http.ResponseWriter, r *http.Request, q *req) {
	login := r.PostForm.Get("login")
	if r.PostForm.Get("confirm") != "on" {
		f, err := c.editForm(r, q, login)
		if err != nil {
			c.userFailed(w, r, q, err)
			return
		}
		c.showUserForm(w, r, q, http.StatusBadRequest, f, webui.Msg("console.user.delete_confirm"), webui.Text{})
		return
	}
	if err := c.cfg.Users.Delete(r.Context(), login); err != nil {
		c.userFailed(w, r, q, err)
		return
	}
	c.auditChange(r, "user.deleted", login)
	c.done(w, r, "/users", "user_deleted")
}
