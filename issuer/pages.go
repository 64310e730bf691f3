package issuer

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed web
var webFS embed.FS

var pages = template.Must(template.ParseFS(webFS, "web/*.html"))

// param is a hidden form field.
type param struct{ Name, Value string }

// page is what every template sees.
type page struct {
	Title   string
	Prefix  string
	AppName string
	Error   string
	Message string
	Code    string
	Login   string
	CSRF    string
	Params  []param
	// form_post
	Action string
	Nonce  string
	// Wide pages (tables) get a wider card.
	Wide bool
	// FormTargets are the origins, besides our own, that a form on the
	// page may reach, redirects included: the redirect URI a sign-in
	// answers to (see pageCSP).
	FormTargets []string
}

// securePageHeaders are set on every HTML page: no framing (clickjacking),
// no caching of pages that carry CSRF tokens or codes, no referrer leaking
// query strings, a CSP that allows our own stylesheet and forms only.
func securePageHeaders(h http.Header, csp string) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", csp)
}

// pageCSP is the Content-Security-Policy of a page whose forms may reach
// our own origin and the origins of formTargets. CSP3 §6.7.2.10 applies
// form-action to every redirect that follows a form submission too, so
// the login form, whose answer is a 302 to the app's redirect URI, must
// name that URI's origin: with 'self' alone Chromium aborts the redirect
// to any app on another origin. Only the origins of the request at hand
// are named, never all registered ones.
func pageCSP(formTargets ...string) string {
	formAction := "'self'"
	for _, t := range formTargets {
		if o := originOf(t); o != "'none'" && !strings.Contains(formAction, " "+o) {
			formAction += " " + o
		}
	}
	return "default-src 'none'; style-src 'self'; form-action " + formAction + "; frame-ancestors 'none'; base-uri 'none'"
}

// render writes a page with status.
func (s *Server) render(w http.ResponseWriter, status int, name string, p page) {
	p.Prefix = s.prefix
	s.renderData(w, status, name, p, p.FormTargets...)
}

// renderData writes template name with data, which embeds a page whose
// Prefix is set; its forms may reach formTargets (pageCSP).
func (s *Server) renderData(w http.ResponseWriter, status int, name string, data any, formTargets ...string) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.cfg.Logger.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	securePageHeaders(w.Header(), pageCSP(formTargets...))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage shows an error that must not be sent to the client's redirect
// URI (unknown client, unregistered redirect URI: RFC 6749 §4.1.2.1).
func (s *Server) errorPage(w http.ResponseWriter, status int, code, msg string) {
	s.render(w, status, "message.html", page{Title: "Sign-in failed", Error: msg, Code: code})
}

// renderFormPost answers with an auto-submitting form (OAuth 2.0 Form
// Post Response Mode); the CSP allows exactly that script and a form
// posting to the client's redirect URI.
func (s *Server) renderFormPost(w http.ResponseWriter, action string, params []param) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	nonce := base64.RawStdEncoding.EncodeToString(b[:])
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "form_post.html", page{Action: action, Params: params, Nonce: nonce}); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	securePageHeaders(w.Header(), "default-src 'none'; script-src 'nonce-"+nonce+"'; form-action "+originOf(action)+"; frame-ancestors 'none'; base-uri 'none'")
	_, _ = w.Write(buf.Bytes())
}

// staticFiles serves the stylesheet.
func staticFiles() http.Handler {
	sub, _ := fs.Sub(webFS, "web")
	fsrv := http.FileServer(http.FS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/style.css" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fsrv.ServeHTTP(w, r)
	})
}
