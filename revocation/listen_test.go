package revocation

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store/memory"
)

// OnRevoke hears each revocation once as this process learns it: its own
// Revoke at once, another process's with the Sync that reads it, and not
// again when a later Sync re-reads it (the sync window overlaps).
func TestOnRevokeHearsEachRevocationOnce(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l, err := Open(ctx, st, func() time.Time { return now }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var heard []string
	l.OnRevoke(func(jti string) { heard = append(heard, jti) })

	if err := l.Revoke(ctx, "mine", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(heard, []string{"mine"}) {
		t.Fatalf("after Revoke heard %v, want [mine]", heard)
	}
	now = now.Add(time.Second)
	if err := st.Revoke(ctx, "theirs", now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if err := st.Revoke(ctx, "expired", now, now); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second sync re-reads both (syncOverlap)
		if err := l.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(heard, []string{"mine", "theirs"}) {
		t.Fatalf("after two syncs heard %v, want [mine theirs]: each once, an expired one never", heard)
	}
}
