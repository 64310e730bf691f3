package issuer

import (
	"cmp"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/webui"
)

// The account page (SPEC §10) is a small area of pages for the person
// signed in to the identity server, one navigation for all:
//
//   - /account: the profile and the consents given (revoke one: the app
//     asks again);
//   - /account/password: change the password (account_password.go);
//   - /account/sessions: the live sign-ins, end one (account_sessions.go);
//   - /account/security: the second factors (account_security.go);
//   - /account/tokens: personal access tokens (account_tokens.go), when
//     the server has a reference-token service.
//
// Every page is only for the signed-in user: a browser without an
// identity session is sent to sign in and back (accountUser), and every
// form is the user's own (records are looked up by the signed-in login,
// never by an id alone) and carries the anti-forgery token.
func (s *Server) routeAccount() {
	s.mux.HandleFunc("GET "+s.prefix+accountPath, s.handleAccount)
	s.mux.HandleFunc("POST "+s.prefix+accountPath+"/consents/revoke", s.handleRevokeConsent)
	s.mux.HandleFunc("GET "+s.prefix+accountPasswordPath, s.handlePasswordPage)
	s.mux.HandleFunc("POST "+s.prefix+accountPasswordPath, s.handleChangePassword)
	s.mux.HandleFunc("GET "+s.prefix+accountSessionsPath, s.handleSessionsPage)
	s.mux.HandleFunc("POST "+s.prefix+accountSessionsPath+"/end", s.handleEndOwnSession)
}

// account is who an account page is for: the identity session of the
// request's cookie and its user.
type account struct {
	sess store.IdentitySession
	user *directory.User
}

// accountUser returns the signed-in user of the request's identity
// session for an account page at path. Without a sign-in it sends the
// browser to sign in and come back to path (or says how) and returns
// false; when the store cannot say, it answers 503 (an outage is not
// "signed out").
func (s *Server) accountUser(w http.ResponseWriter, r *http.Request, path string) (account, bool) {
	sess, ok, err := s.lookupIdentity(r)
	if err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "account page: read identity session", "err", err)
		w.Header().Set("Retry-After", "1")
		s.message(w, r, http.StatusServiceUnavailable, webui.Msg("account.title"), webui.Msg("error.try_again_shortly"), pageData{})
		return account{}, false
	}
	if ok {
		if u := s.cfg.Directory.User(sess.Subject); u != nil && u.Type != directory.TypeSystem {
			return account{sess: sess, user: u}, true
		}
	}
	if s.cfg.SignInURL != "" {
		sep := "?"
		if strings.Contains(s.cfg.SignInURL, "?") {
			sep = "&"
		}
		w.Header().Set("Cache-Control", "no-store")
		status := http.StatusFound
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			status = http.StatusSeeOther
		}
		http.Redirect(w, r, s.cfg.SignInURL+sep+"rd="+url.QueryEscape(s.prefix+path), status)
		return account{}, false
	}
	s.message(w, r, http.StatusForbidden, webui.Msg("account.sign_in_first.title"), webui.Msg("account.sign_in_first.text"), pageData{})
	return account{}, false
}

// accountFrame is what every account page's template reads as .D besides
// its own fields: the navigation, and who is signed in.
type accountFrame struct {
	pageData
	UserName string
	Nav      []accountTab
}

// accountTab is one link of the account pages' navigation.
type accountTab struct {
	ID, Href string
	Label    webui.Text
	Current  bool
}

// accountFrame builds the frame of the account page at path for u.
func (s *Server) accountFrame(w http.ResponseWriter, r *http.Request, u *directory.User, path string) accountFrame {
	tabs := []accountTab{
		{ID: "nav-profile", Href: accountPath, Label: webui.Msg("account.nav.profile")},
		{ID: "nav-password", Href: accountPasswordPath, Label: webui.Msg("account.nav.password")},
		{ID: "nav-sessions", Href: accountSessionsPath, Label: webui.Msg("account.nav.sessions")},
	}
	if s.cfg.Factors != nil {
		tabs = append(tabs, accountTab{ID: "nav-security", Href: accountSecurityPath, Label: webui.Msg("account.nav.security")})
	}
	if s.cfg.ReferenceTokens != nil {
		tabs = append(tabs, accountTab{ID: "nav-tokens", Href: tokensPath, Label: webui.Msg("account.nav.tokens")})
	}
	tabs = append(tabs,
		accountTab{ID: "nav-consents", Href: accountPath + "#consents", Label: webui.Msg("account.nav.consents")},
		accountTab{ID: "nav-signout", Href: "/connect/endsession", Label: webui.Msg("logout.submit")})
	for i := range tabs {
		tabs[i].Current = tabs[i].Href == path
		tabs[i].Href = s.prefix + tabs[i].Href
	}
	return accountFrame{
		pageData: pageData{Prefix: s.prefix, Login: u.Login, CSRF: s.csrfToken(w, r)},
		UserName: cmp.Or(u.Name, u.Login),
		Nav:      tabs,
	}
}

// renderAccount writes an account page for u in u's language.
func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, u *directory.User, status int, p webui.Page) {
	p.Lang, p.Wide = s.lang(r, u), true
	s.cfg.Pages.Render(w, r, pages, status, p)
}

// fieldErrors are a form's refusals, each under the id of the field it
// is about, so the page ties it to that field (aria-invalid,
// aria-describedby="<id>-error").
type fieldErrors map[string]webui.Text

// Has reports whether field was refused.
func (e fieldErrors) Has(field string) bool { _, ok := e[field]; return ok }

// Of is why field was refused.
func (e fieldErrors) Of(field string) webui.Text { return e[field] }

// parseAccountForm reads a POST of an account page and checks its
// anti-forgery token; on failure it returns what to tell the user, and
// the status.
func parseAccountForm(w http.ResponseWriter, r *http.Request) (int, webui.Text) {
	if err := parseForm(w, r); err != nil { // token.go: bounded, under a read deadline
		return err.Status, webui.Msg("error.malformed")
	}
	if !csrfValid(r) {
		return http.StatusForbidden, webui.Msg("error.form_expired")
	}
	return 0, webui.Text{}
}

// accountData is what web/account.html reads as .D.
type accountData struct {
	accountFrame
	User     *directory.User
	Type     webui.Text
	Language string
	Consents []consentRow
}

type consentRow struct {
	ClientID, App string
	Scopes        []string
	GrantedAt     time.Time
}

// handleAccount shows the account page.
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) {
	a, ok := s.accountUser(w, r, accountPath)
	if !ok {
		return
	}
	s.showAccount(w, r, a.user, http.StatusOK, webui.Text{}, webui.Text{})
}

func (s *Server) showAccount(w http.ResponseWriter, r *http.Request, u *directory.User, status int, errMsg, notice webui.Text) {
	d := accountData{accountFrame: s.accountFrame(w, r, u, accountPath), User: u,
		Type: webui.Msg("account.type." + cmp.Or(u.Type, directory.TypeInternal)), Language: languageName(u.Locale)}
	consents, err := s.cfg.Consents.ConsentsOf(r.Context(), u.Login)
	if err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "list consents", "err", err)
		if errMsg.IsZero() {
			errMsg, status = webui.Msg("error.try_again_shortly"), http.StatusServiceUnavailable
		}
	}
	for _, c := range consents {
		row := consentRow{ClientID: c.ClientID, App: c.ClientID, Scopes: c.Scopes, GrantedAt: c.GrantedAt}
		if a := s.cfg.Directory.App(c.ClientID); a != nil {
			row.App = appLabel(a)
		}
		d.Consents = append(d.Consents, row)
	}
	s.renderAccount(w, r, u, status, webui.Page{Name: "account.html", Title: webui.Msg("account.title"),
		Data: d, Error: errMsg, Notice: notice})
}

// languageName names a user's locale (BCP 47) in its own language when a
// catalog speaks it: "Deutsch (de-AT)"; other locales as they are
// written; "" for none.
func languageName(locale string) string {
	primary, _, _ := strings.Cut(strings.ToLower(locale), "-")
	name := map[string]string{"en": "English", "bg": "Български", "de": "Deutsch"}[primary]
	switch {
	case name == "":
		return locale
	case strings.EqualFold(locale, primary):
		return name
	}
	return name + " (" + locale + ")"
}

// handleRevokeConsent forgets one of the user's own consents: the app
// asks again at its next sign-in. Tokens it already holds stay until
// they end (revoking them is the tokens' own business).
func (s *Server) handleRevokeConsent(w http.ResponseWriter, r *http.Request) {
	a, ok := s.accountUser(w, r, accountPath)
	if !ok {
		return
	}
	u := a.user
	if status, msg := parseAccountForm(w, r); status != 0 {
		s.showAccount(w, r, u, status, msg, webui.Text{})
		return
	}
	clientID := r.PostForm.Get("client_id")
	// Looked up by the signed-in user: nobody revokes another's consent.
	c, err := s.cfg.Consents.Consent(r.Context(), u.Login, clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.showAccount(w, r, u, http.StatusNotFound, webui.Msg("account.consent.not_yours"), webui.Text{})
		return
	case err == nil:
		err = s.cfg.Consents.RevokeConsent(r.Context(), u.Login, clientID)
	}
	if err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "revoke consent", "err", err)
		s.showAccount(w, r, u, http.StatusServiceUnavailable, webui.Msg("error.try_again_shortly"), webui.Text{})
		return
	}
	s.cfg.Audit.Log(r.Context(), audit.Event{Name: audit.ConsentRevoked, ClientID: clientID, Subject: u.Login, Session: a.sess.ID,
		RequestID: requestid.From(r.Context()), RemoteAddr: r.RemoteAddr,
		Attrs: []slog.Attr{slog.String("by", "user"), slog.String("scopes", strings.Join(c.Scopes, " "))}})
	name := clientID
	if app := s.cfg.Directory.App(clientID); app != nil {
		name = appLabel(app)
	}
	s.showAccount(w, r, u, http.StatusOK, webui.Text{}, webui.Msg("account.consent.revoked", strings.TrimSpace(name)))
}
