package webui

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// SecureHeaders are set on every page: no framing (clickjacking), no
// caching of pages that carry CSRF tokens or codes, no referrer leaking
// query strings, and csp.
func SecureHeaders(h http.Header, csp string) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", csp)
}

// CSPOptions say what a page needs beyond our own styles and images.
type CSPOptions struct {
	// FormTargets are URLs whose origins the page's forms may reach.
	FormTargets []string
	// Script allows our own scripts ('self': copy.js).
	Script bool
	// ScriptNonce allows the one inline script with this nonce (the
	// form_post page).
	ScriptNonce string
	// NoSelfForms leaves our own origin out of form-action (the
	// form_post page posts only to the client).
	NoSelfForms bool
}

// CSP is the Content-Security-Policy of a page.
//
// CSP3 §6.7.2.10 applies form-action to every redirect that follows a
// form submission too: a login form whose answer is a 302 to an app on
// another origin must name that origin, or Chromium aborts the
// redirect. Only the origins of the request at hand are named, never
// every registered one.
func CSP(o CSPOptions) string {
	var formAction []string
	if !o.NoSelfForms {
		formAction = append(formAction, "'self'")
	}
	for _, t := range o.FormTargets {
		if src := Origin(t); src != "" && !slices.Contains(formAction, src) {
			formAction = append(formAction, src)
		}
	}
	if len(formAction) == 0 {
		formAction = []string{"'none'"}
	}
	script := ""
	switch {
	case o.ScriptNonce != "":
		script = "script-src 'nonce-" + o.ScriptNonce + "'; "
	case o.Script:
		script = "script-src 'self'; "
	}
	return "default-src 'none'; " + script + "style-src 'self'; img-src 'self'; form-action " +
		strings.Join(formAction, " ") + "; frame-ancestors 'none'; base-uri 'none'"
}

// Origin is scheme://host[:port] of an absolute http(s) URL, as a CSP
// source expression; "" for anything else (which no CSP then allows).
func Origin(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		strings.ContainsAny(u.Host, " ;,'\"") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
