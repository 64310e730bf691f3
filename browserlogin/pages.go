package browserlogin

import (
	"embed"
	"net/http"
	"net/url"

	"github.com/erpgate/erpgate/webui"
)

//go:embed web/*.html
var webFS embed.FS

// pages are the gateway's own sign-in pages, in the kit's layout.
var pages = webui.MustParse(webFS, "web/*.html")

// pageData is what browserlogin's templates read as .D.
type pageData struct {
	// Code names what went wrong, for whoever reports the problem;
	// Detail is the identity server's own description (English).
	Code, Detail string
	// Again starts a new sign-in; Back goes on without one.
	Again       string
	Back        string
	BackText    webui.Text
	SignOutPath string
}

// SignInURL is a link that starts a sign-in coming back to returnTo, a
// same-origin path ("/" when it is not one).
func (h *Handler) SignInURL(returnTo string) string {
	return StartPath + "?" + url.Values{"rd": {safeReturnURL(returnTo)}}.Encode()
}

// failed is why a sign-in did not complete: the page's words and a code
// for the administrator.
type failed struct {
	status      int
	title, text webui.Text
	code        string
	detail      string
}

// errorPage shows a sign-in that did not complete, with the next steps:
// sign in again, coming back to returnTo (the page the sign-in was for,
// when known: "" is not), or go back there without signing in.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, f failed, returnTo string) {
	d := pageData{Code: f.code, Detail: f.detail, Back: "/", BackText: webui.Msg("gateway.home")}
	if returnTo != "" {
		returnTo = safeReturnURL(returnTo)
		d.Back, d.BackText = returnTo, webui.Msg("gateway.back")
	}
	d.Again = h.SignInURL(returnTo)
	h.cfg.Pages.Render(w, r, pages, f.status, webui.Page{Name: "error.html", Title: f.title, Error: f.text, Data: d,
		Lang: h.cfg.Pages.Language(r, "", "")})
}

// confirmSignOutPage asks whether to sign out. Its form posts to
// SignOutPath, whose answer redirects to the issuer's end-session
// endpoint and on to the landing: CSP3 form-action covers the redirects
// after a form submission, so both origins are named.
func (h *Handler) confirmSignOutPage(w http.ResponseWriter, r *http.Request, locale string) {
	h.cfg.Pages.Render(w, r, pages, http.StatusOK, webui.Page{Name: "signout.html", Title: webui.Msg("gateway.signout.title"),
		Data: pageData{SignOutPath: SignOutPath, Back: "/", BackText: webui.Msg("gateway.signout.stay")},
		Lang: h.cfg.Pages.Language(r, "", locale), FormTargets: []string{h.endSession, h.signedOutURL()}})
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
}
