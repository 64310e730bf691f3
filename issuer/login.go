package issuer

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/clientaddr"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/password"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/webui"
)

// csrfCookie holds the login form's anti-forgery secret (double submit):
// the form must echo it, and another site can neither read nor set it.
const csrfCookie = "erpgate_csrf"

// Messages deliberately say nothing about which part was wrong (no user
// enumeration).
var (
	msgWrongCredentials = webui.Msg("login.error.wrong")
	msgFormExpired      = webui.Msg("login.error.expired")
)

// redirectToLogin sends the browser to the login page with the
// authorization request, which the page carries through and re-validates.
func (s *Server) redirectToLogin(w http.ResponseWriter, r *http.Request, req *authzRequest) {
	q := url.Values{}
	for _, k := range authzParams {
		if v := req.raw.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.prefix+"/account/login?"+q.Encode(), http.StatusFound)
}

// loginData is what web/login.html reads as .D.
type loginData struct {
	pageData
	// Providers are the buttons of the external OpenID providers the app
	// offers (SPEC §10), in its order.
	Providers []providerButton
	// PasswordForm shows the login form: the app allows local passwords
	// or offers an LDAP provider.
	PasswordForm bool
	// PasskeyOptions are the options of a passwordless sign-in
	// (passkey_signin.go); "" without one.
	PasskeyOptions string
}

// providerButton is one "Sign in with …" button: a link to
// federatedStartPath carrying the authorization request.
type providerButton struct {
	ID, Name, URL string
}

// showLogin renders the login form for req.
func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, req *authzRequest, login string, errMsg webui.Text, status int) {
	token := s.csrfToken(w, r)
	params := carriedParams(req, "login") // consent.go: the login being shown satisfies prompt=login
	name := req.app.Name
	if name == "" {
		name = req.app.ID
	}
	d := loginData{pageData: pageData{Prefix: s.prefix, AppName: name, Login: login, CSRF: token, Params: params,
		Invalid: errMsg.Key == msgWrongCredentials.Key}, PasswordForm: s.passwordFormFor(req.app)}
	// The buttons carry the request whole: prompt=login still asks the
	// provider for a fresh sign-in (login_federated.go).
	q := url.Values{}
	for _, k := range authzParams {
		if v := req.raw.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	for _, id := range req.app.IdentityProviders {
		if p, ok := s.provider(req.app.IdentityProviders, id); ok && p.Redirect != nil {
			d.Providers = append(d.Providers, providerButton{ID: p.ID, Name: p.Name,
				URL: s.prefix + federatedStartPath + p.ID + "?" + q.Encode()})
		}
	}
	var err error
	if d.PasskeyOptions, err = s.beginPasswordless(w, req); err != nil {
		// The password form still works; the passkey button is left out.
		s.cfg.Logger.ErrorContext(r.Context(), "passkey sign-in", "err", err)
	}
	s.render(w, r, status, webui.Page{
		Name: "login.html", Title: webui.Msg("login.title"), Error: errMsg, Data: d, Passkey: d.PasskeyOptions != "",
		// The sign-in answers with a redirect, or a form post, there.
		FormTargets: []string{req.redirectURI},
	})
}

// passwordFormFor reports whether app's login page has the password
// form: local passwords allowed, or an LDAP provider offered.
func (s *Server) passwordFormFor(app *directory.App) bool {
	return !app.NoLocalPasswords || len(s.passwordProviders(app, "")) > 0
}

// passwordProviders are the LDAP providers app offers, those whose
// domains list login's first (SPEC §10: a domain picks the provider).
func (s *Server) passwordProviders(app *directory.App, login string) []*Provider {
	_, domain, _ := strings.Cut(login, "@")
	var first, rest []*Provider
	for _, id := range app.IdentityProviders {
		p, ok := s.provider(app.IdentityProviders, id)
		if !ok || p.Password == nil {
			continue
		}
		if domain != "" && slices.ContainsFunc(p.Domains, func(d string) bool { return strings.EqualFold(d, domain) }) {
			first = append(first, p)
		} else {
			rest = append(rest, p)
		}
	}
	return append(first, rest...)
}

// csrfToken returns the browser's anti-forgery token for a form, setting
// the cookie when it has none. An existing one is kept, so several open
// tabs all work.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == csrfTokenLen {
		return c.Value
	}
	token := newSecret()
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: token, Path: s.prefix + "/",
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode,
	})
	return token
}

// csrfTokenLen is the length of newSecret's values.
const csrfTokenLen = 43

// csrfValid reports whether a posted (already parsed) form echoes the
// anti-forgery cookie.
func csrfValid(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	return err == nil && len(c.Value) == csrfTokenLen &&
		subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf_token"))) == 1
}

// handleLogin shows (GET) and processes (POST) the login form.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		s.errorPage(w, r, http.StatusMethodNotAllowed, "invalid_request", "Use GET or POST.")
		return
	}
	if r.Method == http.MethodGet && r.URL.Query().Get("client_id") == "" {
		// No authorization request: someone opened the page itself, to
		// sign in to their account.
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, s.prefix+accountPath, http.StatusFound)
		return
	}
	req, ok := s.readAuthorization(w, r) // authorize.go
	if !ok {
		return
	}
	if r.Method == http.MethodGet {
		// login_hint in a domain of one of the app's OpenID providers
		// skips the choice (SPEC §10).
		if p := s.loginHintProvider(req); p != nil { // login_federated.go
			s.redirectToProvider(w, r, req, p)
			return
		}
		s.showLogin(w, r, req, req.raw.Get("login_hint"), webui.Text{}, http.StatusOK)
		return
	}
	login := strings.TrimSpace(r.PostForm.Get("login"))
	if len(login) > 256 {
		login = login[:256]
	}
	if !csrfValid(r) {
		s.showLogin(w, r, req, login, msgFormExpired, http.StatusForbidden)
		return
	}
	// Sign-in throttling (throttle.go): the same for unknown logins as
	// for known ones, so no answer or wait says whether one exists.
	account, address := loginAccountKey(login), loginAddressKey(r.RemoteAddr)
	if wait, reason := s.login.blocked(account, address); wait > 0 {
		s.refusedBy(metrics.LimiterLogin)
		s.loginFailed(r, req, login, reason)
		s.loginThrottled(w, r, req, login, wait)
		return
	}
	release, busy, err := s.login.hold(r.Context(), account, address)
	if err != nil {
		return // the client left while its attempt waited
	}
	if busy > 0 {
		s.refusedBy(metrics.LimiterLogin)
		s.loginFailed(r, req, login, "throttled_account_busy")
		s.loginThrottled(w, r, req, login, busy)
		return
	}
	defer release()
	user := s.cfg.Directory.User(login)
	pw := r.PostForm.Get("password")
	local := !req.app.NoLocalPasswords
	ldap := s.passwordProviders(req.app, login)
	if !local && len(ldap) == 0 {
		// The form is not shown for such an app; a post is refused.
		s.loginFailed(r, req, login, "local_passwords_off")
		s.showLogin(w, r, req, login, webui.Msg("login.error.no_passwords"), http.StatusForbidden)
		return
	}
	// A local user with a password is checked here when the app allows
	// local passwords; anyone else is tried at the app's LDAP providers.
	if len(ldap) > 0 && !(local && user != nil && user.PasswordHash != "") {
		s.directoryLogin(w, r, req, ldap, login, pw, account, address) // login_ldap.go
		return
	}
	if !s.checkPassword(user, pw) {
		s.login.failed(account, address)
		s.loginFailed(r, req, login, "wrong_credentials")
		s.showLogin(w, r, req, login, msgWrongCredentials, http.StatusOK)
		return
	}
	s.login.succeeded(account, address)
	if msg := userMayUse(user, req.app); !msg.IsZero() {
		s.loginFailed(r, req, login, "user_type_not_allowed")
		s.showLogin(w, r, req, login, msg, http.StatusForbidden)
		return
	}
	auth := passwordAuth
	second, err := s.needSecondStep(w, r, req, user, &auth) // mfa.go
	if second {
		return
	}
	var sess signedIn
	if err == nil {
		sess, err = s.signIn(r, user, auth)
	}
	if err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "sign in", "err", err)
		s.showLogin(w, r, req, login, webui.Msg("login.error.unavailable"), http.StatusServiceUnavailable)
		return
	}
	s.signedInAs(w, r, req, user, sess, auth)
	s.continueSignIn(w, r, req, sess.IdentitySession, user) // consent.go
}

// signedInAs records a sign-in whose every factor passed, whichever
// they were: the identity cookie, the count and the audit line (with
// the provider, if any, and the acr). The caller goes on with the
// authorization request.
func (s *Server) signedInAs(w http.ResponseWriter, r *http.Request, req *authzRequest, u *directory.User, sess signedIn, auth store.Authentication) {
	s.setIdentityCookie(w, sess.ID, sess.secret)
	s.cfg.Metrics.Logins.WithLabelValues("success").Inc()
	var attrs []slog.Attr
	if auth.Provider != "" {
		attrs = append(attrs, slog.String("idp", auth.Provider))
	}
	s.cfg.Audit.Log(r.Context(), audit.Event{
		Name: audit.LoginSucceeded, ClientID: req.app.ID, Subject: u.Login, Session: sess.ID,
		RequestID: requestid.From(r.Context()), RemoteAddr: r.RemoteAddr, Attrs: append(attrs, slog.String("acr", auth.ACR)),
	})
}

// loginThrottled answers a refused sign-in attempt: 429, how long to
// wait in Retry-After (RFC 9110 §10.2.3, whole seconds rounded up) and in
// words on the page. The message names no reason, so it says nothing
// about the account.
func (s *Server) loginThrottled(w http.ResponseWriter, r *http.Request, req *authzRequest, login string, wait time.Duration) {
	secs := retrySeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.showLogin(w, r, req, login, webui.Msg("login.error.throttled", s.lang(r, nil).Wait(secs)), http.StatusTooManyRequests)
}

// retrySeconds is d in whole seconds, rounded up, at least 1.
func retrySeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

func (s *Server) loginFailed(r *http.Request, req *authzRequest, login, reason string) {
	s.cfg.Metrics.Logins.WithLabelValues("failure").Inc()
	subject := ""
	if s.cfg.Directory.User(login) != nil {
		subject = login // only configured logins reach the logs
	}
	s.cfg.Audit.Log(r.Context(), audit.Event{
		Name: audit.LoginFailed, ClientID: req.app.ID, Subject: subject,
		RequestID: requestid.From(r.Context()), RemoteAddr: r.RemoteAddr, Reason: reason,
	})
}

// checkPassword verifies pw in the same time whether or not the user
// exists or has a password (system users have none).
func (s *Server) checkPassword(u *directory.User, pw string) bool {
	hash := s.dummyHash
	if u != nil && u.PasswordHash != "" {
		hash = u.PasswordHash
	}
	ok, err := password.Verify(hash, pw)
	return err == nil && ok && u != nil && u.PasswordHash != ""
}

type signedIn struct {
	store.IdentitySession
	secret string
}

// passwordAuth is a sign-in with erpgate's own password check
// (RFC 8176 §2: "pwd").
var passwordAuth = store.Authentication{Methods: []string{"pwd"}}

// signIn starts or renews the identity session: the same user signing in
// again keeps the session (and sid) with a new secret, auth time, origin
// (address and browser) and auth (how the user authenticated); a
// different user gets a new session. The cookie value always changes (no
// session fixation).
func (s *Server) signIn(r *http.Request, u *directory.User, auth store.Authentication) (signedIn, error) {
	now := s.cfg.Clock()
	sess := store.IdentitySession{ID: newID(), Subject: u.Login, CreatedAt: now}
	if cur, ok := s.currentIdentity(r); ok && cur.Subject == u.Login {
		sess = cur
	}
	secret := newSecret()
	sess.SecretHash = hashToken(secret)
	sess.AuthTime = now.Truncate(time.Second)
	sess.Auth = auth
	sess.ExpiresAt = now.Add(s.cfg.IdentitySessionTTL)
	// Where the sign-in came from, for the account page's "my sessions"
	// (account_sessions.go): the real client's IP, which clientaddr's
	// middleware put in r.RemoteAddr from trusted_proxies.
	sess.RemoteAddr, sess.UserAgent = clientaddr.IP(r.RemoteAddr), trimUserAgent(r.UserAgent())
	if err := s.cfg.IdentitySessions.SaveIdentitySession(r.Context(), sess); err != nil {
		return signedIn{}, err
	}
	return signedIn{sess, secret}, nil
}
