package issuer

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/erpgate/erpgate/store"
)

// RP-initiated logout at an external provider (OpenID Connect
// RP-Initiated Logout 1.0): once erpgate's own logout is complete, a
// session signed in through a provider set to end_session goes on to
// the provider's end_session_endpoint, which sends the browser back to
// federatedLogoutPath, and from there to where the logout would have
// gone (the app's post_logout_redirect_uri, or the signed-out page).

const (
	// federatedLogoutPath is the provider's post_logout_redirect_uri.
	federatedLogoutPath = "/account/logout/federated"
	// federatedLogoutCookie keeps where to go after the provider.
	federatedLogoutCookie = "erpgate_fed_logout"
)

// pendingLogout is federatedLogoutCookie's value.
type pendingLogout struct {
	StateHash string `json:"s"`
	// The app's post_logout_redirect_uri and its state; "": the
	// signed-out page. Checked again on the way back, so a planted
	// cookie cannot make this an open redirect.
	ClientID string `json:"c,omitempty"`
	Redirect string `json:"r,omitempty"`
	AppState string `json:"a,omitempty"`
	Expires  int64  `json:"e"`
}

// federatedLogout sends the browser to the end_session_endpoint of the
// provider auth signed in through, if it is set to end sessions and has
// one; then to clientID's redirect (with appState), or the signed-out
// page when redirect is "". It reports whether it answered.
func (s *Server) federatedLogout(w http.ResponseWriter, r *http.Request, auth store.Authentication, clientID, redirect, appState string) bool {
	p := s.endingProvider(auth)
	if p == nil {
		return false
	}
	state := newSecret()
	to, ok := p.Redirect.EndSessionURL(r.Context(), s.cfg.Issuer+federatedLogoutPath, state)
	if !ok {
		return false
	}
	raw, err := json.Marshal(pendingLogout{StateHash: hashToken(state), ClientID: clientID, Redirect: redirect,
		AppState: appState, Expires: s.cfg.Clock().Add(federatedTTL).Unix()})
	if err != nil {
		return false
	}
	http.SetCookie(w, &http.Cookie{Name: federatedLogoutCookie, Value: base64.RawURLEncoding.EncodeToString(raw),
		Path: s.prefix + federatedLogoutPath, MaxAge: int(federatedTTL / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusFound)
	return true
}

// endingProvider is the provider a session signed in as auth was signed
// in through, when erpgate can send its browser to that provider's logout;
// nil otherwise.
func (s *Server) endingProvider(auth store.Authentication) *Provider {
	if auth.Provider == "" {
		return nil
	}
	for i := range s.cfg.Providers {
		if s.cfg.Providers[i].ID == auth.Provider && s.cfg.Providers[i].Redirect != nil {
			return &s.cfg.Providers[i]
		}
	}
	return nil
}

// federatedLogoutTarget is the provider's end_session_endpoint that
// signing out a session signed in as auth goes on to, "" for none. A
// sign-out form names it in its page's CSP form-action: CSP3 applies
// form-action to the redirects after a submission, so a browser would
// otherwise stop at erpgate's confirmation.
func (s *Server) federatedLogoutTarget(ctx context.Context, auth store.Authentication) string {
	p := s.endingProvider(auth)
	if p == nil {
		return ""
	}
	to, ok := p.Redirect.EndSessionURL(ctx, s.cfg.Issuer+federatedLogoutPath, "")
	if !ok {
		return ""
	}
	return to
}

// handleFederatedLogout is where the provider's logout comes back: with
// the state it was sent, it goes on to where erpgate's logout was going;
// otherwise (a stale or forged return) to the signed-out page, since
// erpgate's own sign-out is complete either way.
func (s *Server) handleFederatedLogout(w http.ResponseWriter, r *http.Request) {
	next := ""
	if c, err := r.Cookie(federatedLogoutCookie); err == nil {
		http.SetCookie(w, &http.Cookie{Name: federatedLogoutCookie, Value: "", Path: s.prefix + federatedLogoutPath, MaxAge: -1,
			HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
		var pend pendingLogout
		raw, err := base64.RawURLEncoding.DecodeString(c.Value)
		state := r.URL.Query().Get("state")
		if err == nil && json.Unmarshal(raw, &pend) == nil && state != "" &&
			subtle.ConstantTimeCompare([]byte(pend.StateHash), []byte(hashToken(state))) == 1 &&
			s.cfg.Clock().Before(time.Unix(pend.Expires, 0)) && pend.Redirect != "" {
			if app := s.cfg.Directory.App(pend.ClientID); app != nil && redirectRegistered(pend.Redirect, app.PostLogoutRedirectURIs) {
				var params []param
				if pend.AppState != "" {
					params = []param{{Name: "state", Value: pend.AppState}}
				}
				next = withParams(pend.Redirect, params)
			}
		}
	}
	if next != "" {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, next, http.StatusFound)
		return
	}
	s.signedOut(w, r)
}
