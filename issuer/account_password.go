package issuer

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/password"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/webui"
)

// accountPasswordPath is the account page's password change (SPEC §10).
const accountPasswordPath = "/account/password"

// Passwords is the directory's side of a user's own password change
// (*directory.Table): it builds the record of the change, and applies
// stored changes in this process at once (Sync).
type Passwords interface {
	NewPasswordChange(login, hash string, at time.Time) (directory.PasswordChange, bool)
	Sync(ctx context.Context) error
}

// PasswordChanges keeps the passwords users set themselves (the store's
// store.PasswordChanges), so every process's directory applies them.
type PasswordChanges interface {
	SavePasswordChange(ctx context.Context, c directory.PasswordChange) error
}

// Rules for a new password (OWASP Authentication Cheat Sheet: length
// rather than composition rules). The upper bound only keeps hashing
// affordable.
const (
	minPasswordLength = 12   // characters
	maxPasswordBytes  = 1024 // bytes
)

// Field ids of the password form; a refusal is tied to its field.
const (
	fieldCurrentPassword = "current-password"
	fieldNewPassword     = "new-password"
	fieldNewPasswordRep  = "new-password-again"
)

// passwordPage is what web/account_password.html reads as .D.
type passwordPage struct {
	accountFrame
	// CanChange is false for users whose password is not the file's to
	// change here (or a server without the password wiring).
	CanChange bool
	MinLength int
	Errs      fieldErrors
}

// handlePasswordPage shows the password form.
func (s *Server) handlePasswordPage(w http.ResponseWriter, r *http.Request) {
	a, ok := s.accountUser(w, r, accountPasswordPath)
	if !ok {
		return
	}
	s.showPassword(w, r, a.user, http.StatusOK, nil, webui.Text{}, webui.Text{})
}

func (s *Server) showPassword(w http.ResponseWriter, r *http.Request, u *directory.User, status int, errs fieldErrors, errMsg, notice webui.Text) {
	d := passwordPage{accountFrame: s.accountFrame(w, r, u, accountPasswordPath),
		CanChange: s.canChangePassword(u), MinLength: minPasswordLength, Errs: errs}
	s.renderAccount(w, r, u, status, webui.Page{Name: "account_password.html", Title: webui.Msg("account.password.title"),
		Data: d, Error: errMsg, Notice: notice})
}

// canChangePassword reports whether u may change their password here:
// the server has the password wiring, and the directory would take a
// change of u (an enabled user the config file gives a password; system
// users have none).
func (s *Server) canChangePassword(u *directory.User) bool {
	if s.cfg.Passwords == nil || s.cfg.PasswordChanges == nil {
		return false
	}
	_, ok := s.cfg.Passwords.NewPasswordChange(u.Login, "", s.cfg.Clock())
	return ok
}

// handleChangePassword changes the signed-in user's password (SPEC §10):
// the current one must verify — under the sign-in throttling, so this
// form is no password-guessing oracle — and the new one follow the rules
// (newPasswordRefusals). The change is stored for every process
// (directory.PasswordChange) and applied here at once; then all of the
// user's refresh tokens and the access tokens issued from them are
// revoked and every identity session and its ERP session ends (SPEC §3,
// §5), and this browser is signed in again with a fresh session: the
// person stays signed in here and is signed out everywhere else.
func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request) {
	a, ok := s.accountUser(w, r, accountPasswordPath)
	if !ok {
		return
	}
	u := a.user
	if status, msg := parseAccountForm(w, r); status != 0 {
		s.showPassword(w, r, u, status, nil, msg, webui.Text{})
		return
	}
	if !s.canChangePassword(u) {
		s.showPassword(w, r, u, http.StatusForbidden, nil, webui.Msg("account.password.unavailable"), webui.Text{})
		return
	}
	current, next := r.PostForm.Get("current_password"), r.PostForm.Get("new_password")
	errs := newPasswordRefusals(u, current, next, r.PostForm.Get("new_password_again"))
	fieldsRefused := func(status int) {
		s.showPassword(w, r, u, status, errs, webui.Msg("account.error.fields"), webui.Text{})
	}
	if current == "" {
		errs[fieldCurrentPassword] = webui.Msg("account.password.error.current_missing")
		fieldsRefused(http.StatusBadRequest)
		return
	}
	// Sign-in throttling (throttle.go), exactly as at the login form: a
	// wrong current password counts as a failed sign-in of the account
	// from this address.
	acct, address := loginAccountKey(u.Login), loginAddressKey(r.RemoteAddr)
	if wait, reason := s.login.blocked(acct, address); wait > 0 {
		s.refusedBy(metrics.LimiterLogin)
		s.passwordCheckFailed(r, a, reason)
		s.passwordThrottled(w, r, u, errs, wait)
		return
	}
	release, busy, err := s.login.hold(r.Context(), acct, address)
	if err != nil {
		return // the client left while its attempt waited
	}
	if busy > 0 {
		s.refusedBy(metrics.LimiterLogin)
		s.passwordCheckFailed(r, a, "throttled_account_busy")
		s.passwordThrottled(w, r, u, errs, busy)
		return
	}
	defer release()
	if !s.checkPassword(u, current) {
		s.login.failed(acct, address)
		s.passwordCheckFailed(r, a, "wrong_current_password")
		errs[fieldCurrentPassword] = webui.Msg("account.password.error.current_wrong")
		fieldsRefused(http.StatusBadRequest)
		return
	}
	s.login.succeeded(acct, address)
	if len(errs) > 0 {
		fieldsRefused(http.StatusBadRequest)
		return
	}

	params := s.cfg.PasswordParams
	if params == (password.Params{}) {
		params = password.Default
	}
	change, ok := s.cfg.Passwords.NewPasswordChange(u.Login, password.Hash(next, params), s.cfg.Clock())
	if !ok { // the file changed since canChangePassword
		s.showPassword(w, r, u, http.StatusForbidden, nil, webui.Msg("account.password.unavailable"), webui.Text{})
		return
	}
	if err := s.cfg.PasswordChanges.SavePasswordChange(r.Context(), change); err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "save password change", "err", err)
		w.Header().Set("Retry-After", "1")
		s.showPassword(w, r, u, http.StatusServiceUnavailable, nil, webui.Msg("account.password.error.not_saved"), webui.Text{})
		return
	}
	ended, revoked, err := s.signOutEverywhere(w, r, u.Login)
	if err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "password change: sign out everywhere", "err", err)
		w.Header().Set("Retry-After", "1")
		s.showPassword(w, r, u, http.StatusServiceUnavailable, nil, webui.Msg("account.password.error.partial"), webui.Text{})
		return
	}
	s.cfg.Audit.Log(r.Context(), audit.Event{Name: audit.PasswordChanged, Subject: u.Login, Session: a.sess.ID,
		RequestID: requestid.From(r.Context()), RemoteAddr: r.RemoteAddr,
		Attrs: []slog.Attr{slog.Int("sessions_ended", ended), slog.Int("access_tokens_revoked", revoked)}})
	s.showPassword(w, r, cmp.Or(s.cfg.Directory.User(u.Login), u), http.StatusOK, nil, webui.Text{}, webui.Msg("account.password.changed"))
}

// newPasswordRefusals checks a new password and its repetition against
// the rules: at least minPasswordLength characters, not the login, not
// the current password, typed the same twice.
func newPasswordRefusals(u *directory.User, current, next, again string) fieldErrors {
	errs := fieldErrors{}
	switch {
	case next == "":
		errs[fieldNewPassword] = webui.Msg("account.password.error.new_missing")
	case utf8.RuneCountInString(next) < minPasswordLength:
		errs[fieldNewPassword] = webui.Msg("account.password.error.too_short", minPasswordLength)
	case len(next) > maxPasswordBytes:
		errs[fieldNewPassword] = webui.Msg("account.password.error.too_long")
	case strings.EqualFold(next, u.Login):
		errs[fieldNewPassword] = webui.Msg("account.password.error.is_login")
	case next == current:
		errs[fieldNewPassword] = webui.Msg("account.password.error.unchanged")
	}
	if again != next {
		errs[fieldNewPasswordRep] = webui.Msg("account.password.error.mismatch")
	}
	return errs
}

// passwordThrottled answers a current password the sign-in throttling
// refused to check: 429 with Retry-After, the wait in words at the field.
func (s *Server) passwordThrottled(w http.ResponseWriter, r *http.Request, u *directory.User, errs fieldErrors, wait time.Duration) {
	secs := retrySeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	errs[fieldCurrentPassword] = webui.Msg("login.error.throttled", s.lang(r, u).Wait(secs))
	s.showPassword(w, r, u, http.StatusTooManyRequests, errs, webui.Msg("account.error.fields"), webui.Text{})
}

// passwordCheckFailed audits a current password that was wrong or not
// checked, as a failed sign-in.
func (s *Server) passwordCheckFailed(r *http.Request, a account, reason string) {
	s.cfg.Metrics.Logins.WithLabelValues("failure").Inc()
	s.cfg.Audit.Log(r.Context(), audit.Event{Name: audit.LoginFailed, Subject: a.user.Login, Session: a.sess.ID,
		RequestID: requestid.From(r.Context()), RemoteAddr: r.RemoteAddr, Reason: reason})
}

// signOutEverywhere ends what a password change takes away (SPEC §3,
// §5), after the new password is stored: the directory applies it here
// at once; every refresh token of login is revoked with the access
// tokens issued from them; every identity session of login ends, with
// its ERP session (which refuses the session's other tokens); and this
// browser, whose session ended too, is signed in again with a fresh one.
// It returns how many sessions ended and access tokens were revoked. It
// stops at the first failure; each step may be repeated.
func (s *Server) signOutEverywhere(w http.ResponseWriter, r *http.Request, login string) (ended, revoked int, err error) {
	ctx := r.Context()
	now := s.cfg.Clock()
	if err := s.cfg.Passwords.Sync(ctx); err != nil {
		return 0, 0, err
	}
	toks, err := s.cfg.RefreshTokens.RevokeSubjectRefreshTokens(ctx, login, now)
	s.revokeAccess(ctx, toks)
	if err != nil {
		return 0, 0, err
	}
	ids, err := s.cfg.IdentitySessions.EndSubjectIdentitySessions(ctx, login, now)
	if err != nil {
		return 0, len(toks), err
	}
	for _, sid := range ids {
		if err := s.cfg.EndSession(ctx, sid); err != nil {
			return len(ids), len(toks), err
		}
	}
	u := s.cfg.Directory.User(login)
	if u == nil { // disabled or removed meanwhile: signed out here too
		s.clearIdentityCookie(w)
		return len(ids), len(toks), nil
	}
	sess, err := s.signIn(r, u, passwordAuth) // the old password was just typed
	if err != nil {
		s.clearIdentityCookie(w)
		return len(ids), len(toks), err
	}
	s.setIdentityCookie(w, sess.ID, sess.secret)
	return len(ids), len(toks), nil
}
