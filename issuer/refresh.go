package issuer

import (
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"time"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/store"
)

// RefreshTokens keeps refresh tokens (store.RefreshTokens without the
// janitor's delete): the authorization code grant saves the first of a
// family, the refresh grant rotates it, introspection and revocation look
// it up, and a replayed code, a reused token, revocation, logout and a
// password change revoke what they must.
type RefreshTokens interface {
	SaveRefreshToken(ctx context.Context, t store.RefreshToken) error
	RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error)
	RotateRefreshToken(ctx context.Context, hash string, now time.Time, successor []byte, next store.RefreshToken) (store.RefreshToken, error)
	RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) ([]store.IssuedToken, error)
	RevokeSessionRefreshTokens(ctx context.Context, sessionID string, now time.Time) ([]store.IssuedToken, error)
	RevokeSubjectRefreshTokens(ctx context.Context, subject string, now time.Time) ([]store.IssuedToken, error)
}

// refreshToken is the refresh token grant (RFC 6749 §6) with rotation
// (RFC 9700 §4.14.2): every use returns a new refresh token; the old one
// is spent. A retry with the just-rotated token inside refresh_reuse_grace
// returns the same successor pair (so concurrent refreshes by one client
// don't log its user out); any later reuse is treated as theft and
// revokes the whole family with the access tokens issued from it.
func (s *Server) refreshToken(ctx context.Context, app *directory.App, form url.Values, jkt string) (*grant, error) {
	raw := form.Get("refresh_token")
	if raw == "" {
		return nil, ErrInvalidRequest.WithDescription("refresh_token is required")
	}
	hash := hashToken(raw)
	old, err := s.cfg.RefreshTokens.RefreshToken(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrInvalidGrant.WithDescription("unknown refresh token")
	case err != nil:
		return nil, ErrTemporarilyUnavailable.WithCause(err)
	}
	now := s.cfg.Clock()
	switch {
	case old.ClientID != app.ID:
		// RFC 6749 §10.4: bound to the client it was issued to.
		return nil, ErrInvalidGrant.WithDescription("the refresh token was issued to another client")
	case old.DPoPJKT != "" && jkt != old.DPoPJKT:
		// RFC 9449 §5: a bound refresh token needs a proof by its key,
		// on every use (a retry within the reuse grace too).
		return nil, ErrInvalidDPoPProof.WithDescription("the refresh token is bound to a DPoP key; send a proof made with it")
	case !old.RevokedAt.IsZero():
		return nil, ErrInvalidGrant.WithDescription("the refresh token was revoked")
	case !now.Before(old.ExpiresAt):
		return nil, ErrInvalidGrant.WithDescription("the refresh token expired")
	case !old.RotatedAt.IsZero():
		return s.reused(ctx, old, raw)
	}
	scopes := old.Scopes
	if sc := form.Get("scope"); sc != "" {
		// RFC 6749 §6: the scope may narrow, never widen.
		req, ok := parseScope(sc)
		if !ok {
			return nil, ErrInvalidScope.WithDescription("malformed scope parameter")
		}
		for _, v := range req {
			if !slices.Contains(old.Scopes, v) {
				return nil, ErrInvalidScope.WithDescription("scope " + v + " was not granted originally")
			}
		}
		scopes = req
	}
	if err := s.identitySessionLive(ctx, old.SessionID); err != nil {
		return nil, err
	}
	user := s.cfg.Directory.User(old.Subject)
	switch {
	case user == nil:
		return nil, ErrInvalidGrant.WithDescription("the user no longer exists")
	case !app.AllowsUserType(user.Type):
		return nil, ErrInvalidGrant.WithDescription("the application no longer allows this user")
	}
	// A scope the app lost since the first grant is not issued again.
	scopes = authority.Scopes(app, scopes)
	next := newSecret()
	g := userGrant{app: app, user: user, scopes: scopes, sid: old.SessionID, authTime: old.AuthTime, jkt: jkt, auth: old.Auth}
	if err := s.recordSessionClient(ctx, g); err != nil {
		return nil, err
	}
	out, err := s.issueUserTokens(g, next, "")
	if err != nil {
		return nil, err
	}
	sealed, err := seal(raw, out.resp)
	if err != nil {
		return nil, ErrServerError.WithCause(err)
	}
	stored, err := s.cfg.RefreshTokens.RotateRefreshToken(ctx, hash, now, sealed, store.RefreshToken{
		Hash: hashToken(next), FamilyID: old.FamilyID, ClientID: app.ID, Subject: user.Login,
		SessionID: old.SessionID, Scopes: scopes, AuthTime: old.AuthTime, Auth: old.Auth, CreatedAt: now,
		ExpiresAt: now.Add(s.refreshTTL(app)), AccessTokenID: out.jti, AccessExpiresAt: out.accessExp,
		DPoPJKT: cmp.Or(old.DPoPJKT, refreshBinding(app, jkt)),
	})
	switch {
	case errors.Is(err, store.ErrRotated):
		// Another request rotated it a moment ago; ours is discarded.
		return s.reused(ctx, stored, raw)
	case errors.Is(err, store.ErrRevoked):
		return nil, ErrInvalidGrant.WithDescription("the refresh token was revoked")
	case err != nil:
		return nil, ErrTemporarilyUnavailable.WithCause(err)
	}
	return &grant{resp: out.resp, subject: user.Login, session: old.SessionID}, nil
}

// reused handles a rotated refresh token presented again.
func (s *Server) reused(ctx context.Context, old store.RefreshToken, raw string) (*grant, error) {
	if s.cfg.Clock().Sub(old.RotatedAt) <= s.cfg.RefreshReuseGrace {
		var resp tokenResponse
		if err := open(raw, old.Successor, &resp); err == nil {
			return &grant{resp: resp, subject: old.Subject, session: old.SessionID}, nil
		}
	}
	toks, err := s.cfg.RefreshTokens.RevokeRefreshFamily(ctx, old.FamilyID, s.cfg.Clock())
	if err != nil {
		return nil, ErrTemporarilyUnavailable.WithCause(err)
	}
	s.revokeAccess(ctx, toks)
	s.cfg.Logger.WarnContext(ctx, "refresh token reused after rotation; family revoked",
		"client_id", old.ClientID, "subject", old.Subject, "session", old.SessionID)
	return nil, ErrInvalidGrant.WithDescription("refresh token already used; its grant is revoked")
}

// seal encrypts the successor response with a key derived from the
// presented refresh token (AES-256-GCM), so only a holder of that token
// can read it back during the grace window, and the store never holds a
// usable token in clear.
func seal(token string, resp tokenResponse) ([]byte, error) {
	plain, err := json.Marshal(resp)
	if err != nil {
		return nil, err
	}
	aead, err := successorAEAD(token)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, plain, nil), nil
}

func open(token string, sealed []byte, resp *tokenResponse) error {
	aead, err := successorAEAD(token)
	if err != nil {
		return err
	}
	if len(sealed) < aead.NonceSize() {
		return errors.New("sealed successor too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return err
	}
	return json.Unmarshal(plain, resp)
}

func successorAEAD(token string) (cipher.AEAD, error) {
	// A separate derivation from the stored hash (hashToken), so the
	// stored hash is not the key.
	key := sha256.Sum256([]byte("erpgate refresh successor\x00" + token))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// refreshTTL is how long a refresh token issued to app lives.
func (s *Server) refreshTTL(app *directory.App) time.Duration {
	if app.Public {
		return s.cfg.PublicRefreshTokenTTL
	}
	return s.cfg.RefreshTokenTTL
}

// revokeAccess puts access tokens on the revocation list, logging a
// failure: those issued from a replayed code, a reused refresh family, a
// session logged out or a user whose password changed.
func (s *Server) revokeAccess(ctx context.Context, toks []store.IssuedToken) {
	for _, t := range toks {
		if t.ID == "" {
			continue
		}
		if err := s.cfg.Revocations.Revoke(ctx, t.ID, t.ExpiresAt); err != nil {
			s.cfg.Logger.ErrorContext(ctx, "revoke access token", "err", err)
		}
	}
}
