package issuer

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/password"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/webui"
)

// AccountResetPath is where a one-time password reset link leads, under
// the issuer's prefix: an operator issues the link (admin API, CLI) and
// hands it to the user, who sets a new password there (issue 18). The
// link's token is in the query, which no log records: the access log,
// the audit log and tracing keep the path only; the page is sent with
// Referrer-Policy: no-referrer (webui.SecureHeaders), so the token does
// not leave in a Referer either.
const AccountResetPath = "/account/reset"

// The rules of a new password, for whoever sets one elsewhere (the admin
// API, the CLI): the account page's (newPasswordRefusals).
const (
	MinPasswordLength = minPasswordLength // characters
	MaxPasswordBytes  = maxPasswordBytes
)

// PasswordResets redeems the reset links operators issue; the gateway
// implements it over the store and the directory (gateway/users.go).
type PasswordResets interface {
	// CheckReset returns the login that token's link sets a password for
	// now, or ErrResetInvalid, ErrResetUsed or ErrResetExpired.
	CheckReset(ctx context.Context, token string) (login string, err error)
	// Reset uses the link, once, to set its user's password to hash (an
	// argon2id PHC string), and ends what a password change ends: the
	// user's refresh tokens, the access tokens issued from them, and
	// their identity sessions. Errors as CheckReset, or the store's.
	Reset(ctx context.Context, token, hash string) (login string, err error)
}

// What a reset link can be, besides usable.
var (
	ErrResetInvalid = errors.New("issuer: no such reset link")
	ErrResetUsed    = errors.New("issuer: the reset link was used")
	ErrResetExpired = errors.New("issuer: the reset link expired")
)

// resetPage is what web/account_reset.html reads as .D.
type resetPage struct {
	pageData
	Token     string
	MinLength int
	Errs      fieldErrors
}

// routeAccountReset serves the reset page when the server has
// PasswordResets.
func (s *Server) routeAccountReset() {
	if s.cfg.PasswordResets == nil {
		return
	}
	s.mux.HandleFunc("GET "+s.prefix+AccountResetPath, s.handleResetPage)
	s.mux.HandleFunc("POST "+s.prefix+AccountResetPath, s.handleReset)
}

// handleResetPage shows the form of a usable link, or says why the link
// is not.
func (s *Server) handleResetPage(w http.ResponseWriter, r *http.Request) {
	if !s.parsePageForm(w, r) {
		return
	}
	token := r.Form.Get("token")
	login, err := s.cfg.PasswordResets.CheckReset(r.Context(), token)
	if err != nil {
		s.resetRefused(w, r, err)
		return
	}
	s.showReset(w, r, login, token, http.StatusOK, nil, webui.Text{})
}

func (s *Server) showReset(w http.ResponseWriter, r *http.Request, login, token string, status int, errs fieldErrors, errMsg webui.Text) {
	// render fills Prefix of a plain pageData only.
	d := resetPage{pageData: pageData{Prefix: s.prefix, Login: login, CSRF: s.csrfToken(w, r), Invalid: len(errs) > 0},
		Token: token, MinLength: minPasswordLength, Errs: errs}
	s.render(w, r, status, webui.Page{Name: "account_reset.html", Title: webui.Msg("reset.title"), Data: d,
		Error: errMsg, Lang: s.lang(r, s.cfg.Directory.User(login))})
}

// handleReset sets the new password: the form must carry the browser's
// anti-forgery token (as every form here), the link must still be
// usable, and the password follow the account page's rules. The link is
// used up only by a password that is accepted.
func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	if status, msg := parseAccountForm(w, r); status != 0 {
		s.message(w, r, status, webui.Msg("reset.title"), msg, pageData{})
		return
	}
	ctx := r.Context()
	token := r.PostForm.Get("token")
	login, err := s.cfg.PasswordResets.CheckReset(ctx, token)
	if err != nil {
		s.resetRefused(w, r, err)
		return
	}
	u := s.cfg.Directory.User(login)
	if u == nil { // disabled or deleted since the check
		s.resetRefused(w, r, ErrResetInvalid)
		return
	}
	next := r.PostForm.Get("new_password")
	if errs := newPasswordRefusals(u, "", next, r.PostForm.Get("new_password_again")); len(errs) > 0 {
		s.showReset(w, r, login, token, http.StatusBadRequest, errs, webui.Msg("account.error.fields"))
		return
	}
	params := s.cfg.PasswordParams
	if params == (password.Params{}) {
		params = password.Default
	}
	if _, err := s.cfg.PasswordResets.Reset(ctx, token, password.Hash(next, params)); err != nil {
		if errors.Is(err, ErrResetInvalid) || errors.Is(err, ErrResetUsed) || errors.Is(err, ErrResetExpired) {
			s.resetRefused(w, r, err) // used by a concurrent request, or expired meanwhile
			return
		}
		s.cfg.Logger.ErrorContext(ctx, "password reset", "err", err)
		w.Header().Set("Retry-After", "1")
		s.showReset(w, r, login, token, http.StatusServiceUnavailable, nil, webui.Msg("account.password.error.not_saved"))
		return
	}
	s.cfg.Audit.Log(ctx, audit.Event{Name: audit.PasswordChanged, Subject: login, Reason: "reset_link",
		RequestID: requestid.From(ctx), RemoteAddr: r.RemoteAddr})
	d := pageData{}
	if s.cfg.SignInURL != "" {
		d.Next, d.NextText = s.cfg.SignInURL+"?rd="+url.QueryEscape(s.prefix+accountPath), webui.Msg("reset.done.next")
	}
	s.render(w, r, http.StatusOK, webui.Page{Name: "message.html", Title: webui.Msg("reset.done.title"),
		Notice: webui.Msg("reset.done.text"), Data: d, Lang: s.lang(r, u)})
}

// resetRefused shows why a link cannot set a password: 404 for a link
// that never was or was replaced, 410 for one used or expired.
func (s *Server) resetRefused(w http.ResponseWriter, r *http.Request, err error) {
	status, text := http.StatusNotFound, webui.Msg("reset.invalid.text")
	switch {
	case errors.Is(err, ErrResetUsed):
		status, text = http.StatusGone, webui.Msg("reset.used.text")
	case errors.Is(err, ErrResetExpired):
		status, text = http.StatusGone, webui.Msg("reset.expired.text")
	case errors.Is(err, ErrResetInvalid):
	default:
		s.cfg.Logger.ErrorContext(r.Context(), "password reset: check link", "err", err)
		w.Header().Set("Retry-After", "1")
		status, text = http.StatusServiceUnavailable, webui.Msg("reset.unavailable.text")
	}
	s.render(w, r, status, webui.Page{Name: "message.html", Title: webui.Msg("reset.invalid.title"),
		Error: text, Data: pageData{}})
}
