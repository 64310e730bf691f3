package loop

import (
	"context"
	"time"
)

// Every calls fn every interval until ctx ends, and returns then. The
// first call is one interval after Every starts; a caller that wants one
// at once makes it before calling Every. Calls never overlap: a tick that
// comes while fn runs is dropped, as time.Ticker drops it. interval must
// be positive.
func Every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}
