package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/store"
)

// enforce ends what a directory change takes away (SPEC §5): the kill
// switch ends a disabled or removed app's sessions (reason app_disabled,
// slots freed); a user removed, turned into another type, or no longer
// allowed by an app, or disabled, loses those sessions (reason admin, or
// access_withdrawn for the app's user types); a user removed, disabled or
// turned into another type, and a password change, revokes the user's
// refresh tokens (and the access tokens issued from them) and ends their
// identity sessions. Tokens are refused
// everywhere by the authority, which reads the same directory; this
// frees the slots and makes the refusal final.
//
// A failure is logged and audited, never fatal: the authority already
// refuses the credentials, and the reaper frees idle slots.
func (g *Gateway) enforce(ctx context.Context, ch directory.Changes) { g.enforcer().apply(ctx, ch) }

// enforcer is what enforce works with: the gateway's parts, or the
// CLI's, which changes users with no gateway running (NewUsers).
type enforcer struct {
	sessions interface {
		List(ctx context.Context) ([]session.Info, error)
		End(ctx context.Context, id, reason string) (session.Info, error)
	}
	directory *directory.Table
	grants    interface {
		RevokeSubjectRefreshTokens(ctx context.Context, subject string, now time.Time) ([]store.IssuedToken, error)
		EndSubjectIdentitySessions(ctx context.Context, subject string, now time.Time) ([]string, error)
	}
	revoked interface {
		Revoke(ctx context.Context, jti string, expiresAt time.Time) error
	}
	audit  *audit.Logger
	logger *slog.Logger
	clock  func() time.Time
}

func (g *Gateway) enforcer() *enforcer {
	return &enforcer{sessions: g.sessions, directory: g.directory, grants: g.store, revoked: g.revoked,
		audit: g.audit, logger: g.logger, clock: g.clock}
}

// apply is enforce.
func (g *enforcer) apply(ctx context.Context, ch directory.Changes) {
	if len(ch.Apps) == 0 && len(ch.Users) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	var open []session.Info // listed once, on the first need
	listed := false
	sessions := func() []session.Info {
		if !listed {
			listed = true
			var err error
			if open, err = g.sessions.List(ctx); err != nil {
				g.logger.ErrorContext(ctx, "enforce: list sessions", "err", err)
			}
		}
		return open
	}
	end := func(s session.Info, reason string) {
		if _, err := g.sessions.End(ctx, s.ID, reason); err != nil {
			g.logger.ErrorContext(ctx, "enforce: end session", "session", s.ID, "reason", reason, "err", err)
		}
	}
	for _, c := range ch.Apps {
		if c.Old == nil {
			continue // a new app has nothing to take away
		}
		gone := c.New == nil || c.Old.Enabled && !c.New.Enabled
		for _, s := range sessions() {
			if s.ClientID != c.Old.ID {
				continue
			}
			if gone {
				end(s, store.EndAppDisabled)
				continue
			}
			if u := g.directory.User(s.Subject); u != nil && s.Kind == store.SessionUser && !c.New.AllowsUserType(u.Type) {
				end(s, store.EndAccessWithdrawn)
			}
		}
	}
	for _, c := range ch.Users {
		if c.Old == nil {
			continue // a new user has nothing to take away
		}
		if c.New == nil || c.New.Type != c.Old.Type || c.New.Disabled && !c.Old.Disabled {
			for _, s := range sessions() {
				if s.Subject == c.Old.Login {
					end(s, store.EndAdmin)
				}
			}
		}
		if c.New == nil || c.New.PasswordHash != c.Old.PasswordHash || c.New.Type != c.Old.Type || c.New.Disabled && !c.Old.Disabled {
			g.signOutEverywhere(ctx, c.Old.Login)
		}
	}
}

// signOutEverywhere revokes login's refresh tokens, with the access
// tokens issued from them, and ends their identity sessions (single
// sign-on): after a password change every device signs in again.
func (g *enforcer) signOutEverywhere(ctx context.Context, login string) {
	now := g.clock()
	toks, err := g.grants.RevokeSubjectRefreshTokens(ctx, login, now)
	if err != nil {
		g.logger.ErrorContext(ctx, "password change: revoke refresh tokens", "subject", login, "err", err)
	}
	for _, t := range toks {
		if t.ID == "" {
			continue
		}
		if err := g.revoked.Revoke(ctx, t.ID, t.ExpiresAt); err != nil {
			g.logger.ErrorContext(ctx, "password change: revoke access token", "subject", login, "err", err)
		}
	}
	ended, err := g.grants.EndSubjectIdentitySessions(ctx, login, now)
	if err != nil {
		g.logger.ErrorContext(ctx, "password change: end identity sessions", "subject", login, "err", err)
	}
	// With their ERP sessions, as the account page's change does: through
	// the manager, so the apps signed in with them are told (back-channel
	// logout) and the sessions' tokens are refused.
	for _, sid := range ended {
		if _, err := g.sessions.End(ctx, sid, store.EndLogout); err != nil {
			g.logger.ErrorContext(ctx, "password change: end session", "session", sid, "err", err)
		}
	}
	g.audit.Log(ctx, audit.Event{Name: audit.Logout, Subject: login, Reason: "credentials_changed",
		Attrs: []slog.Attr{slog.Int("refresh_tokens", len(toks)), slog.Int("identity_sessions", len(ended))}})
}
