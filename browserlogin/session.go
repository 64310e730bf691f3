package browserlogin

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"golang.org/x/oauth2"
)

// Refresh timing: the access token is refreshed when less than
// refreshBefore of it is left, or less than a third of its lifetime for
// short-lived tokens.
const (
	refreshBefore = 60 * time.Second
	// maxRecentTTL caps how long the result of a refresh is handed to
	// requests that still carry the refresh token it replaced (sent
	// before the browser stored the new cookie); Config.RefreshReuseGrace
	// bounds it first (recentTTL).
	maxRecentTTL = time.Minute
	maxRecents   = 10_000
)

// Keys of the session values (short: they are in every request).
const (
	keyAccess   = "at"
	keyRefresh  = "rt"
	keyID       = "it"
	keyExpiry   = "exp"
	keyObtained = "iat"
)

// sessionTokens is what the session cookie holds.
type sessionTokens struct {
	AccessToken  string
	RefreshToken string
	IDToken      string
	Expiry       int64 // of the access token, Unix seconds
	Obtained     int64 // when the access token was issued to us
	// The step-up marker (stepup.go): what the sign-in that issued these
	// tokens asked for (acr_values, max_age in seconds) and when it
	// completed; zero for an ordinary sign-in, and after a refresh.
	StepUpACR    string
	StepUpMaxAge int64
	SteppedUpAt  int64
}

func (s sessionTokens) values() map[any]any {
	v := map[any]any{
		keyAccess: s.AccessToken, keyRefresh: s.RefreshToken, keyID: s.IDToken,
		keyExpiry: s.Expiry, keyObtained: s.Obtained,
	}
	if s.SteppedUpAt != 0 {
		v[keyStepUpACR], v[keyStepUpMaxAge], v[keySteppedUpAt] = s.StepUpACR, s.StepUpMaxAge, s.SteppedUpAt
	}
	return v
}

func tokensFrom(v map[any]any) (sessionTokens, bool) {
	var s sessionTokens
	s.AccessToken, _ = v[keyAccess].(string)
	s.RefreshToken, _ = v[keyRefresh].(string)
	s.IDToken, _ = v[keyID].(string)
	s.Expiry, _ = v[keyExpiry].(int64)
	s.Obtained, _ = v[keyObtained].(int64)
	s.StepUpACR, _ = v[keyStepUpACR].(string)
	s.StepUpMaxAge, _ = v[keyStepUpMaxAge].(int64)
	s.SteppedUpAt, _ = v[keySteppedUpAt].(int64)
	return s, s.AccessToken != "" && s.Expiry != 0
}

// loadSession returns the request's session tokens.
func (h *Handler) loadSession(r *http.Request) (sessionTokens, bool) {
	sess, err := h.sessions.New(r, sessionCookie)
	if err != nil || sess.IsNew {
		return sessionTokens{}, false
	}
	return tokensFrom(sess.Values)
}

func (h *Handler) saveSession(w http.ResponseWriter, r *http.Request, s sessionTokens) error {
	sess := sessions.NewSession(h.sessions, sessionCookie)
	opts := *h.sessions.Options
	sess.Options = &opts
	sess.Values = s.values()
	return h.sessions.Save(r, w, sess)
}

// clearSession expires every session chunk the request carries.
func (h *Handler) clearSession(w http.ResponseWriter, r *http.Request) {
	sess := sessions.NewSession(h.sessions, sessionCookie)
	opts := *h.sessions.Options
	opts.MaxAge = -1
	sess.Options = &opts
	_ = h.sessions.Save(r, w, sess)
}

// AccessToken returns the access token of the request's browser session,
// refreshing it first when it is about to expire (the new cookie is set on
// w). ok is false when there is no usable session; a session the issuer
// refuses to refresh is cleared.
func (h *Handler) AccessToken(w http.ResponseWriter, r *http.Request) (string, bool) {
	s, ok := h.loadSession(r)
	if !ok {
		if hasChunks(r, sessionCookie) {
			h.clearSession(w, r) // undecodable: old key, tampered, expired
		}
		return "", false
	}
	now := h.cfg.Clock()
	if !s.needsRefresh(now) {
		return s.AccessToken, true
	}
	if s.RefreshToken == "" {
		if now.Unix() < s.Expiry {
			return s.AccessToken, true
		}
		h.clearSession(w, r)
		return "", false
	}
	ns, err := h.refresh(r.Context(), s)
	if err != nil {
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) && now.Unix() < s.Expiry {
			// The issuer could not be asked (not: said no); the token
			// still works for a little while.
			h.cfg.Logger.WarnContext(r.Context(), "browser session: refresh failed, using the current token", "err", err)
			return s.AccessToken, true
		}
		h.cfg.Logger.InfoContext(r.Context(), "browser session: refresh refused, session cleared", "err", describeTokenError(err))
		h.clearSession(w, r)
		return "", false
	}
	if err := h.saveSession(w, r, ns); err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "browser session: store refreshed session", "err", err)
	}
	return ns.AccessToken, true
}

// SessionToken returns the access token of the request's browser session
// while it has not expired, without refreshing it: for forward auth
// (SPEC §11), whose answer the edge does not pass to the browser, so a
// rotated refresh token could never reach the cookie. StartPath refreshes.
func (h *Handler) SessionToken(r *http.Request) (string, bool) {
	s, ok := h.loadSession(r)
	if !ok || h.cfg.Clock().Unix() >= s.Expiry {
		return "", false
	}
	return s.AccessToken, true
}

// needsRefresh: less than refreshBefore (or a third of the token's
// lifetime, if shorter) is left.
func (s sessionTokens) needsRefresh(now time.Time) bool {
	margin := refreshBefore
	if life := time.Duration(s.Expiry-s.Obtained) * time.Second; life > 0 && life/3 < margin {
		margin = life / 3
	}
	return now.Add(margin).Unix() >= s.Expiry
}

// recentRefresh is the outcome of a refresh, kept for requests that still
// present the refresh token it replaced.
type recentRefresh struct {
	tokens  sessionTokens
	expires time.Time
}

// refresh exchanges the session's refresh token (RFC 6749 §6). Concurrent
// refreshes of one session share one call to the issuer: the issuer
// rotates refresh tokens, and two uses of one token would look like a
// replay.
func (h *Handler) refresh(ctx context.Context, s sessionTokens) (sessionTokens, error) {
	rtHash := tokenHash(s.RefreshToken)
	if ns, ok := h.recentResult(rtHash); ok {
		return ns, nil
	}
	key := s.sessionKey()
	v, err, _ := h.refreshes.Do(key, func() (any, error) {
		if ns, ok := h.recentResult(rtHash); ok {
			return ns, nil
		}
		// The issuer's grace for the replaced token starts when it
		// rotates it, which is after this.
		started := h.cfg.Clock()
		// Not bound to the first caller's request: the others wait too.
		ctx, cancel := context.WithTimeout(h.clientContext(context.WithoutCancel(ctx)), issuerTimeout)
		defer cancel()
		expired := &oauth2.Token{RefreshToken: s.RefreshToken, Expiry: time.Unix(1, 0)}
		tok, err := h.oauth.TokenSource(ctx, expired).Token()
		if err != nil {
			return nil, err
		}
		ns := sessionTokens{
			AccessToken:  tok.AccessToken,
			RefreshToken: tok.RefreshToken, // x/oauth2 keeps the old one if none came
			IDToken:      s.IDToken,
			Expiry:       accessExpiry(tok, h.cfg.Clock()),
			Obtained:     h.cfg.Clock().Unix(),
		}
		// OIDC Core §12.2: a refresh may return a new ID token; keep the
		// old one otherwise (it still names the user and serves as
		// id_token_hint).
		if _, present := tok.Extra("id_token").(string); present {
			_, raw, err := h.verifyIDToken(ctx, tok)
			if err != nil {
				return nil, err
			}
			ns.IDToken = raw
		}
		h.remember(rtHash, ns, started)
		return ns, nil
	})
	if err != nil {
		return sessionTokens{}, err
	}
	return v.(sessionTokens), nil
}

// sessionKey identifies the session for singleflight: the ID token's sid,
// else the refresh token's hash.
func (s sessionTokens) sessionKey() string {
	if c, ok := jwtClaims(s.IDToken); ok {
		if sid, _ := c["sid"].(string); sid != "" {
			return "sid:" + sid
		}
	}
	return "rt:" + tokenHash(s.RefreshToken)
}

func (h *Handler) recentResult(rtHash string) (sessionTokens, bool) {
	h.recentMu.Lock()
	defer h.recentMu.Unlock()
	r, ok := h.recent[rtHash]
	if !ok || !h.cfg.Clock().Before(r.expires) {
		return sessionTokens{}, false
	}
	return r.tokens, true
}

// recentTTL is how long after a refresh began its result is handed to
// requests still carrying the replaced refresh token: the issuer's reuse
// grace, which starts later (when the issuer rotates the token), so the
// cache never outlives it; at most maxRecentTTL.
func (h *Handler) recentTTL() time.Duration {
	return min(max(h.cfg.RefreshReuseGrace, 0), maxRecentTTL)
}

// remember keeps ns, the result of a refresh begun at started, for the
// requests that still carry the refresh token it replaced (recentTTL).
func (h *Handler) remember(rtHash string, ns sessionTokens, started time.Time) {
	ttl := h.recentTTL()
	now := h.cfg.Clock()
	expires := started.Add(ttl)
	if !now.Before(expires) {
		return // no grace left (or none at all)
	}
	h.recentMu.Lock()
	defer h.recentMu.Unlock()
	if len(h.recent) >= maxRecents || now.Sub(h.lastCleanup) > ttl {
		for k, v := range h.recent {
			if !now.Before(v.expires) {
				delete(h.recent, k)
			}
		}
		h.lastCleanup = now
		if len(h.recent) >= maxRecents {
			clear(h.recent)
		}
	}
	h.recent[rtHash] = recentRefresh{tokens: ns, expires: expires}
}

// accessExpiry is when the access token expires: expires_in if the issuer
// sent it, else the JWT's exp, else an hour from now.
func accessExpiry(tok *oauth2.Token, now time.Time) int64 {
	if !tok.Expiry.IsZero() {
		return tok.Expiry.Unix()
	}
	if c, ok := jwtClaims(tok.AccessToken); ok {
		if exp, ok := c["exp"].(float64); ok && exp > 0 {
			return int64(exp)
		}
	}
	return now.Add(time.Hour).Unix()
}

// jwtClaims decodes a JWT's payload without verifying it. Only for tokens
// that were verified when they were stored in the authenticated cookie, or
// that the proxy verifies anyway.
func jwtClaims(raw string) (map[string]any, bool) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, false
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, false
	}
	return c, true
}

func tokenHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}
