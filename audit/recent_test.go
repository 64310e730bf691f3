package audit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
)

func names(ls []Logged) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Name
	}
	return out
}

// TestRecentRing: the ring keeps the last n events, newest first, and
// drops the oldest once full.
func TestRecentRing(t *testing.T) {
	r := NewRecent(3)
	l := New(slog.DiscardHandler).KeepIn(r)
	if got := r.Latest(0); len(got) != 0 {
		t.Fatalf("empty ring = %v", names(got))
	}
	for i := range 5 {
		l.Log(context.Background(), Event{Name: fmt.Sprint("e", i)})
		want := []string{}
		for j := i; j >= 0 && j > i-3; j-- {
			want = append(want, fmt.Sprint("e", j))
		}
		if got := names(r.Latest(0)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after e%d: %v, want %v", i, got, want)
		}
	}
	if got := names(r.Latest(2)); fmt.Sprint(got) != "[e4 e3]" {
		t.Errorf("Latest(2) = %v", got)
	}
	if got := names(r.Latest(10)); len(got) != 3 {
		t.Errorf("Latest(10) = %v, want the 3 kept", got)
	}
	if got := r.Latest(1)[0]; got.Time.IsZero() {
		t.Error("a kept event has no time")
	}
}

// TestRecentKeepsFilteredAndCopies: the ring records events the log's
// level leaves out, keeps them apart from the caller's slices, and the
// copies ReportErrors makes keep recording.
func TestRecentKeepsFilteredAndCopies(t *testing.T) {
	r := NewRecent(10)
	quiet := slog.NewJSONHandler(nil, &slog.HandlerOptions{Level: slog.LevelError}) // info is filtered: never writes
	l := New(quiet).KeepIn(r).ReportErrors(func(error) {})
	attrs := []slog.Attr{slog.String("target", "a")}
	l.Log(context.Background(), Event{Name: AdminChange, Subject: "admin", Attrs: attrs})
	attrs[0] = slog.String("target", "changed")
	got := r.Latest(0)
	if len(got) != 1 || got[0].Subject != "admin" || got[0].Attrs[0].Value.String() != "a" {
		t.Fatalf("kept %+v", got)
	}
	var nilLogger *Logger
	nilLogger.KeepIn(r).Log(context.Background(), Event{Name: Logout})
	if got := names(r.Latest(1)); got[0] != Logout {
		t.Errorf("a nil logger's copy kept %v", got)
	}
}

// TestRecentConcurrent: many writers and a reader, under -race.
func TestRecentConcurrent(t *testing.T) {
	r := NewRecent(50)
	l := New(slog.DiscardHandler).KeepIn(r)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 100 {
				l.Log(context.Background(), Event{Name: fmt.Sprint(w, "-", i)})
				_ = r.Latest(5)
			}
		})
	}
	wg.Wait()
	if n := len(r.Latest(0)); n != 50 {
		t.Errorf("kept %d events, want 50", n)
	}
}
