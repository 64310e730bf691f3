package issuer

import (
	"slices"
	"strings"
	"time"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/store"
)

// userGrant is what a user token response is built from: the
// authorization code's or the refresh token's record, or for the hybrid
// flow's ID token the authorization request.
type userGrant struct {
	app      *directory.App
	user     *directory.User
	scopes   []string
	sid      string
	authTime time.Time
	nonce    string               // only for a code: its exchange and the hybrid response (OIDC Core §3.1.3.6, §3.3.2.11)
	jkt      string               // the DPoP key the access token is bound to; "": a bearer token
	auth     store.Authentication // how the user signed in: idp, tid, amr
}

// issued is a signed user token set, before the refresh token (if any)
// is stored.
type issued struct {
	resp      tokenResponse
	jti       string
	accessExp time.Time
}

// issueUserTokens signs the access token (user claims, SPEC §3) and, when
// openid was granted, the ID token; refresh is the refresh token to hand
// out with them ("" for none); jti, when set, is the access token's id.
func (s *Server) issueUserTokens(g userGrant, refresh, jti string) (issued, error) {
	now := s.cfg.Clock()
	c := s.userAccessClaims(now, g, jti)
	at, err := s.signAccessToken(c)
	if err != nil {
		return issued{}, ErrServerError.WithCause(err)
	}
	resp := tokenResponse{
		AccessToken:  at,
		TokenType:    tokenType(g.jkt),
		ExpiresIn:    int64(s.cfg.AccessTokenTTL.Seconds()),
		Scope:        strings.Join(g.scopes, " "),
		RefreshToken: refresh,
	}
	if slices.Contains(g.scopes, "openid") {
		if resp.IDToken, err = s.signIDToken(now, g, at, ""); err != nil {
			return issued{}, ErrServerError.WithCause(err)
		}
	}
	return issued{resp: resp, jti: c.ID, accessExp: time.Unix(c.Expiry, 0)}, nil
}
