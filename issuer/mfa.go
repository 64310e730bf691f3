package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/mfa"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/webui"
)

// The second step of a sign-in (SPEC §10, issue 20). Every first factor
// (erpgate's password, an LDAP bind, an external OpenID provider) ends
// in needSecondStep before any identity session exists. When the user
// has a confirmed TOTP factor, the app says mfa: required, the user
// mfa_required, or the request acr_values=mfa, the browser gets a
// pending second step instead: a short-lived cookie holding a record
// signed with the issuer's key (so every replica can read it) that names
// the user, the app and how the first factor went, and nothing secret.
// It is not a sign-in: no sid, no license slot, no code until the
// second factor passes at mfaPath; it expires after mfaTTL, and is spent
// once it has served (a replay on this process is refused; on another,
// the code it would need is spent in the shared store).
//
// A user who must pass a second factor but has none enrols right there
// (QR code and the secret in text, confirmed by a first code) and is
// shown recovery codes once before going on. A provider whose amr
// already says multi-factor ("mfa", or "otp"/"hwk"/"swk" with another
// method) passes for two factors: no second step.

// The acr values (OIDC Core §2) a sign-in reaches: one factor, or two.
const (
	acrPassword = "pwd"
	acrMFA      = "mfa"
)

const (
	mfaPath = "/account/mfa"
	// mfaCookie holds the pending second step.
	mfaCookie = "erpgate_mfa"
	// mfaTTL bounds the time between the first factor and the second.
	mfaTTL = 5 * time.Minute
	// typeMFAPending is the JWS typ of the pending record, so it can
	// never pass for an access or ID token (their typ differs).
	typeMFAPending = "erpgate-mfa-pending+jwt"
)

// Factors keeps the users' second factors (store.Factors).
type Factors interface {
	TOTP(ctx context.Context, login string) (store.TOTPFactor, error)
	SaveTOTP(ctx context.Context, f store.TOTPFactor) error
	ConfirmTOTP(ctx context.Context, login, secret string, step int64, now time.Time) error
	UseTOTPStep(ctx context.Context, login string, step int64) error
	SaveRecoveryCodes(ctx context.Context, login string, hashes []string, now time.Time) error
	RecoveryCodes(ctx context.Context, login string) ([]string, error)
	UseRecoveryCode(ctx context.Context, login, hash string) error
	DeleteFactors(ctx context.Context, login string) error
}

// pendingMFA is the signed record in mfaCookie.
type pendingMFA struct {
	Issuer   string   `json:"iss"`
	Audience string   `json:"aud"` // the issuer's mfaPath: this record's only use
	ID       string   `json:"jti"`
	Subject  string   `json:"sub"`
	ClientID string   `json:"client_id"`
	IssuedAt int64    `json:"iat"`
	Expiry   int64    `json:"exp"`
	Provider string   `json:"idp,omitempty"`
	Tenant   string   `json:"tid,omitempty"`
	Methods  []string `json:"amr,omitempty"`
}

func (p pendingMFA) auth() store.Authentication {
	return store.Authentication{Provider: p.Provider, Tenant: p.Tenant, Methods: p.Methods}
}

// wantsMFA reports whether the authorization request asks for a
// multi-factor sign-in: acr_values (OIDC Core §3.1.2.1, space-separated,
// in order of preference) naming mfa.
func (a *authzRequest) wantsMFA() bool {
	return slices.Contains(strings.Fields(a.raw.Get("acr_values")), acrMFA)
}

// providerMFA reports whether an external provider's amr already says
// two factors (RFC 8176: "mfa", or a second-factor method with another).
func providerMFA(methods []string) bool {
	if slices.Contains(methods, "mfa") {
		return true
	}
	second := slices.ContainsFunc(methods, func(m string) bool { return m == "otp" || m == "hwk" || m == "swk" })
	return second && len(methods) > 1
}

// mfaPolicy reports whether u must pass a second factor on app whatever
// it enrolled: the app's or the user's policy.
func mfaPolicy(u *directory.User, app *directory.App) bool {
	return app.MFARequired || u.MFARequired
}

// needSecondStep decides, after a first factor passed, whether the
// sign-in needs a second. It sets auth.ACR for a sign-in that does not
// (pwd, or mfa when the provider asserted it) and returns false; for one
// that does it sends the browser to the second step and returns true.
func (s *Server) needSecondStep(w http.ResponseWriter, r *http.Request, req *authzRequest, u *directory.User, auth *store.Authentication) (bool, error) {
	if providerMFA(auth.Methods) {
		auth.ACR = acrMFA
		return false, nil
	}
	auth.ACR = acrPassword
	need := mfaPolicy(u, req.app) || req.wantsMFA()
	if s.cfg.Factors == nil {
		if need {
			return false, errors.New("a second factor is required but the server keeps none")
		}
		return false, nil
	}
	if !need {
		f, err := s.cfg.Factors.TOTP(r.Context(), u.Login)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return false, err
		default:
			need = !f.ConfirmedAt.IsZero()
		}
	}
	if !need {
		// A passkey is a second factor too (passkey.go).
		has, err := s.hasPasskey(r.Context(), u.Login)
		if err != nil {
			return false, err
		}
		need = has
	}
	if !need {
		return false, nil
	}
	return true, s.startSecondStep(w, r, req, u, *auth)
}

// startSecondStep sets the pending cookie and sends the browser to the
// second-step page with the authorization request.
func (s *Server) startSecondStep(w http.ResponseWriter, r *http.Request, req *authzRequest, u *directory.User, auth store.Authentication) error {
	now := s.cfg.Clock()
	p := pendingMFA{Issuer: s.cfg.Issuer, Audience: s.cfg.Issuer + mfaPath, ID: newID(), Subject: u.Login,
		ClientID: req.app.ID, IssuedAt: now.Unix(), Expiry: now.Add(mfaTTL).Unix(),
		Provider: auth.Provider, Tenant: auth.Tenant, Methods: auth.Methods}
	jws, err := s.cfg.Signer.Sign(typeMFAPending, p)
	if err != nil {
		return err
	}
	// Lax: the step may follow a provider's cross-site redirect back.
	http.SetCookie(w, &http.Cookie{Name: mfaCookie, Value: jws, Path: s.prefix + mfaPath, MaxAge: int(mfaTTL / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	// The first factor was just given: prompt=login is satisfied.
	q := url.Values{}
	for _, p := range carriedParams(req, "login") { // consent.go
		q.Set(p.Name, p.Value)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.prefix+mfaPath+"?"+q.Encode(), http.StatusSeeOther)
	return nil
}

// readPending returns the browser's pending second step for req's app;
// false when there is none, it is forged, expired, for another app, or
// spent.
func (s *Server) readPending(r *http.Request, req *authzRequest) (pendingMFA, bool) {
	c, err := r.Cookie(mfaCookie)
	if err != nil || len(c.Value) > maxPendingCookie {
		return pendingMFA{}, false
	}
	raw, err := s.cfg.Signer.Verify(c.Value, typeMFAPending)
	var p pendingMFA
	if err != nil || json.Unmarshal(raw, &p) != nil {
		return pendingMFA{}, false
	}
	now := s.cfg.Clock()
	if p.Issuer != s.cfg.Issuer || p.Audience != s.cfg.Issuer+mfaPath || p.ClientID != req.app.ID ||
		!now.Before(time.Unix(p.Expiry, 0)) || s.spentMFA.used("mfa "+p.ID, now) {
		return pendingMFA{}, false
	}
	return p, true
}

func (s *Server) clearPending(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: mfaCookie, Value: "", Path: s.prefix + mfaPath, MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// mfaData is what web/mfa.html reads as .D.
type mfaData struct {
	pageData
	// Enrol shows the enrolment (QR code, secret, first code) instead of
	// the code field.
	Enrol  bool
	QR     template.HTML // inline SVG (mfa.QRSVG): numbers and fixed markup only
	Secret string        // for manual entry, in groups of four
	// Recovery are new recovery codes, shown once after an enrolment;
	// Next goes on with the sign-in.
	Recovery []string
	// PasskeyOptions are the options of an assertion with the user's
	// passkeys (passkey_signin.go), "" when they have none; with no
	// confirmed TOTP factor beside them the page offers only the passkey.
	PasskeyOptions string
	// Code shows the code form (a TOTP factor, or its enrolment).
	Code bool
}

// handleMFA shows (GET) and checks (POST) the second step.
func (s *Server) handleMFA(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readAuthorization(w, r) // authorize.go
	if !ok {
		return
	}
	pend, ok := s.readPending(r, req)
	var user *directory.User
	if ok {
		user = s.cfg.Directory.User(pend.Subject)
	}
	if !ok || user == nil || s.cfg.Factors == nil {
		// No first factor to build on: sign in from the start.
		s.clearPending(w)
		s.redirectToLogin(w, r, req)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodGet {
		s.showMFA(w, r, req, user, webui.Text{}, http.StatusOK)
		return
	}
	if !csrfValid(r) {
		s.showMFA(w, r, req, user, msgFormExpired, http.StatusForbidden)
		return
	}
	s.checkSecondFactor(w, r, req, user, pend)
}

// showMFA renders the code form, or the enrolment for a user without a
// confirmed factor (a new secret each time the page is shown; the
// latest is the one a code confirms).
func (s *Server) showMFA(w http.ResponseWriter, r *http.Request, req *authzRequest, u *directory.User, errMsg webui.Text, status int) {
	d := mfaData{pageData: pageData{Prefix: s.prefix, AppName: appLabel(req.app), Login: u.Login, CSRF: s.csrfToken(w, r),
		Params: carriedParams(req, "login"), Invalid: !errMsg.IsZero() && errMsg.Key != msgFormExpired.Key}}
	f, err := s.cfg.Factors.TOTP(r.Context(), u.Login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.mfaUnavailable(w, r, err)
		return
	}
	totp := err == nil && !f.ConfirmedAt.IsZero()
	if d.PasskeyOptions, err = s.beginSecondFactorPasskey(w, r, req, u); err != nil { // passkey_signin.go
		s.mfaUnavailable(w, r, err)
		return
	}
	d.Code = totp
	if !totp && d.PasskeyOptions == "" {
		d.Enrol, d.Code = true, true
		if d.QR, d.Secret, err = s.newEnrolment(r.Context(), u, s.lang(r, u).T("mfa.qr.label")); err != nil {
			s.mfaUnavailable(w, r, err)
			return
		}
	}
	s.render(w, r, status, webui.Page{Name: "mfa.html", Title: webui.Msg("mfa.title"), Error: errMsg, Data: d,
		Lang: s.lang(r, u), FormTargets: []string{req.redirectURI}, Passkey: d.PasskeyOptions != ""})
}

// newEnrolment stores a fresh pending secret for u and returns its QR
// code (label: its accessible name) and its text.
func (s *Server) newEnrolment(ctx context.Context, u *directory.User, label string) (template.HTML, string, error) {
	secret := mfa.NewSecret()
	if err := s.cfg.Factors.SaveTOTP(ctx, store.TOTPFactor{Login: u.Login, Secret: secret, CreatedAt: s.cfg.Clock()}); err != nil {
		return "", "", err
	}
	svg, err := mfa.QRSVG(mfa.KeyURI(s.mfaIssuerName(), u.Login, secret), label)
	if err != nil {
		return "", "", err
	}
	return template.HTML(svg), groupSecret(secret), nil // QRSVG's markup holds no caller text: numbers, fixed markup, an escaped label
}

// mfaIssuerName is the issuer label an authenticator app shows.
func (s *Server) mfaIssuerName() string {
	if n := s.cfg.Pages.ProductName(); n != "" {
		return n
	}
	return "erpgate"
}

// groupSecret writes a base32 secret in groups of four for typing.
func groupSecret(secret string) string {
	var parts []string
	for len(secret) > 4 {
		parts = append(parts, secret[:4])
		secret = secret[4:]
	}
	return strings.Join(append(parts, secret), " ")
}

func (s *Server) mfaUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.cfg.Logger.ErrorContext(r.Context(), "second factor", "err", err)
	w.Header().Set("Retry-After", "1")
	s.message(w, r, http.StatusServiceUnavailable, webui.Msg("mfa.title"), webui.Msg("login.error.unavailable"), pageData{})
}

// msgWrongCode names no reason (wrong, replayed, used up): no oracle.
var msgWrongCode = webui.Msg("mfa.error.wrong")

// checkSecondFactor judges a posted code under the password throttle
// (throttle.go): the same account and address counters, the same waits.
func (s *Server) checkSecondFactor(w http.ResponseWriter, r *http.Request, req *authzRequest, u *directory.User, pend pendingMFA) {
	code := strings.TrimSpace(r.PostForm.Get("code"))
	if len(code) > 64 {
		code = code[:64]
	}
	factor := "totp"
	if mfa.LooksLikeRecoveryCode(code) {
		factor = "recovery"
	}
	account, address := loginAccountKey(u.Login), loginAddressKey(r.RemoteAddr)
	if wait, _ := s.login.blocked(account, address); wait > 0 {
		s.mfaThrottled(w, r, req, u, factor, wait)
		return
	}
	release, busy, err := s.login.hold(r.Context(), account, address)
	if err != nil {
		return // the client left while its attempt waited
	}
	if busy > 0 {
		s.mfaThrottled(w, r, req, u, factor, busy)
		return
	}
	defer release()
	now := s.cfg.Clock()
	f, err := s.cfg.Factors.TOTP(r.Context(), u.Login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.mfaUnavailable(w, r, err)
		return
	}
	enrolling := err != nil || f.ConfirmedAt.IsZero()
	auth := pend.auth()
	var recovery []string
	switch {
	case enrolling && err != nil:
		// Nothing pending to confirm (reset meanwhile): enrol afresh.
		s.showMFA(w, r, req, u, webui.Text{}, http.StatusOK)
		return
	case enrolling:
		step, ok := mfa.Verify(f.Secret, code, now, 0)
		if ok {
			if cerr := s.cfg.Factors.ConfirmTOTP(r.Context(), u.Login, f.Secret, step, now); cerr != nil {
				ok = false // another tab started over: its secret counts
			}
		}
		if !ok {
			s.mfaWrong(w, r, req, u, account, address, "totp", "wrong_code")
			return
		}
		recovery, err = s.newRecoveryCodes(r.Context(), u.Login)
		if err != nil {
			s.mfaUnavailable(w, r, err)
			return
		}
		s.cfg.Metrics.MFAEnrolments.Inc()
		s.mfaAudit(r, req, audit.MFAEnrolled, u.Login, "", "totp", "sign_in")
		auth.Methods = withMethods(auth.Methods, "otp", "mfa")
	case factor == "recovery":
		if reason := s.useRecoveryCode(r.Context(), u.Login, code); reason != "" {
			s.mfaWrong(w, r, req, u, account, address, factor, reason)
			return
		}
		auth.Methods = withMethods(auth.Methods, "mfa") // RFC 8176 names no recovery-code method
	default:
		if reason := s.useTOTP(r.Context(), f, code, now); reason != "" {
			s.mfaWrong(w, r, req, u, account, address, factor, reason)
			return
		}
		auth.Methods = withMethods(auth.Methods, "otp", "mfa")
	}
	s.login.succeeded(account, address)
	// The pending record has served: spent here, gone from the browser.
	s.spentMFA.spend("mfa "+pend.ID, now, time.Unix(pend.Expiry, 0))
	s.clearPending(w)
	s.cfg.Metrics.MFA.WithLabelValues(factor, "success").Inc()
	s.mfaAudit(r, req, audit.MFASucceeded, u.Login, "", factor, "")
	auth.ACR = acrMFA
	s.completeSignIn(w, r, req, u, auth, recovery)
}

// useTOTP accepts code for f at now once: the step it matches must be
// after the last one accepted, and the store's compare-and-set must
// take it (two replicas, one code: one wins). The reason is for the
// audit log only.
func (s *Server) useTOTP(ctx context.Context, f store.TOTPFactor, code string, now time.Time) string {
	step, ok := mfa.Verify(f.Secret, code, now, f.LastStep)
	if !ok {
		if _, once := mfa.Verify(f.Secret, code, now, -1<<62); once {
			return "replayed"
		}
		return "wrong_code"
	}
	if err := s.cfg.Factors.UseTOTPStep(ctx, f.Login, step); err != nil {
		return "replayed"
	}
	return ""
}

// useRecoveryCode uses up code, matched against every unused hash in
// constant time; the reason is for the audit log only.
func (s *Server) useRecoveryCode(ctx context.Context, login, code string) string {
	hashes, err := s.cfg.Factors.RecoveryCodes(ctx, login)
	if err != nil {
		return "store_unavailable"
	}
	i := mfa.MatchRecoveryCode(hashes, code)
	if i < 0 {
		return "wrong_recovery_code"
	}
	if s.cfg.Factors.UseRecoveryCode(ctx, login, hashes[i]) != nil {
		return "wrong_recovery_code" // used at the same moment elsewhere
	}
	return ""
}

// newRecoveryCodes replaces login's recovery codes and returns them,
// to be shown once.
func (s *Server) newRecoveryCodes(ctx context.Context, login string) ([]string, error) {
	codes := mfa.NewRecoveryCodes()
	hashes := make([]string, len(codes))
	for i, c := range codes {
		hashes[i] = mfa.HashRecoveryCode(c)
	}
	return codes, s.cfg.Factors.SaveRecoveryCodes(ctx, login, hashes, s.cfg.Clock())
}

// withMethods is methods with extra appended, each once.
func withMethods(methods []string, extra ...string) []string {
	out := slices.Clone(methods)
	for _, m := range extra {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

func (s *Server) mfaWrong(w http.ResponseWriter, r *http.Request, req *authzRequest, u *directory.User, account, address, factor, reason string) {
	s.login.failed(account, address)
	s.cfg.Metrics.MFA.WithLabelValues(factor, "failure").Inc()
	s.mfaAudit(r, req, audit.MFAFailed, u.Login, reason, factor, "")
	s.showMFA(w, r, req, u, msgWrongCode, http.StatusOK)
}

func (s *Server) mfaThrottled(w http.ResponseWriter, r *http.Request, req *authzRequest, u *directory.User, factor string, wait time.Duration) {
	s.refusedBy(metrics.LimiterLogin)
	s.cfg.Metrics.MFA.WithLabelValues(factor, "throttled").Inc()
	s.mfaAudit(r, req, audit.MFAFailed, u.Login, "throttled", factor, "")
	secs := retrySeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.showMFA(w, r, req, u, webui.Msg("login.error.throttled", s.lang(r, u).Wait(secs)), http.StatusTooManyRequests)
}

func (s *Server) mfaAudit(r *http.Request, req *authzRequest, event, login, reason, factor, where string) {
	attrs := []slog.Attr{slog.String("factor", factor)}
	if where != "" {
		attrs = append(attrs, slog.String("where", where))
	}
	clientID := ""
	if req != nil {
		clientID = req.app.ID
	}
	s.cfg.Audit.Log(r.Context(), audit.Event{
		Name: event, ClientID: clientID, Subject: login, Reason: reason,
		RequestID: requestid.From(r.Context()), RemoteAddr: r.RemoteAddr, Attrs: attrs,
	})
}

// completeSignIn signs u in with auth once every factor passed: the
// identity session (the same sid when the browser's live one is u's: an
// upgrade to acr mfa), the audit, and the authorization request goes on
// (consent, code). Recovery codes just issued are shown first, once,
// with a link that goes on.
func (s *Server) completeSignIn(w http.ResponseWriter, r *http.Request, req *authzRequest, u *directory.User, auth store.Authentication, recovery []string) {
	if msg := userMayUse(u, req.app); !msg.IsZero() {
		s.loginFailed(r, req, u.Login, "user_type_not_allowed")
		s.message(w, r, http.StatusForbidden, webui.Msg("error.signin_failed.title"), msg, pageData{Code: "access_denied"})
		return
	}
	sess, err := s.signIn(r, u, auth) // login.go
	if err != nil {
		s.mfaUnavailable(w, r, err)
		return
	}
	s.signedInAs(w, r, req, u, sess, auth) // login.go
	if len(recovery) > 0 {
		q := url.Values{}
		for _, p := range carriedParams(req, "login") {
			q.Set(p.Name, p.Value)
		}
		d := mfaData{pageData: pageData{Prefix: s.prefix, AppName: appLabel(req.app), Login: u.Login,
			Next: s.prefix + "/connect/authorize?" + q.Encode(), NextText: webui.Msg("mfa.recovery.continue")}, Recovery: recovery}
		s.render(w, r, http.StatusOK, webui.Page{Name: "mfa_recovery.html", Title: webui.Msg("mfa.recovery.title"), Data: d,
			Lang: s.lang(r, u), Script: true})
		return
	}
	s.continueSignIn(w, r, req, sess.IdentitySession, u) // consent.go
}

// used reports whether hash was spent and has not expired.
func (s *spentStates) used(hash string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.seen[hash]
	return ok && !now.After(e)
}
