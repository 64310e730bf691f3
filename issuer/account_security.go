package issuer

import (
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/mfa"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/webui"
)

// accountSecurityPath is the account page's second factors (SPEC §10,
// issue 20): enrol an authenticator app (QR code, the secret in text,
// confirmed by a first code), get new recovery codes, remove it. Every
// change needs a current code (or, to remove, a recovery code), judged
// under the sign-in throttle, and every POST carries the anti-forgery
// token. The secret appears on the page only, never in a URL or a log.
const accountSecurityPath = "/account/security"

func (s *Server) routeAccountSecurity() {
	if s.cfg.Factors == nil {
		return
	}
	s.mux.HandleFunc("GET "+s.prefix+accountSecurityPath, s.handleSecurityPage)
	s.mux.HandleFunc("POST "+s.prefix+accountSecurityPath+"/enrol", s.handleSecurityEnrol)
	s.mux.HandleFunc("POST "+s.prefix+accountSecurityPath+"/confirm", s.handleSecurityConfirm)
	s.mux.HandleFunc("POST "+s.prefix+accountSecurityPath+"/recovery", s.handleSecurityRecovery)
	s.mux.HandleFunc("POST "+s.prefix+accountSecurityPath+"/remove", s.handleSecurityRemove)
}

// securityPage is what web/account_security.html reads as .D.
type securityPage struct {
	accountFrame
	// Enabled: a confirmed TOTP factor. Enrolling: the QR code and
	// secret of a new one are shown, waiting for the first code.
	Enabled, Enrolling bool
	QR                 template.HTML
	Secret             string
	RecoveryLeft       int
	// Required: the user's policy asks for a second factor, so it
	// cannot be removed here.
	Required bool
	// Recovery are new recovery codes, shown once.
	Recovery []string
	// PasskeysOn shows the passkeys section (account_passkeys.go):
	// Passkeys listed, PasskeyOptions the registration's options (JSON)
	// for passkey.js, "" when no more can be added.
	PasskeysOn     bool
	Passkeys       []passkeyRow
	PasskeyOptions string
}

func (s *Server) handleSecurityPage(w http.ResponseWriter, r *http.Request) {
	a, ok := s.accountUser(w, r, accountSecurityPath)
	if !ok {
		return
	}
	s.showSecurity(w, r, a.user, http.StatusOK, securityPage{}, webui.Text{}, webui.Text{})
}

// showSecurity renders the page; d carries what the action adds (a new
// secret, new recovery codes).
func (s *Server) showSecurity(w http.ResponseWriter, r *http.Request, u *directory.User, status int, d securityPage, errMsg, notice webui.Text) {
	d.accountFrame = s.accountFrame(w, r, u, accountSecurityPath)
	d.Required = u.MFARequired
	f, err := s.cfg.Factors.TOTP(r.Context(), u.Login)
	if err == nil && !f.ConfirmedAt.IsZero() {
		d.Enabled, d.Enrolling = true, false
		codes, err := s.cfg.Factors.RecoveryCodes(r.Context(), u.Login)
		if err == nil {
			d.RecoveryLeft = len(codes)
		}
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		status, errMsg = http.StatusServiceUnavailable, webui.Msg("error.try_again_shortly")
	}
	if err := s.passkeySection(w, r, u, &d); err != nil { // account_passkeys.go
		s.cfg.Logger.ErrorContext(r.Context(), "account passkeys", "err", err)
		status, errMsg = http.StatusServiceUnavailable, webui.Msg("error.try_again_shortly")
	}
	w.Header().Set("Cache-Control", "no-store")
	s.renderAccount(w, r, u, status, webui.Page{Name: "account_security.html", Title: webui.Msg("account.security.title"),
		Data: d, Error: errMsg, Notice: notice, Script: len(d.Recovery) > 0, Passkey: d.PasskeyOptions != ""})
}

// securityForm reads a post to the security page: the signed-in user,
// and the form checked (CSRF); false when it answered.
func (s *Server) securityForm(w http.ResponseWriter, r *http.Request) (account, bool) {
	a, ok := s.accountUser(w, r, accountSecurityPath)
	if !ok {
		return account{}, false
	}
	if status, msg := parseAccountForm(w, r); status != 0 {
		s.showSecurity(w, r, a.user, status, securityPage{}, msg, webui.Text{})
		return account{}, false
	}
	return a, true
}

// securityUnavailable answers a store failure on the security page.
func (s *Server) securityUnavailable(w http.ResponseWriter, r *http.Request, u *directory.User, what string, err error) {
	s.cfg.Logger.ErrorContext(r.Context(), what, "err", err)
	s.showSecurity(w, r, u, http.StatusServiceUnavailable, securityPage{}, webui.Msg("error.try_again_shortly"), webui.Text{})
}

// handleSecurityEnrol starts an enrolment: a new pending secret (a
// confirmed factor is removed first, so this refuses over one).
func (s *Server) handleSecurityEnrol(w http.ResponseWriter, r *http.Request) {
	a, ok := s.securityForm(w, r)
	if !ok {
		return
	}
	qr, secret, err := s.newEnrolment(r.Context(), a.user, s.lang(r, a.user).T("mfa.qr.label")) // mfa.go
	switch {
	case errors.Is(err, store.ErrConflict):
		s.showSecurity(w, r, a.user, http.StatusConflict, securityPage{}, webui.Msg("account.security.error.enabled"), webui.Text{})
	case err != nil:
		s.securityUnavailable(w, r, a.user, "account security: enrol", err)
	default:
		s.showSecurity(w, r, a.user, http.StatusOK, securityPage{Enrolling: true, QR: qr, Secret: secret}, webui.Text{}, webui.Text{})
	}
}

// handleSecurityConfirm confirms the pending secret with a first code
// and shows the recovery codes once.
func (s *Server) handleSecurityConfirm(w http.ResponseWriter, r *http.Request) {
	a, ok := s.securityForm(w, r)
	if !ok {
		return
	}
	account, address, release, ok := s.accountThrottle(w, r, a.user, "totp")
	if !ok {
		return
	}
	defer release()
	now := s.cfg.Clock()
	f, err := s.cfg.Factors.TOTP(r.Context(), a.user.Login)
	if err != nil || !f.ConfirmedAt.IsZero() {
		s.showSecurity(w, r, a.user, http.StatusConflict, securityPage{}, webui.Msg("account.security.error.no_enrolment"), webui.Text{})
		return
	}
	step, ok := mfa.Verify(f.Secret, r.PostForm.Get("code"), now, 0)
	if !ok || s.cfg.Factors.ConfirmTOTP(r.Context(), a.user.Login, f.Secret, step, now) != nil {
		s.accountCodeWrong(r, a.user, account, address, "totp", "wrong_code")
		// The same secret again, so the user can retype the code.
		svg, _ := mfa.QRSVG(mfa.KeyURI(s.mfaIssuerName(), a.user.Login, f.Secret), s.lang(r, a.user).T("mfa.qr.label"))
		s.showSecurity(w, r, a.user, http.StatusOK, securityPage{Enrolling: true, QR: template.HTML(svg), // QRSVG's markup: see newEnrolment
			Secret: groupSecret(f.Secret)}, msgWrongCode, webui.Text{})
		return
	}
	s.login.succeeded(account, address)
	codes, err := s.newRecoveryCodes(r.Context(), a.user.Login)
	if err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "account security: recovery codes", "err", err)
	}
	s.cfg.Metrics.MFAEnrolments.Inc()
	s.cfg.Metrics.MFA.WithLabelValues("totp", "success").Inc()
	s.mfaAudit(r, nil, audit.MFAEnrolled, a.user.Login, "", "totp", "account")
	s.showSecurity(w, r, a.user, http.StatusOK, securityPage{Recovery: codes}, webui.Text{}, webui.Msg("account.security.enrolled"))
}

// handleSecurityRecovery replaces the recovery codes; it needs a
// current code from the app.
func (s *Server) handleSecurityRecovery(w http.ResponseWriter, r *http.Request) {
	a, ok := s.securityForm(w, r)
	if !ok {
		return
	}
	if !s.accountSecondFactor(w, r, a.user, false) {
		return
	}
	codes, err := s.newRecoveryCodes(r.Context(), a.user.Login)
	if err != nil {
		s.securityUnavailable(w, r, a.user, "account security: recovery codes", err)
		return
	}
	s.showSecurity(w, r, a.user, http.StatusOK, securityPage{Recovery: codes}, webui.Text{}, webui.Msg("account.security.recovery_new"))
}

// handleSecurityRemove removes the factors; it needs a current code or
// a recovery code, and is refused when the user's policy requires a
// second factor.
func (s *Server) handleSecurityRemove(w http.ResponseWriter, r *http.Request) {
	a, ok := s.securityForm(w, r)
	if !ok {
		return
	}
	if a.user.MFARequired {
		s.showSecurity(w, r, a.user, http.StatusForbidden, securityPage{}, webui.Msg("account.security.error.required"), webui.Text{})
		return
	}
	if !s.accountSecondFactor(w, r, a.user, true) {
		return
	}
	if err := s.cfg.Factors.DeleteFactors(r.Context(), a.user.Login); err != nil {
		s.securityUnavailable(w, r, a.user, "account security: remove", err)
		return
	}
	s.mfaAudit(r, nil, audit.MFARemoved, a.user.Login, "", "totp", "account")
	s.showSecurity(w, r, a.user, http.StatusOK, securityPage{}, webui.Text{}, webui.Msg("account.security.removed"))
}

// accountSecondFactor checks the posted code (a recovery code too when
// recovery is true) of u's confirmed factor, under the sign-in throttle;
// it answers and returns false when it does not pass.
func (s *Server) accountSecondFactor(w http.ResponseWriter, r *http.Request, u *directory.User, recovery bool) bool {
	code := strings.TrimSpace(r.PostForm.Get("code"))
	factor := "totp"
	if recovery && mfa.LooksLikeRecoveryCode(code) {
		factor = "recovery"
	}
	account, address, release, ok := s.accountThrottle(w, r, u, factor)
	if !ok {
		return false
	}
	defer release()
	f, err := s.cfg.Factors.TOTP(r.Context(), u.Login)
	if err != nil || f.ConfirmedAt.IsZero() {
		s.showSecurity(w, r, u, http.StatusConflict, securityPage{}, webui.Msg("account.security.error.not_enabled"), webui.Text{})
		return false
	}
	var reason string
	if factor == "recovery" {
		reason = s.useRecoveryCode(r.Context(), u.Login, code)
	} else {
		reason = s.useTOTP(r.Context(), f, code, s.cfg.Clock())
	}
	if reason != "" {
		s.accountCodeWrong(r, u, account, address, factor, reason)
		s.showSecurity(w, r, u, http.StatusOK, securityPage{}, msgWrongCode, webui.Text{})
		return false
	}
	s.login.succeeded(account, address)
	s.cfg.Metrics.MFA.WithLabelValues(factor, "success").Inc()
	return true
}

// accountThrottle holds a code attempt on the account page under the
// sign-in throttle; false when it answered 429 (or the client left).
func (s *Server) accountThrottle(w http.ResponseWriter, r *http.Request, u *directory.User, factor string) (account, address string, release func(), ok bool) {
	account, address = loginAccountKey(u.Login), loginAddressKey(r.RemoteAddr)
	wait, _ := s.login.blocked(account, address)
	if wait == 0 {
		var busy time.Duration
		var err error
		release, busy, err = s.login.hold(r.Context(), account, address)
		if err != nil {
			return "", "", nil, false
		}
		if busy == 0 {
			return account, address, release, true
		}
		wait = busy
	}
	s.refusedBy(metrics.LimiterLogin)
	s.cfg.Metrics.MFA.WithLabelValues(factor, "throttled").Inc()
	s.mfaAudit(r, nil, audit.MFAFailed, u.Login, "throttled", factor, "account")
	secs := retrySeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.showSecurity(w, r, u, http.StatusTooManyRequests, securityPage{},
		webui.Msg("login.error.throttled", s.lang(r, u).Wait(secs)), webui.Text{})
	return "", "", nil, false
}

func (s *Server) accountCodeWrong(r *http.Request, u *directory.User, account, address, factor, reason string) {
	s.login.failed(account, address)
	s.cfg.Metrics.MFA.WithLabelValues(factor, "failure").Inc()
	s.mfaAudit(r, nil, audit.MFAFailed, u.Login, reason, factor, "account")
}
