package issuer

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/webui"
)

// handleEndSession is OpenID Connect RP-Initiated Logout 1.0. With a valid
// id_token_hint the user's session ends at once; without one the user is
// asked to confirm (so a third-party page cannot log people out). The
// post_logout_redirect_uri must exactly match one registered for the app
// the hint was issued to.
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		s.errorPage(w, r, http.StatusMethodNotAllowed, "invalid_request", "Use GET or POST.")
		return
	}
	if !s.parsePageForm(w, r) { // pages.go
		return
	}
	hint, hintOK := s.parseIDTokenHint(r.Form.Get("id_token_hint"))
	// RP-Initiated Logout 1.0 §2: client_id names the app when there is
	// no hint (a confirmation is then asked); with both, they must agree.
	clientID := r.Form.Get("client_id")
	if hintOK && clientID != "" && clientID != hint.clientID {
		s.errorPage(w, r, http.StatusBadRequest, "invalid_request", "The client_id does not match the ID token hint.")
		return
	}
	if hintOK {
		clientID = hint.clientID
	}
	redirect := r.Form.Get("post_logout_redirect_uri")
	if redirect != "" {
		app := s.cfg.Directory.App(clientID)
		if app == nil || !redirectRegistered(redirect, app.PostLogoutRedirectURIs) {
			s.errorPage(w, r, http.StatusBadRequest, "invalid_request", "The address to return to after signing out is not registered for this application.")
			return
		}
	}
	var ended store.Authentication // how the ended session signed in
	switch {
	case hintOK:
		auth, ok := s.logout(w, r, hint.sid, hint.clientID)
		if !ok {
			return
		}
		ended = auth
	case r.Method == http.MethodPost && r.PostForm.Get("confirm") == "yes":
		if !csrfValid(r) { // an empty cookie and an empty field must not match
			s.errorPage(w, r, http.StatusForbidden, "invalid_request", "The sign-out form expired. Please try again.")
			return
		}
		if sess, ok := s.currentIdentity(r); ok {
			auth, ok := s.logout(w, r, sess.ID, clientID)
			if !ok {
				return
			}
			ended = auth
		}
	default:
		sess, ok := s.currentIdentity(r)
		if !ok && redirect == "" {
			s.signedOut(w, r)
			return
		}
		if ok {
			// The confirmation carries the app's return address; its
			// answer redirects there, so the CSP names that origin.
			var params []param
			for _, k := range []string{"client_id", "post_logout_redirect_uri", "state", "ui_locales"} {
				if v := r.Form.Get(k); v != "" {
					params = append(params, param{k, v})
				}
			}
			d := pageData{Login: sess.Subject, CSRF: s.csrfToken(w, r), Params: params}
			if redirect != "" {
				// Staying signed in goes back to the app unchanged.
				d.Next, d.NextText = withParams(redirect, stateParam(r)), webui.Msg("logout.stay")
			}
			s.render(w, r, http.StatusOK, webui.Page{Name: "logout.html", Title: webui.Msg("logout.title"),
				Data: d, FormTargets: []string{redirect, s.cfg.Pages.SignedOutURL(), s.federatedLogoutTarget(r.Context(), sess.Auth)}, Lang: s.lang(r, s.cfg.Directory.User(sess.Subject))})
			return
		}
		// Not signed in: nothing to confirm; back to the app.
	}
	// A sign-in through a provider that ends its sessions too goes there
	// next, and comes back here (logout_federated.go).
	if s.federatedLogout(w, r, ended, clientID, redirect, r.Form.Get("state")) {
		return
	}
	if redirect != "" {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, withParams(redirect, stateParam(r)), http.StatusFound)
		return
	}
	s.signedOut(w, r)
}

// stateParam is the request's state, to hand back with a redirect.
func stateParam(r *http.Request) []param {
	if st := r.Form.Get("state"); st != "" {
		return []param{{Name: "state", Value: st}}
	}
	return nil
}

// signedOut ends a sign-out that returns to no app: at ui.signed_out_url
// when the operator set one, else on a page that offers to sign in
// again (to the account page).
func (s *Server) signedOut(w http.ResponseWriter, r *http.Request) {
	if u := s.cfg.Pages.SignedOutURL(); u != "" {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, u, http.StatusSeeOther)
		return
	}
	s.message(w, r, http.StatusOK, webui.Msg("signedout.title"), webui.Msg("signedout.text"),
		pageData{Next: s.prefix + accountPath, NextText: webui.Msg("signedout.again")})
}

type idTokenHint struct{ sid, clientID, subject string }

// parseIDTokenHint accepts an ID token this server signed, even expired
// (the hint only names the session).
func (s *Server) parseIDTokenHint(raw string) (idTokenHint, bool) {
	payload, err := s.cfg.Signer.Verify(raw, signing.TypeIDToken)
	if err != nil {
		return idTokenHint{}, false
	}
	var c idClaims
	if json.Unmarshal(payload, &c) != nil || c.Issuer != s.cfg.Issuer || c.SID == "" || len(c.Audience) != 1 {
		return idTokenHint{}, false
	}
	return idTokenHint{sid: c.SID, clientID: c.Audience[0], subject: c.Subject}, true
}

// logout ends the identity session sid, its ERP session and the refresh
// tokens (and their access tokens) issued under it (SPEC §3, §5), and
// returns how that session had signed in. If the store fails it answers
// 503 and returns false: the user must not be told they are signed out
// while their tokens still work. Each step may be repeated, so trying
// again completes what a failure left undone.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, sid, clientID string) (store.Authentication, bool) {
	ctx := r.Context()
	now := s.cfg.Clock()
	// Stop at the first failure: each step waits up to store.timeout,
	// and trying again completes what is left.
	subject := ""
	var auth store.Authentication
	var toks []store.IssuedToken
	steps := []struct {
		what string
		do   func() error
	}{
		{"read identity session", func() error {
			sess, err := s.cfg.IdentitySessions.IdentitySession(ctx, sid)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			subject, auth = sess.Subject, sess.Auth
			return err
		}},
		{"end identity session", func() error { return s.cfg.IdentitySessions.EndIdentitySession(ctx, sid, now) }},
		{"end ERP session", func() error { return s.cfg.EndSession(ctx, sid) }},
		{"revoke refresh tokens at logout", func() (err error) {
			toks, err = s.cfg.RefreshTokens.RevokeSessionRefreshTokens(ctx, sid, now)
			return err
		}},
	}
	failed := false
	for _, st := range steps {
		if err := st.do(); err != nil {
			s.cfg.Logger.ErrorContext(ctx, st.what, "err", err)
			failed = true
			break
		}
	}
	s.revokeAccess(ctx, toks)
	if failed {
		w.Header().Set("Retry-After", "1")
		s.render(w, r, http.StatusServiceUnavailable, webui.Page{Name: "message.html", Title: webui.Msg("logout.failed.title"),
			Error: webui.Msg("logout.failed.text"), Data: pageData{Code: "temporarily_unavailable"}})
		return auth, false
	}
	if cur, ok := s.currentIdentity(r); !ok || cur.ID == sid {
		s.clearIdentityCookie(w)
	}
	s.cfg.Audit.Log(ctx, audit.Event{
		Name: audit.Logout, ClientID: clientID, Subject: subject, Session: sid,
		RequestID: requestid.From(ctx), RemoteAddr: r.RemoteAddr,
	})
	return auth, true
}
