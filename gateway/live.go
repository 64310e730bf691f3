package gateway

import (
	"context"

	"github.com/erpgate/erpgate/live"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/session"
)

// newLive builds the registry of live connections (WebSockets and
// streams, package live) once per process: the proxy of every snapshot
// registers in it, so a reload loses no registration. Every session end
// this process sees — its own and, through SyncEnded (notified at once on
// PostgreSQL), every other replica's — and every revocation it learns
// closes the connections of that session or token; runLoops starts its
// recheck for what has no event.
func (g *Gateway) newLive() (*live.Registry, error) {
	reg, err := live.New(live.Config{
		Judge: g.authority, Clock: g.clock, Logger: g.logger, Audit: g.audit,
		Metrics: metrics.NewLive(g.registry),
	})
	if err != nil {
		return nil, err
	}
	g.sessions.OnEnd(func(ctx context.Context, e session.Ended) {
		reg.SessionEnded(ctx, e.Info)
	})
	g.revoked.OnRevoke(func(jti string) { reg.TokenRevoked(context.Background(), jti) })
	return reg, nil
}
