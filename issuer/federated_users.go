package issuer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/federation"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/store"
)

// FederatedLinks keeps the links from identities at providers to local
// users (store.FederatedLinks).
type FederatedLinks interface {
	FederatedLink(ctx context.Context, provider, subject string) (store.FederatedLink, error)
	SaveFederatedLink(ctx context.Context, l store.FederatedLink) error
}

// FederatedUsers creates the users a provider's rules admit on their
// first sign-in, and finds users by email for linking
// (*gateway.Users, the registry the admin API creates users through).
type FederatedUsers interface {
	// CreateFederatedUser stores u, which has no password, so that
	// Directory has it when the call returns; store.ErrConflict when
	// a user has u.Login.
	CreateFederatedUser(ctx context.Context, u directory.User) error
	// EmailOwner is the login of the one user whose email is email,
	// ignoring case; "" when none has it, or several do (a link must not
	// pick one of them).
	EmailOwner(ctx context.Context, email string) (string, error)
}

// federatedUser is the local user of ident at p: the one its stored link
// names, or on a first sign-in the one p's rules link or create. reason
// (an audit reason, "idp_…") says why there is none; err is a store
// failure.
func (s *Server) federatedUser(ctx context.Context, remoteAddr string, p *Provider, ident federation.Identity) (*directory.User, string, error) {
	now := s.cfg.Clock()
	link, err := s.cfg.FederatedLinks.FederatedLink(ctx, p.ID, ident.Subject)
	switch {
	case err == nil:
		u := s.cfg.Directory.User(link.Login)
		if u == nil {
			// Disabled (the directory hands out no disabled user), or
			// removed: refused like any sign-in of such a user.
			return nil, "idp_user_disabled", nil
		}
		link.LastUsedAt = now
		if err := s.cfg.FederatedLinks.SaveFederatedLink(ctx, link); err != nil {
			return nil, "", err
		}
		return u, "", nil
	case !errors.Is(err, store.ErrNotFound):
		return nil, "", err
	}

	var ex federation.Existing
	if p.Rules.LinkExisting == federation.LinkByVerifiedEmail && ident.Email != "" {
		if ex.EmailOwner, err = s.cfg.FederatedUsers.EmailOwner(ctx, ident.Email); err != nil {
			return nil, "", err
		}
	}
	ex.LoginTaken = ident.Login != "" && s.cfg.Directory.User(ident.Login) != nil
	d := p.Rules.Decide(ident, ex)
	switch d.Do {
	case federation.DecideRefuse:
		return nil, "idp_" + d.Reason, nil
	case federation.DecideLink:
		if s.cfg.Directory.User(d.Login) == nil { // disabled since it was found
			return nil, "idp_user_disabled", nil
		}
	case federation.DecideCreate:
		err := s.cfg.FederatedUsers.CreateFederatedUser(ctx, directory.User{
			Login: d.Login, Name: ident.Name, Email: ident.Email, EmailVerified: ident.EmailVerified,
			Type: d.Type, Admin: d.Admin,
		})
		switch {
		case errors.Is(err, store.ErrConflict):
			// A disabled user has the login, or a concurrent first
			// sign-in of the same person created it a moment ago.
			if l, lerr := s.cfg.FederatedLinks.FederatedLink(ctx, p.ID, ident.Subject); lerr == nil && l.Login == d.Login {
				if u := s.cfg.Directory.User(d.Login); u != nil {
					return u, "", nil
				}
			}
			return nil, "idp_" + federation.RefuseLoginTaken, nil
		case errors.Is(err, ErrUserInvalid):
			return nil, "idp_" + federation.RefuseNoLogin, nil
		case err != nil:
			return nil, "", err
		}
	}
	err = s.cfg.FederatedLinks.SaveFederatedLink(ctx, store.FederatedLink{Provider: p.ID, Subject: ident.Subject,
		Login: d.Login, CreatedAt: now, LastUsedAt: now})
	if err != nil {
		return nil, "", fmt.Errorf("link %s to %s: %w", p.ID, d.Login, err)
	}
	how := "linked_by_email"
	if d.Do == federation.DecideCreate {
		how = "created"
	}
	s.cfg.Audit.Log(ctx, audit.Event{Name: audit.FederatedLinked, Subject: d.Login, Reason: how,
		RequestID: requestid.From(ctx), RemoteAddr: remoteAddr, Attrs: []slog.Attr{slog.String("idp", p.ID)}})
	u := s.cfg.Directory.User(d.Login)
	if u == nil {
		return nil, "idp_user_disabled", nil
	}
	return u, "", nil
}

// ErrUserInvalid is what FederatedUsers.CreateFederatedUser returns
// (wrapped) for a user the registry's rules refuse (a login it cannot
// take).
var ErrUserInvalid = errors.New("issuer: the provider's user is not a valid local user")
