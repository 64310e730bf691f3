package webui

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"net/http"
)

// Field is a hidden form field.
type Field struct{ Name, Value string }

var formPostPage = template.Must(template.New("form_post").Parse(`<!doctype html>
<html lang="{{.Lang.Tag}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer"><title>{{.Lang.T "formpost.title"}}</title></head>
<body>
<form method="post" action="{{.Action}}">
  {{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
  {{end}}
  <noscript><p>{{.Lang.T "formpost.noscript"}}</p><button type="submit">{{.Lang.T "formpost.continue"}}</button></noscript>
</form>
<script nonce="{{.Nonce}}">document.forms[0].submit()</script>
</body>
</html>
`))

// RenderFormPost answers with the auto-submitting form of OAuth 2.0 Form
// Post Response Mode §2: the CSP allows exactly that inline script and a
// form posting to action's origin, nothing else.
func (k *Kit) RenderFormPost(w http.ResponseWriter, r *http.Request, lang *Lang, action string, fields []Field) {
	if lang == nil {
		lang = k.Language(r, "", "")
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	nonce := base64.RawStdEncoding.EncodeToString(b[:])
	var buf bytes.Buffer
	err := formPostPage.Execute(&buf, struct {
		Lang          *Lang
		Action, Nonce string
		Fields        []Field
	}{lang, action, nonce, fields})
	if err != nil {
		k.cfg.Logger.ErrorContext(r.Context(), "render form_post", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	SecureHeaders(w.Header(), CSP(CSPOptions{FormTargets: []string{action}, ScriptNonce: nonce, NoSelfForms: true}))
	_, _ = w.Write(buf.Bytes())
}
