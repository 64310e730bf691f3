package issuer

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"time"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/store"
)

// AuthCodes keeps authorization codes (store.AuthCodes without the
// janitor's delete): the authorize endpoint saves one, the token endpoint
// redeems it once.
type AuthCodes interface {
	SaveAuthCode(ctx context.Context, c store.AuthCode) error
	RedeemAuthCode(ctx context.Context, hash string, now time.Time, accessTokenID string, accessExpiresAt time.Time) (store.AuthCode, error)
}

// authorizationCode is the authorization code grant's token request
// (RFC 6749 §4.1.3, RFC 7636 §4.6); the tokens are bound to the DPoP key
// jkt unless it is "".
func (s *Server) authorizationCode(ctx context.Context, app *directory.App, form url.Values, jkt string) (*grant, error) {
	if len(app.RedirectURIs) == 0 {
		return nil, ErrUnauthorizedClient.WithDescription("the application has no redirect URIs, so it cannot use authorization codes")
	}
	code := form.Get("code")
	if code == "" {
		return nil, ErrInvalidRequest.WithDescription("code is required")
	}
	now := s.cfg.Clock()
	jti := newID()                                           // recorded on the code before the token exists, so a replay can revoke it
	accessExp := now.Add(s.cfg.AccessTokenTTL + time.Minute) // outlives the token's own exp
	c, err := s.cfg.AuthCodes.RedeemAuthCode(ctx, hashToken(code), now, jti, accessExp)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrInvalidGrant.WithDescription("unknown authorization code")
	case errors.Is(err, store.ErrCodeReused):
		// RFC 6749 §4.1.2: a code used twice revokes what it issued.
		s.revokeCodeTokens(ctx, c)
		return nil, ErrInvalidGrant.WithDescription("authorization code already used; tokens issued from it are revoked")
	case err != nil:
		return nil, ErrTemporarilyUnavailable.WithCause(err)
	}
	// The code is spent from here on, whatever the outcome: a failed
	// attempt with a stolen code burns it.
	switch {
	case c.ClientID != app.ID:
		return nil, ErrInvalidGrant.WithDescription("the code was issued to another client")
	case !now.Before(c.ExpiresAt):
		return nil, ErrInvalidGrant.WithDescription("authorization code expired")
	case form.Get("redirect_uri") != c.RedirectURI:
		return nil, ErrInvalidGrant.WithDescription("redirect_uri differs from the authorization request")
	}
	if err := checkPKCE(c.CodeChallenge, form.Get("code_verifier")); err != nil {
		return nil, err
	}
	if err := s.identitySessionLive(ctx, c.SessionID); err != nil {
		return nil, err
	}
	user := s.cfg.Directory.User(c.Subject)
	if user == nil {
		return nil, ErrInvalidGrant.WithDescription("the user no longer exists")
	}
	g := userGrant{app: app, user: user, scopes: c.Scopes, sid: c.SessionID, authTime: c.AuthTime, nonce: c.Nonce, jkt: jkt, auth: c.Auth}
	refresh := ""
	if slices.Contains(c.Scopes, "offline_access") {
		refresh = newSecret()
	}
	if err := s.recordSessionClient(ctx, g); err != nil {
		return nil, err
	}
	out, err := s.issueUserTokens(g, refresh, jti)
	if err != nil {
		return nil, err
	}
	if refresh != "" {
		err := s.cfg.RefreshTokens.SaveRefreshToken(ctx, store.RefreshToken{
			Hash: hashToken(refresh), FamilyID: c.Hash, ClientID: app.ID, Subject: user.Login,
			SessionID: c.SessionID, Scopes: c.Scopes, AuthTime: c.AuthTime, Auth: c.Auth, CreatedAt: now,
			ExpiresAt: now.Add(s.refreshTTL(app)), AccessTokenID: out.jti, AccessExpiresAt: out.accessExp,
			DPoPJKT: refreshBinding(app, jkt),
		})
		if err != nil {
			return nil, ErrTemporarilyUnavailable.WithCause(err)
		}
	}
	return &grant{resp: out.resp, subject: user.Login, session: c.SessionID}, nil
}

// checkPKCE verifies the code_verifier against the stored S256 challenge
// (RFC 7636 §4.6). Without a challenge a verifier is refused too: that is
// a PKCE downgrade attempt (RFC 9700 §2.1.1).
func checkPKCE(challenge, verifier string) error {
	if challenge == "" {
		if verifier != "" {
			return ErrInvalidGrant.WithDescription("code_verifier sent but the authorization request had no code_challenge")
		}
		return nil
	}
	if len(verifier) < 43 || len(verifier) > 128 {
		return ErrInvalidGrant.WithDescription("code_verifier is missing or malformed")
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) != 1 {
		return ErrInvalidGrant.WithDescription("code_verifier does not match the code_challenge")
	}
	return nil
}

// revokeCodeTokens revokes the access token issued from a code and the
// refresh family that grew from it (the family id is the code's hash).
func (s *Server) revokeCodeTokens(ctx context.Context, c store.AuthCode) {
	if c.AccessTokenID != "" {
		s.revokeAccess(ctx, []store.IssuedToken{{ID: c.AccessTokenID, ExpiresAt: c.AccessExpiresAt}})
	}
	toks, err := s.cfg.RefreshTokens.RevokeRefreshFamily(ctx, c.Hash, s.cfg.Clock())
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "revoke tokens of a replayed code", "err", err)
		return
	}
	s.revokeAccess(ctx, toks)
}

// identitySessionLive returns nil if the sign-in session sid, under which
// a code or refresh token was issued, still lasts; invalid_grant if it
// ended or is unknown; temporarily_unavailable (503) if the store cannot
// say, so a client retries rather than drops its grant.
func (s *Server) identitySessionLive(ctx context.Context, sid string) error {
	sess, err := s.cfg.IdentitySessions.IdentitySession(ctx, sid)
	switch {
	case errors.Is(err, store.ErrNotFound) || err == nil && !sess.EndedAt.IsZero():
		return ErrInvalidGrant.WithDescription("the sign-in session has ended")
	case err != nil:
		return ErrTemporarilyUnavailable.WithCause(err)
	}
	return nil
}
