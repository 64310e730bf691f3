package issuer

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	// Revoking asks first: the list's Revoke button opens a page naming
	// the token (GET), whose confirmation alone revokes (POST).
	s.mux.HandleFunc("GET "+s.prefix+tokensPath+"/revoke", s.handleConfirmRevokeToken)
	s.mux.HandleFunc("POST "+s.prefix+tokensPath+"/revoke", s.handleRevokeToken)
}

// tokensPage is what web/tokens.html reads as .D.
type tokensPage struct {
	accountFrame
	Tokens   []tokenRow
	Apps     []tokenAppOption
	Scopes   []scopeBox
	Expiries []expiryOption
	// New is the token just created: its value is shown this once.
	New *newToken
	// Name and Description are the create form's, as posted after an
	// error; Errs ties its refusals to its fields.
	Name, Description string
	Errs              fieldErrors
	MaxName, MaxDesc  int
}

type tokenRow struct {
	ID, Name, Description, App, Scopes    string
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
	Value, ID, Name, App, Scopes, Expires string
}

// tokenForm is what the create form asked for, to fill it in again after
// an error.
type tokenForm struct {
	app, name, description string
	scopes                 []string
	days                   int
	errs                   fieldErrors
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
	f := tokenForm{app: r.PostForm.Get("app"), days: defaultExpiryDays,
		name: r.PostForm.Get("name"), description: r.PostForm.Get("description"), errs: fieldErrors{}}
	for _, sc := range r.PostForm["scope"] {
		if !slices.Contains(f.scopes, sc) {
			f.scopes = append(f.scopes, sc)
		}
	}
	fail := func(status int, msg webui.Text) {
		s.showTokens(w, r, u, status, tokensView{err: msg, form: &f})
	}
	days, err := strconv.Atoi(r.PostForm.Get("expires_days"))
	if err == nil && slices.Contains(tokenExpiryDays, days) {
		f.days = days // kept in the form even if something else is refused
	}
	// The name (required) and description, each refusal at its field.
	f.name, f.errs[fieldTokenName] = tokenText(f.name, reftoken.MaxNameLength, "tokens.error.name")
	f.description, f.errs[fieldTokenDescription] = tokenText(f.description, reftoken.MaxDescriptionLength, "tokens.error.description")
	if f.name == "" && f.errs[fieldTokenName].IsZero() {
		f.errs[fieldTokenName] = webui.Msg("tokens.error.name_missing")
	}
	maps.DeleteFunc(f.errs, func(_ string, t webui.Text) bool { return t.IsZero() })
	if len(f.errs) > 0 {
		fail(http.StatusBadRequest, webui.Msg("account.error.fields"))
		return
	}
	if !slices.Contains(tokenExpiryDays, days) {
		fail(http.StatusBadRequest, webui.Msg("tokens.error.expiry"))
		return
	}
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
		Name: f.name, Description: f.description,
	})
	if err != nil {
		status, msg := s.tokenError(r, "issue reference token", err)
		fail(status, webui.Msg("tokens.error.not_created", s.lang(r, u).Say(msg)))
		return
	}
	s.showTokens(w, r, u, http.StatusOK, tokensView{created: &newToken{
		Value: issued.Value, ID: issued.Token.ID, Name: issued.Token.Name, App: appLabel(app),
		Scopes: strings.Join(issued.Token.Scopes, " "), Expires: s.lang(r, u).Time(issued.Token.ExpiresAt),
	}})
}

// handleConfirmRevokeToken asks whether to revoke one of the user's own
// personal access tokens, naming it; the answer posts to
// handleRevokeToken. Nothing changes here.
func (s *Server) handleConfirmRevokeToken(w http.ResponseWriter, r *http.Request) {
	u, ok := s.tokensUser(w, r)
	if !ok {
		return
	}
	s.confirmRevoke(w, r, u, r.URL.Query().Get("id"))
}

// confirmRevoke shows the confirmation for the user's token id, or the
// list with why there is nothing to confirm.
func (s *Server) confirmRevoke(w http.ResponseWriter, r *http.Request, u *directory.User, id string) {
	t, status, msg := s.ownToken(r, u, id)
	switch {
	case status != http.StatusOK:
		s.showTokens(w, r, u, status, tokensView{err: msg})
		return
	case !t.RevokedAt.IsZero():
		s.showTokens(w, r, u, http.StatusOK, tokensView{msg: webui.Msg("tokens.revoked_before", tokenLabel(t))})
		return
	}
	d := revokeTokenPage{accountFrame: s.accountFrame(w, r, u, tokensPath), Token: s.tokenRow(t, s.cfg.Clock())}
	s.renderAccount(w, r, u, http.StatusOK, webui.Page{Name: "account_token_revoke.html", Title: webui.Msg("tokens.confirm.title"), Data: d})
}

// revokeTokenPage is what web/account_token_revoke.html reads as .D.
type revokeTokenPage struct {
	accountFrame
	Token tokenRow
}

// handleRevokeToken revokes one of the user's own personal access
// tokens once the confirmation page's form says confirm=yes; any other
// POST (an older page's Revoke button) is shown the confirmation.
func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	u, ok := s.tokensUser(w, r)
	if !ok {
		return
	}
	if !s.parseTokensForm(w, r, u) {
		return
	}
	id := r.PostForm.Get("id")
	if r.PostForm.Get("confirm") != "yes" {
		s.confirmRevoke(w, r, u, id)
		return
	}
	t, status, msg := s.ownToken(r, u, id)
	switch {
	case status != http.StatusOK:
		s.showTokens(w, r, u, status, tokensView{err: msg})
		return
	case !t.RevokedAt.IsZero():
		s.showTokens(w, r, u, http.StatusOK, tokensView{msg: webui.Msg("tokens.revoked_before", tokenLabel(t))})
		return
	}
	if _, err := s.cfg.ReferenceTokens.Revoke(r.Context(), id, u.Login); err != nil {
		status, msg := s.tokenError(r, "revoke reference token", err)
		s.showTokens(w, r, u, status, tokensView{err: webui.Msg("tokens.error.not_revoked", s.lang(r, u).Say(msg))})
		return
	}
	s.showTokens(w, r, u, http.StatusOK, tokensView{msg: webui.Msg("tokens.revoked", tokenLabel(t))})
}

// ownToken finds id among u's own personal access tokens; otherwise the
// status and words to answer with.
func (s *Server) ownToken(r *http.Request, u *directory.User, id string) (store.ReferenceToken, int, webui.Text) {
	mine, err := s.ownTokens(r.Context(), u)
	if err != nil {
		status, msg := s.tokenError(r, "list reference tokens", err)
		return store.ReferenceToken{}, status, msg
	}
	i := slices.IndexFunc(mine, func(t store.ReferenceToken) bool { return t.ID == id })
	if i < 0 {
		// Only the user's own tokens, even for administrators: theirs
		// are revoked through the admin API or the CLI.
		return store.ReferenceToken{}, http.StatusNotFound, webui.Msg("tokens.error.not_yours")
	}
	return mine[i], http.StatusOK, webui.Text{}
}

// tokenLabel names a token in a sentence: its name and id, or the id.
func tokenLabel(t store.ReferenceToken) string {
	if t.Name == "" {
		return t.ID
	}
	return "“" + t.Name + "” (" + t.ID + ")"
}

// Field ids of the create form's name and description.
const (
	fieldTokenName        = "token-name"
	fieldTokenDescription = "token-description"
)

// tokenText trims a token's name or description and checks it against
// the service's rules (reftoken.CheckText), in words: keyPrefix +
// ".too_long" or ".text".
func tokenText(v string, max int, keyPrefix string) (string, webui.Text) {
	v, err := reftoken.CheckText("", v, max)
	switch {
	case err == nil:
		return v, webui.Text{}
	case utf8.RuneCountInString(v) > max:
		return v, webui.Msg(keyPrefix+"_too_long", max)
	}
	return v, webui.Msg(keyPrefix + "_text")
}

// parseTokensForm reads a POST of the page as every account page does
// (parseAccountForm); on failure it has answered.
func (s *Server) parseTokensForm(w http.ResponseWriter, r *http.Request, u *directory.User) bool {
	if status, msg := parseAccountForm(w, r); status != 0 { // account.go
		s.showTokens(w, r, u, status, tokensView{err: msg})
		return false
	}
	return true
}

// tokensUser returns the user of the request's identity session. Without
// one it sends the browser to sign in (or says how) and returns false.
func (s *Server) tokensUser(w http.ResponseWriter, r *http.Request) (*directory.User, bool) {
	a, ok := s.accountUser(w, r, tokensPath)
	return a.user, ok
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
		accountFrame: s.accountFrame(w, r, u, tokensPath),
		New:          v.created,
		MaxName:      reftoken.MaxNameLength, MaxDesc: reftoken.MaxDescriptionLength,
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
	p.Name, p.Description, p.Errs = f.name, f.description, f.errs
	apps := s.tokenApps(u)
	if v.form == nil && len(apps) > 0 {
		// A fresh form: the first app, with its read scope when it has
		// one, else its first (apps offered have at least one).
		f.app, f.scopes = apps[0].ID, []string{apps[0].Scopes[0]}
		if slices.Contains(apps[0].Scopes, "read") {
			f.scopes = []string{"read"}
		}
	}
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
	s.renderAccount(w, r, u, status, webui.Page{Name: "tokens.html", Title: webui.Msg("tokens.title"),
		Data: p, Error: v.err, Notice: v.msg, Script: true})
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
		ID: t.ID, Name: t.Name, Description: t.Description, App: t.ClientID, Scopes: strings.Join(t.Scopes, " "),
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
