package issuer

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/webui"
)

// ReferenceTokens issues, lists and revokes reference tokens
// (*reftoken.Service); the self-service page for personal access tokens
// uses it. The service checks every app policy itself and writes the
// audit lines.
type ReferenceTokens interface {
	Issue(ctx context.Context, req reftoken.IssueRequest) (reftoken.Issued, error)
	List(ctx context.Context, subject string) ([]store.ReferenceToken, error)
	Revoke(ctx context.Context, id, actor string) (store.ReferenceToken, error)
	// Inspect checks a token without counting it as a use (introspection).
	Inspect(ctx context.Context, value string) (*claims.Access, store.ReferenceToken, error)
}

var _ ReferenceTokens = (*reftoken.Service)(nil)

// tokensPath is the self-service page for personal access tokens (SPEC
// §6), under the issuer's prefix.
const tokensPath = "/account/tokens"

// tokenExpiryDays are the lifetimes the page offers; the first
// defaultExpiryDays is preselected.
var tokenExpiryDays = []int{7, 30, 90, 365}

const defaultExpiryDays = 30

// routeAccountTokens serves the tokens page when a reference-token
// service is configured; without one the paths answer 404.
func (s *Server) routeAccountTokens() {
	if s.cfg.ReferenceTokens == nil {
		return
	}
	s.mux.HandleFunc("GET "+s.prefix+tokensPath, s.handleTokensPage)
	s.mux.HandleFunc("POST "+s.prefix+tokensPath, s.handleCreateToken)
	s.mux.HandleFunc("POST "+s.prefix+tokensPath+"/revoke", s.handleRevokeToken)
}

// tokensPage is what web/tokens.html reads as .D.
type tokensPage struct {
	pageData
	UserName string
	Tokens   []tokenRow
	Apps     []tokenAppOption
	Scopes   []scopeBox
	Expiries []expiryOption
	// New is the token just created: its value is shown this once.
	New *newToken
}

type tokenRow struct {
	ID, App, Scopes                       string
	Created, Expires, LastUsed, RevokedAt time.Time
	CreatedISO, ExpiresISO, LastUsedISO   string
	Status                                string // active, expired or revoked
	Active                                bool
}

type tokenAppOption struct {
	ID, Label string
	Selected  bool
}

type scopeBox struct {
	Name    string
	Checked bool
}

type expiryOption struct {
	Days     int
	Selected bool
}

type newToken struct {
	Value, ID, App, Scopes, Expires string
}

// tokenForm is what the create form asked for, to fill it in again after
// an error.
type tokenForm struct {
	app    string
	scopes []string
	days   int
}

// handleTokensPage shows the signed-in user's personal access tokens and
// the form to create one.
func (s *Server) handleTokensPage(w http.ResponseWriter, r *http.Request) {
	u, ok := s.tokensUser(w, r)
	if !ok {
		return
	}
	s.showTokens(w, r, u, http.StatusOK, tokensView{})
}

// handleCreateToken issues a personal access token and shows its value
// once, in this response (never in a URL, never again).
func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	u, ok := s.tokensUser(w, r)
	if !ok {
		return
	}
	if !s.parseTokensForm(w, r, u) {
		return
	}
	f := tokenForm{app: r.PostForm.Get("app"), days: defaultExpiryDays}
	for _, sc := range r.PostForm["scope"] {
		if !slices.Contains(f.scopes, sc) {
			f.scopes = append(f.scopes, sc)
		}
	}
	fail := func(status int, msg webui.Text) {
		s.showTokens(w, r, u, status, tokensView{err: msg, form: &f})
	}
	days, err := strconv.Atoi(r.PostForm.Get("expires_days"))
	if err != nil || !slices.Contains(tokenExpiryDays, days) {
		fail(http.StatusBadRequest, webui.Msg("tokens.error.expiry"))
		return
	}
	f.days = days
	app := s.cfg.Directory.App(f.app)
	if app == nil || !tokenAppAllowed(u, app) {
		fail(http.StatusForbidden, webui.Msg("tokens.error.app"))
		return
	}
	if len(f.scopes) == 0 {
		fail(http.StatusBadRequest, webui.Msg("tokens.error.no_scope"))
		return
	}
	for _, sc := range f.scopes {
		if !slices.Contains(app.Scopes, sc) {
			fail(http.StatusBadRequest, webui.Msg("tokens.error.scope", sc, appLabel(app)))
			return
		}
	}
	issued, err := s.cfg.ReferenceTokens.Issue(r.Context(), reftoken.IssueRequest{
		Type: store.PersonalAccessToken, ClientID: app.ID, Subject: u.Login,
		Scopes: f.scopes, ExpiresIn: time.Duration(days) * 24 * time.Hour, Actor: u.Login,
	})
	if err != nil {
		status, msg := s.tokenError(r, "issue reference token", err)
		fail(status, webui.Msg("tokens.error.not_created", s.lang(r, u).Say(msg)))
		return
	}
	s.showTokens(w, r, u, http.StatusOK, tokensView{created: &newToken{
		Value: issued.Value, ID: issued.Token.ID, App: appLabel(app),
		Scopes: strings.Join(issued.Token.Scopes, " "), Expires: s.lang(r, u).Time(issued.Token.ExpiresAt),
	}})
}

// handleRevokeToken revokes one of the user's own personal access tokens.
func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	u, ok := s.tokensUser(w, r)
	if !ok {
		return
	}
	if !s.parseTokensForm(w, r, u) {
		return
	}
	id := r.PostForm.Get("id")
	mine, err := s.ownTokens(r.Context(), u)
	if err != nil {
		status, msg := s.tokenError(r, "list reference tokens", err)
		s.showTokens(w, r, u, status, tokensView{err: msg})
		return
	}
	i := slices.IndexFunc(mine, func(t store.ReferenceToken) bool { return t.ID == id })
	switch {
	case i < 0:
		// Only the user's own tokens, even for administrators: theirs
		// are revoked through the admin API or the CLI.
		s.showTokens(w, r, u, http.StatusNotFound, tokensView{err: webui.Msg("tokens.error.not_yours")})
		return
	case !mine[i].RevokedAt.IsZero():
		s.showTokens(w, r, u, http.StatusOK, tokensView{msg: webui.Msg("tokens.revoked_before", id)})
		return
	}
	if _, err := s.cfg.ReferenceTokens.Revoke(r.Context(), id, u.Login); err != nil {
		status, msg := s.tokenError(r, "revoke reference token", err)
		s.showTokens(w, r, u, status, tokensView{err: webui.Msg("tokens.error.not_revoked", s.lang(r, u).Say(msg))})
		return
	}
	s.showTokens(w, r, u, http.StatusOK, tokensView{msg: webui.Msg("tokens.revoked", id)})
}

// parseTokensForm reads a POST of the page and checks its anti-forgery
// token; on failure it has answered.
func (s *Server) parseTokensForm(w http.ResponseWriter, r *http.Request, u *directory.User) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.showTokens(w, r, u, http.StatusBadRequest, tokensView{err: webui.Msg("error.malformed")})
		return false
	}
	if !csrfValid(r) {
		s.showTokens(w, r, u, http.StatusForbidden, tokensView{err: webui.Msg("error.form_expired")})
		return false
	}
	return true
}

// tokensUser returns the user of the request's identity session. Without
// one it sends the browser to sign in (or says how) and returns false.
func (s *Server) tokensUser(w http.ResponseWriter, r *http.Request) (*directory.User, bool) {
	return s.accountUser(w, r, tokensPath)
}

// accountUser returns the user of the request's identity session for an
// account page at path. Without one it sends the browser to sign in and
// come back to path (or says how) and returns false.
func (s *Server) accountUser(w http.ResponseWriter, r *http.Request, path string) (*directory.User, bool) {
	if sess, ok := s.currentIdentity(r); ok {
		if u := s.cfg.Directory.User(sess.Subject); u != nil && u.Type != "system" {
			return u, true
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
		return nil, false
	}
	s.message(w, r, http.StatusForbidden, webui.Msg("account.sign_in_first.title"), webui.Msg("account.sign_in_first.text"), pageData{})
	return nil, false
}

// tokensView is what one answer adds to the page.
type tokensView struct {
	err, msg webui.Text
	form     *tokenForm // the create form as posted, after an error
	created  *newToken
}

// showTokens renders the page for u.
func (s *Server) showTokens(w http.ResponseWriter, r *http.Request, u *directory.User, status int, v tokensView) {
	p := tokensPage{
		pageData: pageData{Prefix: s.prefix, CSRF: s.csrfToken(w, r), Login: u.Login},
		UserName: cmp.Or(u.Name, u.Login),
		New:      v.created,
	}
	mine, err := s.ownTokens(r.Context(), u)
	if err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "list reference tokens", "err", err)
		if v.err.IsZero() {
			v.err = webui.Msg("tokens.error.list")
			status = http.StatusServiceUnavailable
		}
	}
	now := s.cfg.Clock()
	for _, t := range slices.Backward(mine) { // newest first
		p.Tokens = append(p.Tokens, s.tokenRow(t, now))
	}
	f := tokenForm{days: defaultExpiryDays}
	if v.form != nil {
		f = *v.form
	}
	apps := s.tokenApps(u)
	for _, a := range apps {
		p.Apps = append(p.Apps, tokenAppOption{ID: a.ID, Label: appLabel(a) + " — " + strings.Join(a.Scopes, ", "), Selected: a.ID == f.app})
		for _, sc := range a.Scopes {
			if !slices.ContainsFunc(p.Scopes, func(b scopeBox) bool { return b.Name == sc }) {
				p.Scopes = append(p.Scopes, scopeBox{Name: sc, Checked: slices.Contains(f.scopes, sc)})
			}
		}
	}
	for _, d := range tokenExpiryDays {
		p.Expiries = append(p.Expiries, expiryOption{Days: d, Selected: d == f.days})
	}
	s.cfg.Pages.Render(w, r, pages, status, webui.Page{Name: "tokens.html", Title: webui.Msg("tokens.title"),
		Lang: s.lang(r, u), Data: p, Error: v.err, Notice: v.msg, Wide: true, Script: true})
}

// ownTokens lists u's personal access tokens, oldest first.
func (s *Server) ownTokens(ctx context.Context, u *directory.User) ([]store.ReferenceToken, error) {
	all, err := s.cfg.ReferenceTokens.List(ctx, u.Login)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(t store.ReferenceToken) bool {
		return t.Type != store.PersonalAccessToken || t.Subject != u.Login
	}), nil
}

// tokenRow is what the page shows of a token: never its value or hash.
func (s *Server) tokenRow(t store.ReferenceToken, now time.Time) tokenRow {
	row := tokenRow{
		ID: t.ID, App: t.ClientID, Scopes: strings.Join(t.Scopes, " "),
		Created: t.CreatedAt, CreatedISO: isoTime(t.CreatedAt),
		Expires: t.ExpiresAt, ExpiresISO: isoTime(t.ExpiresAt),
	}
	if a := s.cfg.Directory.App(t.ClientID); a != nil {
		row.App = appLabel(a)
	}
	if !t.LastUsedAt.IsZero() {
		row.LastUsed, row.LastUsedISO = t.LastUsedAt, isoTime(t.LastUsedAt)
	}
	switch {
	case !t.RevokedAt.IsZero():
		row.Status, row.RevokedAt = "revoked", t.RevokedAt
	case !now.Before(t.ExpiresAt):
		row.Status = "expired"
	default:
		row.Status, row.Active = "active", true
	}
	return row
}

// tokenApps are the apps u may create personal access tokens for, by
// label.
func (s *Server) tokenApps(u *directory.User) []*directory.App {
	var out []*directory.App
	for _, a := range s.cfg.Directory.Apps() {
		if tokenAppAllowed(u, a) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b *directory.App) int {
		return cmp.Or(cmp.Compare(appLabel(a), appLabel(b)), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// tokenAppAllowed mirrors the reference-token service's rules for a
// personal token a user asks for themselves (the service checks them
// again): the app is enabled, its policy lets u have one, and u's type
// may use it.
func tokenAppAllowed(u *directory.User, a *directory.App) bool {
	if !a.Enabled || len(a.Scopes) == 0 || !userMayUse(u, a).IsZero() {
		return false
	}
	switch a.ReferenceTokens {
	case reftoken.PolicyAuthenticatedUsers:
		return true
	case reftoken.PolicyAdministratorsOnly:
		return u.Admin
	}
	return false
}

// tokenError turns a reference-token service error into a status and
// words for the page; unexpected errors are logged, not shown. The
// service's own reasons are English sentences for operators, so the page
// says the kind of refusal in the user's language.
func (s *Server) tokenError(r *http.Request, what string, err error) (int, webui.Text) {
	for _, k := range []struct {
		err    error
		status int
	}{{reftoken.ErrNotAllowed, http.StatusForbidden}, {reftoken.ErrBadRequest, http.StatusBadRequest}} {
		if errors.Is(err, k.err) {
			detail, _ := strings.CutPrefix(err.Error(), k.err.Error()+": ")
			return k.status, webui.Msg("tokens.error.refused", upperFirst(detail))
		}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, webui.Msg("tokens.error.no_such")
	}
	s.cfg.Logger.ErrorContext(r.Context(), what, "err", err)
	return http.StatusServiceUnavailable, webui.Msg("error.try_again_shortly")
}

// upperFirst starts the service's reason (English, for operators too)
// with a capital, as a sentence on the page.
func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func appLabel(a *directory.App) string { return cmp.Or(a.Name, a.ID) }

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
