package adminui

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"golang.org/x/oauth2"

	"github.com/erpgate/erpgate/webui"
)

// Cookie names, both on Path only.
const (
	sessionCookie = "erpgate_console"
	loginCookie   = "erpgate_console_login"
)

// sessionMaxAge bounds the console cookie; the token in it expires
// sooner (tokens.access_token_ttl), and a new one comes from a silent
// sign-in through the identity session.
const (
	sessionMaxAge = 12 * time.Hour
	loginMaxAge   = 10 * time.Minute // long enough to type a password
)

// cookieStore makes a gorilla/sessions cookie store whose codecs are
// derived from the configured keys with HKDF under labels of the
// console's own, so its cookies are not the browser login's: one HMAC
// key and one AES-256 key per configured key; the first encrypts, all
// decrypt (key rotation).
func cookieStore(keys [][]byte, maxAge time.Duration, secure bool) (*sessions.CookieStore, error) {
	if len(keys) == 0 {
		return nil, errors.New("adminui: at least one cookie key is required")
	}
	var pairs [][]byte
	for i, k := range keys {
		if len(k) != 32 {
			return nil, fmt.Errorf("adminui: cookie key %d has %d bytes, want 32", i, len(k))
		}
		hashKey, err := hkdf.Key(sha256.New, k, nil, "erpgate admin console hmac", 32)
		if err != nil {
			return nil, err
		}
		blockKey, err := hkdf.Key(sha256.New, k, nil, "erpgate admin console aes-256", 32)
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, hashKey, blockKey)
	}
	cs := sessions.NewCookieStore(pairs...)
	cs.Options = &sessions.Options{Path: Path + "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
	cs.MaxAge(int(maxAge / time.Second))
	return cs, nil
}

// consoleSession is what the console cookie holds.
type consoleSession struct {
	token string // the access token (scope sec)
	csrf  string // the forms' anti-forgery token
}

// readSession decodes the request's console cookie; a missing, expired
// or forged one reads as no session. It does not use the gorilla
// registry (Store.Get), which rewrites the request to carry itself.
func (c *Console) readSession(r *http.Request) consoleSession {
	s, err := c.session.New(r, sessionCookie)
	if err != nil || s.IsNew {
		return consoleSession{}
	}
	tok, _ := s.Values["at"].(string)
	csrf, _ := s.Values["csrf"].(string)
	if tok == "" || csrf == "" {
		return consoleSession{}
	}
	return consoleSession{token: tok, csrf: csrf}
}

// newSecret is 32 random bytes, base64url.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// handleLogin starts a sign-in: a new state and PKCE verifier, kept in
// the login cookie, and the browser sent to the authorization endpoint
// (RFC 6749 §4.1.1, RFC 7636 §4.3 with S256). rd is the console page to
// return to.
func (c *Console) handleLogin(w http.ResponseWriter, r *http.Request) {
	rd := r.URL.Query().Get("rd")
	if !localPath(rd) {
		rd = Path + "/"
	}
	state, verifier := newSecret(), oauth2.GenerateVerifier()
	tx := sessions.NewSession(c.login, loginCookie)
	opts := *c.login.Options
	tx.Options = &opts
	tx.Values["state"], tx.Values["verifier"], tx.Values["rd"] = state, verifier, rd
	if err := c.login.Save(r, w, tx); err != nil {
		c.failed(w, r, nil, "write the sign-in cookie", err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, c.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// localPath reports whether p is a console page to return to: a path
// under Path, never another site ("//evil", "/\evil").
func localPath(p string) bool {
	if !strings.HasPrefix(p, Path+"/") || strings.ContainsAny(p, "\\\r\n") || strings.Contains(p, "//") {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == ""
}

// handleCallback ends a sign-in: the state must be the login cookie's
// (RFC 6749 §10.12), iss the issuer's when sent (RFC 9207 §2.4), then the
// code is exchanged with the verifier for a token kept in the console
// cookie, and the browser goes back to where it was.
func (c *Console) handleCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tx, err := c.login.New(r, loginCookie)
	state, _ := tx.Values["state"].(string)
	verifier, _ := tx.Values["verifier"].(string)
	rd, _ := tx.Values["rd"].(string)
	if err != nil || tx.IsNew || state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(q.Get("state"))) != 1 {
		c.signInFailed(w, r, http.StatusBadRequest, webui.Msg("console.signin.expired"))
		return
	}
	tx.Options.MaxAge = -1 // one use
	if err := c.login.Save(r, w, tx); err != nil {
		c.failed(w, r, nil, "clear the sign-in cookie", err)
		return
	}
	if iss := q.Get("iss"); iss != "" && iss != c.cfg.Issuer {
		c.signInFailed(w, r, http.StatusBadRequest, webui.Msg("console.signin.failed"))
		return
	}
	if e := q.Get("error"); e != "" {
		c.cfg.Logger.InfoContext(r.Context(), "admin console: sign-in refused", "error", e, "error_description", q.Get("error_description"))
		text := webui.Msg("console.signin.failed")
		if e == "access_denied" {
			text = webui.Msg("console.signin.denied")
		}
		c.signInFailed(w, r, http.StatusForbidden, text)
		return
	}
	ctx := context.WithValue(r.Context(), oauth2.HTTPClient, c.cfg.TokenClient)
	tok, err := c.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		c.cfg.Logger.WarnContext(r.Context(), "admin console: code exchange failed", "err", err)
		c.signInFailed(w, r, http.StatusBadGateway, webui.Msg("console.signin.failed"))
		return
	}
	s := sessions.NewSession(c.session, sessionCookie)
	opts := *c.session.Options
	s.Options = &opts
	s.Values["at"], s.Values["csrf"] = tok.AccessToken, newSecret()
	if err := c.session.Save(r, w, s); err != nil {
		c.failed(w, r, nil, "write the console cookie", err)
		return
	}
	if !localPath(rd) {
		rd = Path + "/"
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, rd, http.StatusSeeOther)
}

// signInFailed says the sign-in did not work, with a link to try again.
func (c *Console) signInFailed(w http.ResponseWriter, r *http.Request, status int, text webui.Text) {
	c.render(w, r, nil, status, webui.Page{Name: "message.html", Title: webui.Msg("console.signin.title"), Error: text,
		Data: messageData{frame: c.frame(nil, ""), Next: Path + "/login", NextText: webui.Msg("console.signin.again")}})
}

// handleSignOut clears the console cookie and ends the identity session
// at the identity server (RP-Initiated Logout 1.0 §2), which asks the
// person to confirm and sends them back to the signed-out page. It needs
// the form's anti-forgery token (no other site signs an administrator
// out), not a valid access token: an expired one can sign out too.
func (c *Console) handleSignOut(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	s := c.readSession(r)
	if err := r.ParseForm(); err != nil || s.csrf == "" ||
		subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf_token")), []byte(s.csrf)) != 1 {
		c.message(w, r, nil, http.StatusForbidden, webui.Msg("console.error.title"), webui.Msg("error.form_expired"))
		return
	}
	c.clearSession(w, r)
	v := url.Values{"client_id": {c.cfg.ClientID}, "post_logout_redirect_uri": {SignedOutURI(c.cfg.URL)}}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, c.cfg.Issuer+"/connect/endsession?"+v.Encode(), http.StatusSeeOther)
}

// clearSession expires the console cookie.
func (c *Console) clearSession(w http.ResponseWriter, r *http.Request) {
	s := sessions.NewSession(c.session, sessionCookie)
	opts := *c.session.Options
	opts.MaxAge = -1
	s.Options = &opts
	_ = c.session.Save(r, w, s) // writing an expired cookie cannot fail
}

// handleSignedOut is where the identity server sends the browser back.
func (c *Console) handleSignedOut(w http.ResponseWriter, r *http.Request) {
	c.clearSession(w, r)
	c.render(w, r, nil, http.StatusOK, webui.Page{Name: "message.html", Title: webui.Msg("console.signedout.title"),
		Notice: webui.Msg("console.signedout.text"),
		Data:   messageData{frame: c.frame(nil, ""), Next: Path + "/", NextText: webui.Msg("console.signin.again")}})
}
