package browserlogin

import (
	"net/http"
	"net/url"

	"github.com/erpgate/erpgate/authority"
)

// signOut ends the browser session: it clears the gateway's cookie and
// sends the browser to the issuer's end-session endpoint (OpenID Connect
// RP-Initiated Logout 1.0 §2) with the ID token as id_token_hint, so the
// issuer ends its own session — and the refresh tokens and license slot
// of that session — without asking, and then lands the browser on the
// operator's ui.signed_out_url (Pages.SignedOutURL), or on PublicURL +
// "/" without one.
//
// GET and POST both sign out. A request another site started
// (Sec-Fetch-Site: cross-site) gets a confirmation form instead, so a
// third-party page cannot sign users out.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	s, _ := h.loadSession(r)
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		locale, _ := idClaim(s.IDToken, "locale")
		h.confirmSignOutPage(w, r, locale)
		return
	}
	if hasChunks(r, sessionCookie) {
		h.clearSession(w, r)
	}
	q := url.Values{"client_id": {h.cfg.ClientID}}
	if h.cfg.Pages.SignedOutURL() == "" {
		q.Set("post_logout_redirect_uri", h.postLogout)
	} // else the issuer, which shares the kit, lands on it: it needs no registration
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
		authority.WriteJSONError(w, http.StatusUnauthorized, authority.ErrorBody{Error: "unauthorized", Description: "not signed in"})
		return
	}
	s, _ := h.loadSession(r)
	c, ok := jwtClaims(s.IDToken)
	if !ok {
		authority.WriteJSONError(w, http.StatusUnauthorized, authority.ErrorBody{Error: "unauthorized", Description: "the session has no ID token"})
		return
	}
	for _, k := range []string{"nonce", "at_hash", "c_hash"} {
		delete(c, k)
	}
	authority.WriteJSON(w, http.StatusOK, c)
}

// signedOutURL is where a sign-out lands: ui.signed_out_url, else
// PublicURL + "/".
func (h *Handler) signedOutURL() string {
	if u := h.cfg.Pages.SignedOutURL(); u != "" {
		return u
	}
	return h.postLogout
}

// idClaim is a string claim of the session's ID token (already verified
// when the session was made).
func idClaim(rawID, name string) (string, bool) {
	c, ok := jwtClaims(rawID)
	if !ok {
		return "", false
	}
	v, ok := c[name].(string)
	return v, ok
}
