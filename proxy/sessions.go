package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/policy"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/session"
)

// Sessions opens or reuses the ERP session of a verified token, taking a
// license slot on its first call (SPEC §5). *session.Manager implements it.
type Sessions interface {
	Acquire(ctx context.Context, c *claims.Access) (session.Info, error)
}

var _ Sessions = (*session.Manager)(nil)

// Reasons of session refusals in auth_decisions_total and access.denied.
const (
	// ReasonLicenseExhausted is ERP.net's error code for a full license.
	ReasonLicenseExhausted = "MaximumLicenseCountExceeded"
	ReasonSessionEnded     = "session_ended"
	reasonNoSession        = "invalid_token"
	reasonSessionStore     = "session_unavailable"
)

// acquireSession takes the caller's session and license slot when the
// proxy keeps sessions. It answers the request itself and returns false
// when the call may not go on.
func (p *Proxy) acquireSession(w http.ResponseWriter, r *http.Request, rt *route, c *claims.Access) bool {
	if p.cfg.Sessions == nil {
		return true
	}
	ctx := r.Context()
	_, err := p.cfg.Sessions.Acquire(ctx, c)
	if err == nil {
		return true
	}
	deny := func(reason, detail string) {
		p.denyClaims(ctx, r, rt, policy.Decision{Reason: reason, Detail: detail},
			c.ClientID, c.Principal(), c.SessionID)
	}
	switch {
	case errors.Is(err, session.ErrLicenseExhausted):
		deny(ReasonLicenseExhausted, "every license slot is held by an open session")
		licenseExhausted(w, r)
	case errors.Is(err, session.ErrEnded):
		deny(ReasonSessionEnded, "the token's session was ended by logout or an administrator")
		p.refuseToken(w, r) // a browser session: log in again (browser.go)
	case errors.Is(err, session.ErrNoSession):
		deny(reasonNoSession, "the token has no sid")
		invalidToken(w)
	default:
		p.cfg.Logger.ErrorContext(ctx, "session store failed", "route", rt.name, "err", err,
			"request_id", requestid.From(ctx))
		deny(reasonSessionStore, "the session store could not be reached")
		w.Header().Set("Retry-After", "1")
		writeJSONError(w, http.StatusServiceUnavailable, errorBody{
			Error:       "temporarily_unavailable",
			Description: "sessions cannot be checked right now; try again shortly",
		})
	}
	return false
}

// licenseExhausted answers 403 MaximumLicenseCountExceeded (SPEC §4): JSON
// for API clients, a page that says so in words for browsers.
func licenseExhausted(w http.ResponseWriter, r *http.Request) {
	if acceptsHTML(r) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, licensePage)
		return
	}
	writeJSONError(w, http.StatusForbidden, errorBody{
		Error: ReasonLicenseExhausted,
		Description: "all licenses are in use: every license slot is held by an open session; " +
			"try again when a session ends, or ask an administrator to end one",
	})
}

// acceptsHTML reports whether Accept names text/html (or XHTML) as
// acceptable: a browser, which gets a page rather than JSON.
func acceptsHTML(r *http.Request) bool {
	html, _ := acceptQ(r) // browser.go
	return html > 0
}

const licensePage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>All licenses are in use</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}</style>
</head>
<body>
<h1>All licenses are in use</h1>
<p>Every license of this ERP system is taken by a user who is signed in right now, so a new session cannot be opened.</p>
<p>Please try again in a few minutes: a license is freed when someone signs out or stays inactive long enough. If you need access urgently, ask your administrator to end an idle session.</p>
<p><small>Error: MaximumLicenseCountExceeded</small></p>
</body>
</html>
`
