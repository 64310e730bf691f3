package loop_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/erpgate/erpgate/internal/loop"
)

// The bubble's fake clock advances only when every goroutine in it is
// blocked, so the counts below are exact, not wall-clock guesses.

func TestEveryCallsOncePerInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		calls := 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			loop.Every(ctx, time.Minute, func(context.Context) { calls++ })
		}()

		time.Sleep(time.Minute - time.Nanosecond)
		synctest.Wait()
		if calls != 0 {
			t.Fatalf("before the first interval: %d calls, want 0", calls)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if calls != 1 {
			t.Fatalf("after one interval: %d calls, want 1", calls)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if calls != 3 {
			t.Fatalf("after three intervals: %d calls, want 3", calls)
		}

		cancel()
		<-done
		time.Sleep(time.Hour)
		if calls != 3 {
			t.Fatalf("after ctx ended: %d calls, want 3", calls)
		}
	})
}

func TestEveryPassesItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type key struct{}
		ctx, cancel := context.WithCancel(context.WithValue(t.Context(), key{}, "v"))
		defer cancel()
		var got any
		go loop.Every(ctx, time.Second, func(ctx context.Context) {
			got = ctx.Value(key{})
			cancel()
		})
		time.Sleep(time.Second)
		synctest.Wait()
		if got != "v" {
			t.Fatalf("fn got context value %v, want v", got)
		}
	})
}

func TestEveryReturnsWhenContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		loop.Every(ctx, time.Second, func(context.Context) {
			t.Error("fn called after ctx ended")
		})
	})
}
