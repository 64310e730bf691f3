package loop_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/erpgate/erpgate/internal/loop"
)

// The bubble's fake clock advances only when every goroutine in it is
// blocked, so the counts below are exact, not wall-clock guesses. (The
// fake clock is no synchronisation for the race detector: the count is
// atomic.)

func TestEveryCallsOncePerInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var calls atomic.Int32
		done := make(chan struct{})
		go func() {
			defer close(done)
			loop.Every(ctx, time.Minute, func(context.Context) { calls.Add(1) })
		}()

		time.Sleep(time.Minute - time.Nanosecond)
		synctest.Wait()
		if n := calls.Load(); n != 0 {
			t.Fatalf("before the first interval: %d calls, want 0", n)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if n := calls.Load(); n != 1 {
			t.Fatalf("after one interval: %d calls, want 1", n)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if n := calls.Load(); n != 3 {
			t.Fatalf("after three intervals: %d calls, want 3", n)
		}

		cancel()
		<-done
		time.Sleep(time.Hour)
		if n := calls.Load(); n != 3 {
			t.Fatalf("after ctx ended: %d calls, want 3", n)
		}
	})
}

func TestEveryPassesItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type key struct{}
		ctx, cancel := context.WithCancel(context.WithValue(t.Context(), key{}, "v"))
		defer cancel()
		values := make(chan any, 1)
		go loop.Every(ctx, time.Second, func(ctx context.Context) {
			values <- ctx.Value(key{})
			cancel()
		})
		if got := <-values; got != "v" { // the fake clock moves to the first tick
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
