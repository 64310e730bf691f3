package browserlogin

import (
	"net/http"
	"net/url"
)

// signOut ends the browser session: it clears the gateway's cookie and
// sends the browser to the issuer's end-session endpoint (OpenID Connect
// RP-Initiated Logout 1.0 §2) with the ID token as id_token_hint, so the
// issuer ends its own session — and the refresh tokens and license slot
// of that session — without asking, and then returns the browser to
// PublicURL + "/".
//
// GET and POST both sign out. A request another site started
// (Sec-Fetch-Site: cross-site) gets a confirmation form instead, so a
// third-party page cannot sign users out.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		confirmSignOutPage(w)
		return
	}
	s, _ := h.loadSession(r)
	if hasChunks(r, sessionCookie) {
		h.clearSession(w, r)
	}
	q := url.Values{
		"client_id":                {h.cfg.ClientID},
		"post_logout_redirect_uri": {h.postLogout},
	}
	if s.IDToken != "" {
		q.Set("id_token_hint", s.IDToken)
	}
	noStore(w)
	http.Redirect(w, r, h.endSession+"?"+q.Encode(), http.StatusFound)
}

// userInfo answers the signed-in user's claims, from the session's ID
// token, as JSON; 401 without a session. Protocol claims (nonce, at_hash,
// c_hash) are left out.
func (h *Handler) userInfo(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.AccessToken(w, r); !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="erpgate"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "unauthorized", "error_description": "not signed in",
		})
		return
	}
	s, _ := h.loadSession(r)
	c, ok := jwtClaims(s.IDToken)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "unauthorized", "error_description": "the session has no ID token",
		})
		return
	}
	for _, k := range []string{"nonce", "at_hash", "c_hash"} {
		delete(c, k)
	}
	writeJSON(w, http.StatusOK, c)
}
