package issuer

import (
	"cmp"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/webui"
)

// The account page (SPEC §10): the signed-in user's profile, the
// consents they gave, and the way to their access tokens.
func (s *Server) routeAccount() {
	s.mux.HandleFunc("GET "+s.prefix+accountPath, s.handleAccount)
	s.mux.HandleFunc("POST "+s.prefix+accountPath+"/consents/revoke", s.handleRevokeConsent)
}

// accountData is what web/account.html reads as .D.
type accountData struct {
	pageData
	User     *directory.User
	Type     webui.Text
	Consents []consentRow
	// Tokens links the access-token page when reference tokens are on.
	Tokens string
}

type consentRow struct {
	ClientID, App string
	Scopes        []string
	GrantedAt     time.Time
}

// handleAccount shows the account page.
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) {
	u, ok := s.accountUser(w, r, accountPath) // account_tokens.go
	if !ok {
		return
	}
	s.showAccount(w, r, u, http.StatusOK, webui.Text{}, webui.Text{})
}

func (s *Server) showAccount(w http.ResponseWriter, r *http.Request, u *directory.User, status int, errMsg, notice webui.Text) {
	d := accountData{pageData: pageData{Prefix: s.prefix, Login: u.Login, CSRF: s.csrfToken(w, r)}, User: u,
		Type: webui.Msg("account.type." + cmp.Or(u.Type, directory.TypeInternal))}
	if s.cfg.ReferenceTokens != nil {
		d.Tokens = s.prefix + tokensPath
	}
	consents, err := s.cfg.Grants.ConsentsOf(r.Context(), u.Login)
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
	s.cfg.Pages.Render(w, r, pages, status, webui.Page{Name: "account.html", Title: webui.Msg("account.title"),
		Lang: s.lang(r, u), Data: d, Error: errMsg, Notice: notice})
}

// handleRevokeConsent forgets one of the user's own consents: the app
// asks again at its next sign-in. Tokens it already holds stay until
// they end (revoking them is the tokens' own business).
func (s *Server) handleRevokeConsent(w http.ResponseWriter, r *http.Request) {
	u, ok := s.accountUser(w, r, accountPath)
	if !ok {
		return
	}
	if err := parseForm(w, r); err != nil { // token.go: bounded, under a read deadline
		s.showAccount(w, r, u, err.Status, webui.Msg("error.malformed"), webui.Text{})
		return
	}
	if !csrfValid(r) {
		s.showAccount(w, r, u, http.StatusForbidden, webui.Msg("error.form_expired"), webui.Text{})
		return
	}
	clientID := r.PostForm.Get("client_id")
	// Keyed by the signed-in user: nobody revokes another's consent.
	if err := s.cfg.Grants.RevokeConsent(r.Context(), u.Login, clientID); err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "revoke consent", "err", err)
		s.showAccount(w, r, u, http.StatusServiceUnavailable, webui.Msg("error.try_again_shortly"), webui.Text{})
		return
	}
	s.cfg.Audit.Log(r.Context(), audit.Event{Name: audit.ConsentRevoked, ClientID: clientID, Subject: u.Login,
		RequestID: requestid.From(r.Context()), RemoteAddr: r.RemoteAddr,
		Attrs: []slog.Attr{slog.String("by", "user")}})
	name := clientID
	if a := s.cfg.Directory.App(clientID); a != nil {
		name = appLabel(a)
	}
	s.showAccount(w, r, u, http.StatusOK, webui.Text{}, webui.Msg("account.consent.revoked", strings.TrimSpace(name)))
}
