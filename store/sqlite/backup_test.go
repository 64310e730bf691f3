package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBackupWhileWriting: a backup taken while writers keep inserting is
// a store that opens, passes its check, holds every write committed
// before the backup began, and is not overwritten by a second backup.
func TestBackupWhileWriting(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	defer s.Close()
	now := time.Now().Truncate(time.Millisecond)
	revoke := func(jti string) error {
		return s.Revoke(ctx, jti, now.Add(time.Hour), now)
	}
	for i := range 200 {
		if err := revoke(fmt.Sprintf("before-%d", i)); err != nil {
			t.Fatal(err)
		}
	}

	// Writers run during the backup.
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var written atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for i := 0; wctx.Err() == nil; i++ {
				if err := revoke(fmt.Sprintf("during-%d-%d", w, i)); err != nil && wctx.Err() == nil {
					t.Errorf("write during the backup: %v", err)
					return
				}
				written.Add(1)
			}
		})
	}
	for written.Load() < 50 { // the writers are under way
		time.Sleep(time.Millisecond)
	}
	out := filepath.Join(t.TempDir(), "backup.db")
	committed := written.Load() // each counted write had committed
	err := s.Backup(ctx, out)
	stop()
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, mode %v; want 0600 (it holds the signing keys)", err, fi.Mode().Perm())
	}

	cp, err := Open(ctx, out)
	if err != nil {
		t.Fatalf("open the copy: %v", err)
	}
	defer cp.Close()
	revs, err := cp.RevokedSince(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	during := 0
	for _, r := range revs {
		seen[r.ID] = true
		if len(r.ID) > 7 && r.ID[:7] == "during-" {
			during++
		}
	}
	for i := range 200 {
		if !seen[fmt.Sprintf("before-%d", i)] {
			t.Fatalf("the copy lacks before-%d, written before the backup", i)
		}
	}
	if int64(during) < committed || int64(during) > written.Load() {
		t.Errorf("the copy has %d writes of the writers; want at least the %d committed before it began, at most the %d made", during, committed, written.Load())
	}

	// A second backup to the same file is refused and leaves it intact.
	before, _ := os.ReadFile(out)
	if err := s.Backup(ctx, out); !errors.Is(err, ErrBackupExists) {
		t.Fatalf("second Backup to %s: %v, want ErrBackupExists", out, err)
	}
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Fatal("a refused backup changed the existing file")
	}
	// A directory that does not exist fails and leaves nothing.
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "b.db")
	if err := s.Backup(ctx, missing); err == nil {
		t.Fatal("Backup into a missing directory succeeded")
	}
}
