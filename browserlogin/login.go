package browserlogin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/erpgate/erpgate/policy"
	"github.com/erpgate/erpgate/webui"
)

// issuerTimeout bounds one call to the token endpoint.
const issuerTimeout = 15 * time.Second

// StartLogin sends the browser to the issuer's authorization endpoint
// (authorization code flow, RFC 6749 §4.1, with PKCE S256, RFC 7636, and an
// OIDC nonce) and remembers the login in a transaction cookie. The browser
// comes back to the requested URL — GET and HEAD only; anything else
// returns to "/" — once signed in. Any session the request carries is
// cleared: the proxy calls StartLogin when it has no usable token.
func (h *Handler) StartLogin(w http.ResponseWriter, r *http.Request) {
	returnTo := "/"
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		returnTo = r.URL.RequestURI()
	}
	// A session the request still carries is unusable (refused, expired,
	// ended): clear it, and have the issuer ask for the password again
	// rather than sign in silently — so a token the proxy refuses cannot
	// send the browser round in a redirect loop.
	reauth := hasChunks(r, sessionCookie)
	if reauth {
		h.clearSession(w, r)
	}
	h.startLogin(w, r, returnTo, reauth, policy.StepUp{})
}

// start serves StartPath?rd=PATH, the "Sign in" link of the gateway's
// pages (and of the account pages, whose sign-in is the issuer's), which
// starts a login. Forward auth (SPEC §11) sends browsers here too: the
// edge asking /oauth2/auth cannot pass our cookies on, so the check never
// refreshes a session; this answer, an ordinary response, can. With
// refresh=1, a session that still works (refreshed here if it must be)
// goes straight back to rd. reauth=1 means the session's token was
// refused: it is cleared, and the issuer asks for the password again
// rather than signing in silently, so a refused token cannot loop.
func (h *Handler) start(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	returnTo := safeReturnURL(q.Get("rd"))
	if q.Get("refresh") != "" && q.Get("reauth") == "" {
		if _, ok := h.AccessToken(w, r); ok {
			noStore(w)
			http.Redirect(w, r, returnTo, http.StatusFound)
			return
		}
	}
	// acr_values and max_age: forward auth's step-up (proxy.edgeLogin),
	// which keeps the session until the new tokens replace it.
	if su := stepUpFromQuery(q.Get("acr_values"), q.Get("max_age")); !su.IsZero() {
		h.startLogin(w, r, returnTo, false, su)
		return
	}
	reauth := hasChunks(r, sessionCookie)
	if reauth {
		h.clearSession(w, r)
	}
	h.startLogin(w, r, returnTo, reauth, policy.StepUp{})
}

// startLogin redirects to the authorization endpoint. reauth asks for
// prompt=login; a non-zero su asks for a step-up (RFC 9470 §4):
// acr_values and max_age (OIDC Core §3.1.2.1), which the callback
// records on the session for the loop guard.
func (h *Handler) startLogin(w http.ResponseWriter, r *http.Request, returnTo string, reauth bool, su policy.StepUp) {
	t := transaction{
		State:    randomString(),
		Verifier: oauth2.GenerateVerifier(),
		Nonce:    randomString(),
		ReturnTo: safeReturnURL(returnTo),
		ACR:      su.ACR,
		MaxAge:   int64(su.MaxAge / time.Second),
	}
	if err := h.tx.write(w, r, t); err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "browser login: write transaction cookie", "err", err)
		h.errorPage(w, r, failed{http.StatusInternalServerError, webui.Msg("gateway.start_failed.title"),
			webui.Msg("gateway.start_failed.text"), "transaction_not_stored", ""}, t.ReturnTo)
		return
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(t.Verifier), oidc.Nonce(t.Nonce)}
	if reauth {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
	}
	if su.ACR != "" {
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", su.ACR))
	}
	if ma := su.MaxAgeSeconds(); ma != "" {
		opts = append(opts, oauth2.SetAuthURLParam("max_age", ma))
	}
	u := h.oauth.AuthCodeURL(t.State, opts...)
	noStore(w)
	http.Redirect(w, r, u, http.StatusFound)
}

// callback is the redirect URI: it checks the state against the login's
// transaction cookie, exchanges the code with the PKCE verifier, verifies
// the ID token and its nonce, stores the session and returns the browser
// to where it was going.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	t, ok := h.tx.read(r, state)
	if ok {
		h.tx.clear(w, txCookieName(state))
	}
	// RFC 6749 §4.1.2.1: the issuer reports a refused authorization with
	// error= (and our state).
	if e := q.Get("error"); e != "" {
		again := ""
		if ok {
			again = t.ReturnTo
		}
		h.cfg.Logger.InfoContext(r.Context(), "browser login refused by the issuer", "error", e, "description", q.Get("error_description"))
		h.errorPage(w, r, failed{http.StatusBadRequest, webui.Msg("gateway.failed.title"), refusedText(e),
			e, q.Get("error_description")}, again)
		return
	}
	// RFC 6749 §10.12: the state binds the response to this browser's
	// login; without the matching transaction cookie, it is someone
	// else's response (login CSRF) or an expired one.
	if !ok || subtle.ConstantTimeCompare([]byte(t.State), []byte(state)) != 1 {
		h.errorPage(w, r, failed{http.StatusBadRequest, webui.Msg("gateway.expired.title"),
			webui.Msg("gateway.expired.text"), "state_unknown", ""}, t.ReturnTo) // "" unless ok
		return
	}
	// RFC 9207 §2.4: when the issuer names itself, it must be ours.
	if iss, present := q["iss"]; present && (len(iss) != 1 || iss[0] != h.cfg.Issuer) {
		h.errorPage(w, r, failed{http.StatusBadRequest, webui.Msg("gateway.failed.title"),
			webui.Msg("gateway.failed.issuer"), "issuer_mismatch", ""}, t.ReturnTo)
		return
	}
	code := q.Get("code")
	if code == "" {
		h.errorPage(w, r, failed{http.StatusBadRequest, webui.Msg("gateway.failed.title"),
			webui.Msg("gateway.failed.no_code"), "no_code", ""}, t.ReturnTo)
		return
	}
	ctx, cancel := context.WithTimeout(h.clientContext(r.Context()), issuerTimeout)
	defer cancel()
	tok, err := h.oauth.Exchange(ctx, code, oauth2.VerifierOption(t.Verifier))
	if err != nil {
		h.cfg.Logger.WarnContext(r.Context(), "browser login: code exchange failed", "err", describeTokenError(err))
		h.errorPage(w, r, failed{http.StatusBadGateway, webui.Msg("gateway.failed.title"),
			webui.Msg("gateway.failed.exchange"), "token_exchange_failed", ""}, t.ReturnTo)
		return
	}
	idt, rawID, err := h.verifyIDToken(ctx, tok)
	if err != nil {
		h.cfg.Logger.WarnContext(r.Context(), "browser login: ID token refused", "err", err)
		h.errorPage(w, r, failed{http.StatusBadGateway, webui.Msg("gateway.failed.title"),
			webui.Msg("gateway.failed.id_token"), "id_token_invalid", ""}, t.ReturnTo)
		return
	}
	// OIDC Core §3.1.3.7 (11): "If a nonce value was sent in the
	// Authentication Request, a nonce Claim MUST be present and its value
	// checked to verify that it is the same value as the one that was sent".
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(t.Nonce)) != 1 {
		h.cfg.Logger.WarnContext(r.Context(), "browser login: ID token nonce mismatch")
		h.errorPage(w, r, failed{http.StatusBadRequest, webui.Msg("gateway.failed.title"),
			webui.Msg("gateway.failed.nonce"), "nonce_mismatch", ""}, t.ReturnTo)
		return
	}
	s := sessionTokens{
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		IDToken:      rawID,
		Expiry:       accessExpiry(tok, h.cfg.Clock()),
		Obtained:     h.cfg.Clock().Unix(),
	}
	if t.ACR != "" || t.MaxAge != 0 {
		s.StepUpACR, s.StepUpMaxAge, s.SteppedUpAt = t.ACR, t.MaxAge, h.cfg.Clock().Unix()
	}
	if err := h.saveSession(w, r, s); err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "browser login: store session", "err", err)
		h.errorPage(w, r, failed{http.StatusInternalServerError, webui.Msg("gateway.failed.title"),
			webui.Msg("gateway.failed.session"), "session_not_stored", ""}, t.ReturnTo)
		return
	}
	noStore(w)
	http.Redirect(w, r, safeReturnURL(t.ReturnTo), http.StatusFound)
}

// verifyIDToken checks the ID token of a token response: signature, iss,
// aud = our client_id, exp (go-oidc), and at_hash when present (OIDC Core
// §3.1.3.8).
func (h *Handler) verifyIDToken(ctx context.Context, tok *oauth2.Token) (*oidc.IDToken, string, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, "", errors.New("the token response has no id_token")
	}
	idt, err := h.idVerifier.Verify(ctx, raw)
	if err != nil {
		return nil, "", err
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, "", err
		}
	}
	return idt, raw, nil
}

// clientContext makes x/oauth2 use the configured client.
func (h *Handler) clientContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, h.cfg.HTTPClient)
}

// describeTokenError is an error for the log: the issuer's error code and
// description, never the response body (which could carry tokens).
func describeTokenError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		s := "token endpoint refused"
		if re.Response != nil {
			s = "token endpoint answered " + http.StatusText(re.Response.StatusCode)
		}
		if re.ErrorCode != "" {
			s += ": " + re.ErrorCode
		}
		if re.ErrorDescription != "" {
			s += " (" + re.ErrorDescription + ")"
		}
		return s
	}
	return err.Error()
}

// refusedText says in words why the issuer refused a sign-in (its
// RFC 6749 §4.1.2.1 error code).
func refusedText(code string) webui.Text {
	switch code {
	case "access_denied":
		return webui.Msg("gateway.refused.access_denied")
	case "temporarily_unavailable", "server_error":
		return webui.Msg("gateway.refused.unavailable")
	}
	return webui.Msg("gateway.refused.other")
}

// randomString is 32 random bytes, base64url: a state or nonce.
func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
