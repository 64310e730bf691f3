package revocation

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store/memory"
)

func TestListSyncsAndExpires(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	// A revocation made before the list opened is loaded.
	if err := st.Revoke(ctx, "old", now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	l, err := Open(ctx, st, clock, logger)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Revoked("old") {
		t.Fatal("revocation from before Open not loaded")
	}
	// Revoke is visible at once, and persisted.
	if err := l.Revoke(ctx, "mine", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !l.Revoked("mine") {
		t.Fatal("own revocation not visible at once")
	}
	if ok, _ := st.Revoked(ctx, "mine"); !ok {
		t.Fatal("own revocation not written to the store")
	}
	// Another process's revocation arrives with the next sync.
	now = now.Add(time.Second)
	if err := st.Revoke(ctx, "theirs", now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if l.Revoked("theirs") {
		t.Fatal("revoked before any sync: the list must not read the store per call")
	}
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !l.Revoked("theirs") {
		t.Fatal("other process's revocation not picked up by Sync")
	}
	// Entries leave once the token would have expired anyway.
	now = now.Add(2 * time.Minute)
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if l.Revoked("theirs") || !l.Revoked("mine") {
		t.Fatal("expired entry kept, or live entry dropped")
	}
}
