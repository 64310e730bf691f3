package proxy

import (
	"io"
	"net/http"
)

// licensePage answers 403 MaximumLicenseCountExceeded to a browser with a
// page that says so in words (SPEC §5); API clients get the JSON of
// authority.WriteRefusal.
func licensePage(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusForbidden)
	_, _ = io.WriteString(w, licensePageHTML)
}

// acceptsHTML reports whether Accept names text/html (or XHTML) as
// acceptable: a browser, which gets a page rather than JSON.
func acceptsHTML(r *http.Request) bool {
	html, _ := acceptQ(r) // browser.go
	return html > 0
}

const licensePageHTML = `<!doctype html>
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
