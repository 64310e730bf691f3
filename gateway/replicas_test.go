package gateway

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// syncOnChange routes each reported topic to its sync, ignores topics it
// has no sync for, and folds a burst of reports into at most one more
// sync, started after the running one.
func TestSyncOnChange(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var revocations, sessions atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	syncs := map[string]func(context.Context) error{
		"revocations": func(context.Context) error {
			revocations.Add(1)
			started <- struct{}{}
			<-release
			return nil
		},
		"sessions": func(context.Context) error { sessions.Add(1); return nil },
	}
	listening := make(chan func(string))
	done := make(chan struct{})
	go func() {
		defer close(done)
		syncOnChange(ctx, func(ctx context.Context, changed func(string), _ *slog.Logger) {
			listening <- changed
			<-ctx.Done()
		}, syncs, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	changed := <-listening

	changed("revocations")
	<-started // the first sync runs and blocks
	for range 100 {
		changed("revocations") // must not block
	}
	changed("apps") // no sync: ignored
	changed("sessions")
	close(release)
	<-started // exactly one more for the burst
	waitFor(t, func() bool { return sessions.Load() == 1 })
	time.Sleep(50 * time.Millisecond)
	if n := revocations.Load(); n != 2 {
		t.Errorf("revocations synced %d times for one report and a burst during its sync; want 2", n)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("syncOnChange did not return after its context ended")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
