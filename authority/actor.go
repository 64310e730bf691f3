package authority

import "github.com/erpgate/erpgate/claims"

// exchanged checks what an exchanged token (RFC 8693) depends on beyond
// its own claims. The tokens it was exchanged from must not be revoked:
// revoking a token revokes what was traded for it. The current actor
// (§4.1: the outermost act.sub), the app that exchanged it, must still
// exist and be enabled, so its kill switch ends the tokens it got by
// exchange as it ends its own; the gateway (claims.GatewayActor) is
// always itself. Prior actors, in nested act claims, "are informational
// only and are not to be considered in access control decisions" (§4.1).
func (a *Authority) exchanged(c *claims.Access) *Refusal {
	for _, jti := range c.ExchangedFrom {
		if a.cfg.Revocations.Revoked(jti) {
			return refuse(ReasonRevoked, "exchanged from jti %s, which is revoked", jti)
		}
	}
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
