package issuer

import (
	"context"

	"github.com/erpgate/erpgate/store"
)

// SessionClients remembers which apps were issued tokens for which user
// session, so that when the session ends each of them is sent a
// back-channel logout token (OpenID Connect Back-Channel Logout 1.0 §2.5;
// gateway/backchannel.go). The store implements it.
type SessionClients interface {
	RecordSessionClient(ctx context.Context, c store.SessionClient) error
}

// recordSessionClient notes that g's app gets tokens for g's session,
// before they leave: an app whose tokens were not noted would not hear of
// the session's end, so a failure refuses the request (try again) rather
// than issue them. Only user sessions are noted; client credentials and
// reference tokens have no sign-in session to log out of.
func (s *Server) recordSessionClient(ctx context.Context, g userGrant) error {
	if s.cfg.SessionClients == nil || g.sid == "" || g.user == nil {
		return nil
	}
	err := s.cfg.SessionClients.RecordSessionClient(ctx, store.SessionClient{
		SessionID: g.sid, ClientID: g.app.ID, Subject: g.user.Login, SeenAt: s.cfg.Clock(),
	})
	if err != nil {
		return ErrTemporarilyUnavailable.WithCause(err)
	}
	return nil
}
