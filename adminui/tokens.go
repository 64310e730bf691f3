package adminui

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/webui"
)

// The reference tokens page (SPEC §6): the tokens by app or user, issue
// one (its value shown once), revoke one. Issue and revoke go through
// the reference-token service with the administrator as actor, which
// checks the app's policy and audits, as the admin API does.

// tokensData is what web/tokens.html reads as .D.
type tokensData struct {
	frame
	// App and User filter the list (exact match; "" for all).
	App, User string
	Tokens    []tokenRow
	// New is the token just issued, shown once.
	New  *newToken
	Form tokenForm
	// Types, Expiries are the form's options.
	Types    []string
	Expiries []int
}

type tokenRow struct {
	ID, Type, ClientID, Subject, Scope, Name, Description, State, CreatedBy string
	Created, Expires, LastUsed                                              time.Time
	CreatedISO, ExpiresISO, LastUsedISO                                     string
	Active                                                                  bool
	StateKey                                                                string // a catalog key for State, "" to show it as it is
}

type newToken struct {
	Value, ID, ClientID, Subject, Scope string
	Expires                             time.Time
}

// tokenForm is the issue form, as typed.
type tokenForm struct {
	Type, App, User, Scope, Name, Description string
	Days                                      int
	Errs                                      fieldErrors
}

// fieldErrors are a form's refusals under the id of the field each is
// about (aria-invalid, aria-describedby="<id>-error").
type fieldErrors map[string]webui.Text

// Has reports whether field was refused.
func (e fieldErrors) Has(field string) bool { _, ok := e[field]; return ok }

// Of is why field was refused.
func (e fieldErrors) Of(field string) webui.Text { return e[field] }

var tokenExpiries = []int{7, 30, 90, 365}

// stateKeys are the catalog keys of the states the account page names.
var stateKeys = map[string]string{
	reftoken.StateActive: "tokens.status.active", reftoken.StateRevoked: "tokens.status.revoked", reftoken.StateExpired: "tokens.status.expired",
}

func (c *Console) tokensData(r *http.Request, q *req, app, user string) (tokensData, error) {
	d := tokensData{frame: c.frame(q, "/tokens"), App: app, User: user,
		Types: []string{store.ServiceAccessToken, store.PersonalAccessToken}, Expiries: tokenExpiries,
		Form: tokenForm{Type: store.ServiceAccessToken, Days: 30, App: app, User: user}}
	list, err := c.cfg.Tokens.List(r.Context(), user)
	if err != nil {
		return d, err
	}
	for _, t := range list {
		if app != "" && t.ClientID != app {
			continue
		}
		st := c.cfg.Tokens.State(t)
		d.Tokens = append(d.Tokens, tokenRow{
			ID: t.ID, Type: t.Type, ClientID: t.ClientID, Subject: t.Subject, Scope: strings.Join(t.Scopes, " "),
			Name: t.Name, Description: t.Description, State: st, StateKey: stateKeys[st], CreatedBy: t.CreatedBy,
			Created: t.CreatedAt, Expires: t.ExpiresAt, LastUsed: t.LastUsedAt,
			CreatedISO: isoTime(t.CreatedAt), ExpiresISO: isoTime(t.ExpiresAt), LastUsedISO: isoTime(t.LastUsedAt),
			Active: t.RevokedAt.IsZero(),
		})
	}
	return d, nil
}

// handleTokens lists reference tokens, by app or user.
func (c *Console) handleTokens(w http.ResponseWriter, r *http.Request, q *req) {
	f := r.URL.Query()
	d, err := c.tokensData(r, q, strings.TrimSpace(f.Get("app")), strings.TrimSpace(f.Get("user")))
	if err != nil {
		c.failed(w, r, q, "list tokens", err)
		return
	}
	c.render(w, r, q, http.StatusOK, webui.Page{Name: "tokens.html", Title: webui.Msg("console.tokens.title"), Data: d, Notice: notice(r)})
}

// handleIssueToken issues a reference token as POST /admin/tokens does;
// the value is shown on the answer, once.
func (c *Console) handleIssueToken(w http.ResponseWriter, r *http.Request, q *req) {
	p := r.PostForm
	form := tokenForm{Type: p.Get("type"), App: strings.TrimSpace(p.Get("app")), User: strings.TrimSpace(p.Get("user")),
		Scope: strings.TrimSpace(p.Get("scope")), Name: p.Get("name"), Description: p.Get("description"), Errs: fieldErrors{}}
	days, err := strconv.Atoi(p.Get("expires_days"))
	if err != nil || days < 1 || days > 3650 {
		form.Errs["token-days"] = webui.Msg("console.tokens.bad_days")
	}
	form.Days = days
	if form.App == "" {
		form.Errs["token-app"] = webui.Msg("console.field.required")
	}
	if form.Type == store.PersonalAccessToken && form.User == "" {
		form.Errs["token-user"] = webui.Msg("console.tokens.user_required")
	}
	var issued reftoken.Issued
	if len(form.Errs) == 0 {
		subject := form.User
		if form.Type != store.PersonalAccessToken {
			subject = "" // a SAT acts as the app's system user
		}
		issued, err = c.cfg.Tokens.Issue(r.Context(), reftoken.IssueRequest{
			Type: form.Type, ClientID: form.App, Subject: subject, Scopes: strings.Fields(form.Scope),
			ExpiresIn: time.Duration(days) * 24 * time.Hour, Actor: q.caller.Subject, Name: form.Name, Description: form.Description,
		})
		switch {
		case err == nil:
		case errors.Is(err, reftoken.ErrBadRequest), errors.Is(err, reftoken.ErrNotAllowed):
			form.Errs["token-form"] = webui.Msg("console.tokens.refused", err.Error())
		default:
			c.failed(w, r, q, "issue a token", err)
			return
		}
	}
	d, lerr := c.tokensData(r, q, "", "")
	if lerr != nil {
		c.failed(w, r, q, "list tokens", lerr)
		return
	}
	if len(form.Errs) > 0 {
		d.Form = form
		c.render(w, r, q, http.StatusBadRequest, webui.Page{Name: "tokens.html", Title: webui.Msg("console.tokens.title"), Data: d,
			Error: webui.Msg("console.form.invalid")})
		return
	}
	t := issued.Token
	d.New = &newToken{Value: issued.Value, ID: t.ID, ClientID: t.ClientID, Subject: t.Subject, Scope: strings.Join(t.Scopes, " "), Expires: t.ExpiresAt}
	c.render(w, r, q, http.StatusCreated, webui.Page{Name: "tokens.html", Title: webui.Msg("console.tokens.title"), Data: d,
		Notice: webui.Msg("console.tokens.issued"), Script: true})
}

// handleRevokeToken revokes a reference token as DELETE
// /admin/tokens/{id} does: refused at once here, within a second on
// every replica.
func (c *Console) handleRevokeToken(w http.ResponseWriter, r *http.Request, q *req) {
	_, err := c.cfg.Tokens.Revoke(r.Context(), r.PostForm.Get("id"), q.caller.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		c.message(w, r, q, http.StatusNotFound, webui.Msg("console.tokens.title"), webui.Msg("console.tokens.gone"))
		return
	case errors.Is(err, reftoken.ErrNotAllowed):
		c.message(w, r, q, http.StatusForbidden, webui.Msg("console.tokens.title"), webui.Msg("console.tokens.refused", err.Error()))
		return
	case err != nil:
		c.failed(w, r, q, "revoke a token", err)
		return
	}
	back := "/tokens"
	if v := filterQuery(r, "app", "user"); v != "" {
		back += "?" + v
	}
	c.done(w, r, back, "token_revoked")
}
