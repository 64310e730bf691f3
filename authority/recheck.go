package authority

import "context"

// Recheck judges again a caller this authority let through, for a request
// that outlives its call — a WebSocket or a stream (package live): is its
// token revoked, do its app and user still allow it, was its session
// ended for good. It is judge's answer without what only the first call
// needs: the token's signature and DPoP proof were checked then and do
// not change, the audience is the route's, and no session is opened or
// slid (a live connection is not a call). Revocations and the directory
// are in memory; the session is read as Session reads it (the cache
// first). A ReasonUnavailable refusal means the store did not answer,
// not that the caller may no longer act.
func (a *Authority) Recheck(ctx context.Context, caller *Caller) *Refusal {
	c := caller.Claims
	// A reference token's revocation is in the list too, under its
	// revocation id (reftoken.RevocationID), which is its claims' ID.
	if a.cfg.Revocations.Revoked(c.ID) {
		return refuse(ReasonRevoked, "jti %s is revoked", c.ID)
	}
	again := &Caller{Claims: c, Reference: caller.Reference}
	if ref := a.live(again); ref != nil {
		return ref
	}
	return a.session(ctx, again, Door{})
}
