package issuer

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/webui"
)

// Signing in with a passkey (issue 20): as the second step after a
// password (mfaPasskeyPath), or without a password from the login page
// (loginPasskeyPath, discoverable credentials, user verification
// required). Both finish under the sign-in throttle; a failed assertion
// counts as a wrong password does.
const (
	mfaPasskeyPath   = mfaPath + "/passkey"
	loginPasskeyPath = "/account/login/passkey"
)

func (s *Server) routePasskeys() {
	if s.cfg.Passkeys == nil || s.cfg.Factors == nil {
		s.cfg.Passkeys = nil
		return
	}
	rp, err := newRelyingParty(s.cfg.Issuer, s.mfaIssuerName())
	if err != nil {
		// Every passkey check then finds none: no button, no section.
		s.cfg.Logger.Info("passkeys are off: the issuer URL cannot be a WebAuthn relying party", "issuer", s.cfg.Issuer, "err", err)
		s.cfg.Passkeys = nil
		return
	}
	s.rp = rp
	s.mux.HandleFunc("POST "+s.prefix+mfaPasskeyPath, s.handleMFAPasskey)
	s.mux.HandleFunc("POST "+s.prefix+loginPasskeyPath, s.handleLoginPasskey)
	s.routeAccountPasskeys() // account_passkeys.go
}

// beginSecondFactorPasskey starts an assertion limited to u's passkeys
// (allowCredentials), for the second-step page; "" when u has none.
func (s *Server) beginSecondFactorPasskey(w http.ResponseWriter, r *http.Request, req *authzRequest, u *directory.User) (string, error) {
	if s.cfg.Passkeys == nil {
		return "", nil
	}
	pu, err := s.newPasskeyUser(r.Context(), u)
	if err != nil || len(pu.keys) == 0 {
		return "", err
	}
	rp, err := s.relyingParty()
	if err != nil {
		return "", err
	}
	// A second factor proves possession; user verification helps but
	// is not required (the password was the knowledge factor).
	opts, session, err := rp.BeginLogin(pu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return "", err
	}
	return s.startCeremony(w, ceremonySecondFactor, u.Login, req.app.ID, session, opts)
}

// beginPasswordless starts a discoverable assertion (no
// allowCredentials: the authenticator offers the user's passkeys) with
// user verification required, for the login page; "" when the app has
// no local sign-in.
func (s *Server) beginPasswordless(w http.ResponseWriter, req *authzRequest) (string, error) {
	if s.cfg.Passkeys == nil || s.cfg.Factors == nil || req.app.NoLocalPasswords {
		return "", nil
	}
	rp, err := s.relyingParty()
	if err != nil {
		return "", err
	}
	opts, session, err := rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return "", err
	}
	return s.startCeremony(w, ceremonyPasswordless, "", req.app.ID, session, opts)
}

// handleMFAPasskey finishes a second step with a passkey.
func (s *Server) handleMFAPasskey(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readAuthorization(w, r) // authorize.go
	if !ok {
		return
	}
	pend, ok := s.readPending(r, req)
	var user *directory.User
	if ok {
		user = s.cfg.Directory.User(pend.Subject)
	}
	if !ok || user == nil {
		s.clearPending(w)
		s.redirectToLogin(w, r, req)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if !csrfValid(r) {
		s.showMFA(w, r, req, user, msgFormExpired, http.StatusForbidden)
		return
	}
	const factor = "passkey"
	account, address := loginAccountKey(user.Login), loginAddressKey(r.RemoteAddr)
	if wait, _ := s.login.blocked(account, address); wait > 0 {
		s.mfaThrottled(w, r, req, user, factor, wait)
		return
	}
	release, busy, err := s.login.hold(r.Context(), account, address)
	if err != nil {
		return
	}
	if busy > 0 {
		s.mfaThrottled(w, r, req, user, factor, busy)
		return
	}
	defer release()
	c, ok := s.takeCeremony(w, r, ceremonySecondFactor, user.Login, req.app.ID)
	if !ok {
		s.mfaWrong(w, r, req, user, account, address, factor, "passkey_ceremony_invalid")
		return
	}
	key, reason, err := s.verifyAssertion(r, c, user)
	if err != nil {
		s.mfaUnavailable(w, r, err)
		return
	}
	if reason != "" {
		s.mfaWrong(w, r, req, user, account, address, factor, reason)
		return
	}
	s.login.succeeded(account, address)
	now := s.cfg.Clock()
	s.spentMFA.spend("mfa "+pend.ID, now, time.Unix(pend.Expiry, 0))
	s.clearPending(w)
	s.cfg.Metrics.MFA.WithLabelValues(factor, "success").Inc()
	s.mfaAudit(r, req, audit.MFASucceeded, user.Login, "", factor, "")
	auth := pend.auth()
	auth.Methods = withMethods(auth.Methods, passkeyMethod(key), "mfa")
	auth.ACR = acrMFA
	s.completeSignIn(w, r, req, user, auth, nil) // mfa.go
}

// verifyAssertion checks the posted assertion against ceremony c, for
// user u (nil: a discoverable one, whose user the credential names). A
// refused assertion gives the audit reason; err is the store failing.
func (s *Server) verifyAssertion(r *http.Request, c ceremony, u *directory.User) (store.Passkey, string, error) {
	parsed, err := parseAssertion(r)
	if err != nil {
		return store.Passkey{}, "passkey_malformed", nil
	}
	rp, err := s.relyingParty()
	if err != nil {
		return store.Passkey{}, "", err
	}
	var cred *webauthn.Credential
	if u != nil {
		pu, err := s.newPasskeyUser(r.Context(), u)
		if err != nil {
			return store.Passkey{}, "", err
		}
		cred, err = rp.ValidateLogin(pu, c.Session, parsed)
		if err != nil {
			s.cfg.Logger.InfoContext(r.Context(), "passkey assertion refused", "err", err)
			return store.Passkey{}, "passkey_invalid", nil
		}
	} else {
		cred, err = rp.ValidateDiscoverableLogin(s.discoverableUser(r.Context()), c.Session, parsed)
		if err != nil {
			s.cfg.Logger.InfoContext(r.Context(), "passkey assertion refused", "err", err)
			return store.Passkey{}, "passkey_invalid", nil
		}
	}
	key, err := s.acceptAssertion(r.Context(), cred)
	switch {
	case errors.Is(err, errPasskeyReplayed):
		s.cfg.Logger.WarnContext(r.Context(), "passkey sign count did not grow: a cloned authenticator or a replay (WebAuthn §6.1.1)",
			"login", key.Login)
		return key, "passkey_sign_count", nil
	case errors.Is(err, store.ErrNotFound):
		return key, "passkey_invalid", nil // removed meanwhile
	case err != nil:
		return key, "", err
	}
	return key, "", nil
}

// handleLoginPasskey finishes a passwordless sign-in. Before the
// assertion names its user only the address is known, so a failure
// counts against the address alone.
func (s *Server) handleLoginPasskey(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readAuthorization(w, r) // authorize.go
	if !ok {
		return
	}
	if !csrfValid(r) {
		s.showLogin(w, r, req, "", msgFormExpired, http.StatusForbidden)
		return
	}
	if req.app.NoLocalPasswords {
		s.loginFailed(r, req, "", "local_passwords_off")
		s.showLogin(w, r, req, "", webui.Msg("login.error.no_passwords"), http.StatusForbidden)
		return
	}
	address := loginAddressKey(r.RemoteAddr)
	if wait := s.login.addresses.retryAfter(address); wait > 0 {
		s.refusedBy(metrics.LimiterLogin)
		s.loginFailed(r, req, "", "throttled_address")
		s.loginThrottled(w, r, req, "", wait)
		return
	}
	const factor = "passkey"
	fail := func(reason, login string) {
		s.login.addresses.fail(address)
		s.cfg.Metrics.MFA.WithLabelValues(factor, "failure").Inc()
		s.mfaAudit(r, req, audit.MFAFailed, login, reason, factor, "passwordless")
		s.loginFailed(r, req, login, reason)
		s.showLogin(w, r, req, "", webui.Msg("login.error.passkey"), http.StatusOK)
	}
	c, ok := s.takeCeremony(w, r, ceremonyPasswordless, "", req.app.ID)
	if !ok {
		fail("passkey_ceremony_invalid", "")
		return
	}
	key, reason, err := s.verifyAssertion(r, c, nil)
	if err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "passkey sign in", "err", err)
		s.showLogin(w, r, req, "", webui.Msg("login.error.unavailable"), http.StatusServiceUnavailable)
		return
	}
	if reason != "" {
		fail(reason, key.Login)
		return
	}
	user := s.cfg.Directory.User(key.Login)
	if user == nil {
		fail("passkey_invalid", "")
		return
	}
	s.cfg.Metrics.MFA.WithLabelValues(factor, "success").Inc()
	s.mfaAudit(r, req, audit.MFASucceeded, user.Login, "", factor, "passwordless")
	if msg := userMayUse(user, req.app); !msg.IsZero() {
		s.loginFailed(r, req, user.Login, "user_type_not_allowed")
		s.showLogin(w, r, req, "", msg, http.StatusForbidden)
		return
	}
	// Possession of the key and the verification it performed (UV was
	// required): two factors, so no second step follows.
	auth := store.Authentication{Methods: []string{passkeyMethod(key), "mfa"}, ACR: acrMFA}
	sess, err := s.signIn(r, user, auth) // login.go
	if err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "sign in", "err", err)
		s.showLogin(w, r, req, "", webui.Msg("login.error.unavailable"), http.StatusServiceUnavailable)
		return
	}
	s.signedInAs(w, r, req, user, sess, auth)
	s.continueSignIn(w, r, req, sess.IdentitySession, user) // consent.go
}
