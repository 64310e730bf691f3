package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/internal/loop"
	"github.com/erpgate/erpgate/store"
)

// janitorEvery is how often records that can no longer matter are
// deleted from the store. Every replica runs it; the deletes are
// idempotent.
const janitorEvery = 10 * time.Minute

// runJanitor sweeps the store at start and every janitorEvery until ctx
// ends, with the token lifetimes of the current config.
func (g *Gateway) runJanitor(ctx context.Context) {
	g.sweep(ctx)
	loop.Every(ctx, janitorEvery, g.sweep)
}

// sweep deletes what can no longer matter (sweepExpired); a failure is
// logged, and the next sweep tries again.
func (g *Gateway) sweep(ctx context.Context) {
	if err := sweepExpired(ctx, g.store, g.clock(), codeRetention(g.current().file)); err != nil && ctx.Err() == nil {
		g.logger.WarnContext(ctx, "deleting expired records failed", "err", err)
	}
	if err := g.sweepSessionClients(ctx); err != nil && ctx.Err() == nil { // backchannel.go
		g.logger.WarnContext(ctx, "deleting stale session clients failed", "err", err)
	}
}

// codeRetention is how long a spent authorization code is kept after it
// expired: as long as a refresh token issued from it may live, so that
// replaying the code still revokes what it issued (RFC 6749 §4.1.2).
func codeRetention(f *config.File) time.Duration {
	return max(f.Tokens.RefreshTokenTTL.D(), f.Tokens.PublicRefreshTokenTTL.D())
}

// sweepExpired deletes, at now:
//   - revocations of tokens past their expiry, which their exp refuses
//     anyway;
//   - refresh tokens past their expiry, whatever their state (presented
//     again, one is refused as unknown instead of as expired);
//   - authorization codes that expired more than codeRetention ago.
//
// Ended sessions stay: a logout's tombstone must outlive every token that
// carries its sid, and the store does not know when that is.
func sweepExpired(ctx context.Context, st store.Backend, now time.Time, codeRetention time.Duration) error {
	var errs []error
	if err := st.DeleteExpiredRevocations(ctx, now); err != nil {
		errs = append(errs, fmt.Errorf("revocations: %w", err))
	}
	if err := st.DeleteExpiredRefreshTokens(ctx, now); err != nil {
		errs = append(errs, fmt.Errorf("refresh tokens: %w", err))
	}
	if err := st.DeleteExpiredAuthCodes(ctx, now.Add(-codeRetention)); err != nil {
		errs = append(errs, fmt.Errorf("authorization codes: %w", err))
	}
	return errors.Join(errs...)
}
