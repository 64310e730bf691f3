package browserlogin

import (
	"encoding/json"
	"html/template"
	"net/http"
)

// pageHeaders are set on every page the gateway renders itself: not
// cached, not framed, no scripts.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	noStore(w)
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
}

var errorTmpl = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}p#error{background:#fdecea;border:1px solid #f5c2c0;padding:.75rem;border-radius:4px}</style></head>
<body><h1>{{.Title}}</h1><p id="error">{{.Message}}</p>
{{if .Again}}<p><a id="again" href="{{.Again}}">Try again</a></p>{{end}}
</body></html>
`))

// errorPage is the small HTML page shown when a sign-in fails. again, a
// same-origin path, becomes a "Try again" link when not empty.
func errorPage(w http.ResponseWriter, status int, title, message, again string) {
	pageHeaders(w)
	w.WriteHeader(status)
	if again != "" {
		again = safeReturnURL(again)
	}
	_ = errorTmpl.Execute(w, struct{ Title, Message, Again string }{title, message, again})
}

var confirmTmpl = template.Must(template.New("confirm").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign out</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}</style></head>
<body><h1>Sign out?</h1>
<form method="post" action="{{.}}"><button id="submit" type="submit">Sign out</button></form>
</body></html>
`))

func confirmSignOutPage(w http.ResponseWriter) {
	pageHeaders(w)
	_ = confirmTmpl.Execute(w, SignOutPath)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	noStore(w)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
