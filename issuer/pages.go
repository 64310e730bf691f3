package issuer

import (
	"embed"
	"net/http"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/webui"
)

//go:embed web/*.html
var webFS embed.FS

// pages are the identity server's own pages, in the kit's layout.
var pages = webui.MustParse(webFS, "web/*.html")

// param is a hidden form field, or a parameter of a redirect.
type param struct{ Name, Value string }

// staticPath is where the kit's stylesheets, script and logo are served,
// under the issuer's prefix.
const staticPath = "/account/static"

// pageData is what the identity server's templates read as .D.
type pageData struct {
	Prefix  string
	AppName string
	Login   string
	CSRF    string
	Params  []param
	// Code is the OAuth error code an error page names, for whoever
	// reports the problem.
	Code string
	// Detail is the technical reason, in English, on error pages.
	Detail string
	// Next is a link to go on with, and its words.
	Next     string
	NextText webui.Text
	// Invalid marks the form's fields as the cause of Error.
	Invalid bool
}

// lang is the language of a page for r: the authorization request's
// ui_locales, then the signed-in user's locale, then Accept-Language.
func (s *Server) lang(r *http.Request, u *directory.User) *webui.Lang {
	locale := ""
	if u != nil {
		locale = u.Locale
	}
	return s.cfg.Pages.Language(r, r.Form.Get("ui_locales"), locale)
}

// render writes one of the identity server's pages.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, p webui.Page) {
	if d, ok := p.Data.(pageData); ok {
		d.Prefix = s.prefix
		p.Data = d
	} else if p.Data == nil {
		p.Data = pageData{Prefix: s.prefix}
	}
	if p.Lang == nil {
		p.Lang = s.lang(r, nil)
	}
	s.cfg.Pages.Render(w, r, pages, status, p)
}

// message renders the message page: a title, a text and an optional link
// to go on with.
func (s *Server) message(w http.ResponseWriter, r *http.Request, status int, title, text webui.Text, d pageData) {
	s.render(w, r, status, webui.Page{Name: "message.html", Title: title, Notice: text, Data: d})
}

// errorPage shows an error that must not be sent to the client's redirect
// URI (unknown client, unregistered redirect URI: RFC 6749 §4.1.2.1). The
// person reads what happened in their language; the OAuth code and the
// technical detail are shown for whoever reports it.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, code, detail string) {
	s.render(w, r, status, webui.Page{Name: "message.html", Title: webui.Msg("error.signin_failed.title"),
		Error: webui.Msg(errorTextKey(code)), Data: pageData{Code: code, Detail: detail}})
}

// parsePageForm parses the parameters of a request to a page within
// parseForm's bounds; when they cannot be read it shows the error page
// and returns false.
func (s *Server) parsePageForm(w http.ResponseWriter, r *http.Request) bool {
	if err := parseForm(w, r); err != nil { // token.go: bounded, under a read deadline
		s.errorPage(w, r, err.Status, err.Code, "The request is malformed: "+err.Description+".")
		return false
	}
	return true
}

// errorTextKey is the catalog key saying an OAuth error code in words.
func errorTextKey(code string) string {
	switch code {
	case "unauthorized_client", "invalid_request", "temporarily_unavailable", "access_denied":
		return "error.oauth." + code
	}
	return "error.oauth.other"
}

// renderFormPost answers with the auto-submitting form of the Form Post
// Response Mode.
func (s *Server) renderFormPost(w http.ResponseWriter, r *http.Request, action string, params []param) {
	fields := make([]webui.Field, len(params))
	for i, p := range params {
		fields[i] = webui.Field(p)
	}
	s.cfg.Pages.RenderFormPost(w, r, s.lang(r, nil), action, fields)
}

// accountPath is the account page (SPEC §10), under the issuer's prefix.
const accountPath = "/account"
