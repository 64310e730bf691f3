package issuer

import (
	"net/url"
	"strings"

	"github.com/erpgate/erpgate/directory"
)

// clientCredentials is the client credentials grant (RFC 6749 §4.4):
// confidential apps with a system user get a token acting as that user,
// with a session id of its own and no refresh token (§4.4.3); bound to
// the DPoP key jkt unless it is "".
func (s *Server) clientCredentials(app *directory.App, form url.Values, jkt string) (*grant, error) {
	if app.Public {
		return nil, ErrUnauthorizedClient.WithDescription("public applications cannot use client credentials")
	}
	if app.SystemUser == "" {
		return nil, ErrUnauthorizedClient.WithDescription("the application has no system user, so client credentials are not allowed")
	}
	scopes, err := grantScopes(app, form.Get("scope"), false)
	if err != nil {
		return nil, err
	}
	user := s.cfg.Directory.User(app.SystemUser)
	if user == nil || user.Type != directory.TypeSystem {
		return nil, ErrUnauthorizedClient.WithDescription("the application's system user does not exist")
	}
	now := s.cfg.Clock()
	c := s.tokenClaims().SystemAccess(now, app, scopes, user)
	c.Confirmation = confirmation(jkt)
	tok, err := s.signAccessToken(c)
	if err != nil {
		return nil, ErrServerError.WithCause(err)
	}
	return &grant{
		resp: tokenResponse{
			AccessToken: tok,
			TokenType:   tokenType(jkt),
			ExpiresIn:   int64(s.cfg.AccessTokenTTL.Seconds()),
			Scope:       strings.Join(scopes, " "),
		},
		subject: user.Login,
		session: c.SessionID,
	}, nil
}
