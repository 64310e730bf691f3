package authority

import "github.com/erpgate/erpgate/claims"

// actor checks the current actor of an exchanged token (RFC 8693 §4.1:
// the outermost act.sub): the app that exchanged it must still exist and
// be enabled, so its kill switch ends the tokens it got by exchange as it
// ends its own. The gateway (claims.GatewayActor) is always itself.
// Prior actors, in nested act claims, "are informational only and are
// not to be considered in access control decisions" (§4.1).
func (a *Authority) actor(c *claims.Access) *Refusal {
	if c.Actor == nil || c.Actor.Subject == claims.GatewayActor {
		return nil
	}
	app := a.cfg.Directory.App(c.Actor.Subject)
	switch {
	case app == nil:
		return refuse(ReasonAppUnknown, "actor app %q does not exist", c.Actor.Subject)
	case !app.Enabled:
		return refuse(ReasonAppDisabled, "actor app %q is disabled", c.Actor.Subject)
	}
	return nil
}
