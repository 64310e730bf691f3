package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// openBatchStore opens a store with a scratch table t(k TEXT PRIMARY KEY).
func openBatchStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "erpgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.writer.ExecContext(t.Context(), "CREATE TABLE t (k TEXT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	return s
}

func insert(k string) func(context.Context, *writeTx) error {
	return func(ctx context.Context, tx *writeTx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO t (k) VALUES (?)", k)
		return err
	}
}

func keys(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	rows, err := s.reader.QueryContext(t.Context(), "SELECT k FROM t")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		out[k] = true
	}
	return out
}

// holdWriter runs a write that blocks until the returned func is called,
// so the writes queued meanwhile share the next batch.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, gate := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.inTx(context.Background(), func(ctx context.Context, tx *writeTx) error {
			close(started)
			<-gate
			return insert("holder")(ctx, tx)
		})
	}()
	<-started
	return func() {
		close(gate)
		if err := <-done; err != nil {
			t.Errorf("holder: %v", err)
		}
	}
}

// waitQueued waits until n operations wait in the writer's queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(s.writes.ops) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d operations queued, want %d", len(s.writes.ops), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Operations that share a transaction still succeed or fail alone: a
// failing one (its own statement error, an error after a write, a
// panic) leaves nothing behind, and the others commit.
func TestBatchOperationsFailAlone(t *testing.T) {
	s := openBatchStore(t)
	release := holdWriter(t, s)

	errMine := errors.New("decided against it")
	ops := map[string]func(context.Context, *writeTx) error{
		"ok-1": insert("ok-1"),
		"dup": func(ctx context.Context, tx *writeTx) error { // the second insert fails
			if err := insert("dup")(ctx, tx); err != nil {
				return err
			}
			return insert("dup")(ctx, tx)
		},
		"refused": func(ctx context.Context, tx *writeTx) error {
			if err := insert("refused")(ctx, tx); err != nil {
				return err
			}
			return errMine
		},
		"panics": func(ctx context.Context, tx *writeTx) error {
			if err := insert("panics")(ctx, tx); err != nil {
				return err
			}
			panic("boom")
		},
		"ok-2": insert("ok-2"),
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := map[string]error{}
	for name, f := range ops {
		wg.Go(func() {
			err := s.inTx(context.Background(), f)
			mu.Lock()
			errs[name] = err
			mu.Unlock()
		})
	}
	waitQueued(t, s, len(ops))
	release()
	wg.Wait()

	for name, wantErr := range map[string]bool{"ok-1": false, "ok-2": false, "dup": true, "refused": true, "panics": true} {
		if (errs[name] != nil) != wantErr {
			t.Errorf("%s: err = %v, want error %v", name, errs[name], wantErr)
		}
	}
	if !errors.Is(errs["refused"], errMine) {
		t.Errorf("refused: err = %v, want its own error back", errs["refused"])
	}
	got := keys(t, s)
	for k, want := range map[string]bool{"holder": true, "ok-1": true, "ok-2": true, "dup": false, "refused": false, "panics": false} {
		if got[k] != want {
			t.Errorf("row %q stored = %v, want %v (rows %v)", k, got[k], want, got)
		}
	}
}

// A caller that gives up while its write still waits in the queue gets
// ctx.Err() and the write never happens; the writes queued with it
// still commit.
func TestBatchAbandonedWriteNeverRuns(t *testing.T) {
	s := openBatchStore(t)
	release := holdWriter(t, s)

	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- s.inTx(ctx, insert("abandoned")) }()
	kept := make(chan error, 1)
	go func() { kept <- s.inTx(context.Background(), insert("kept")) }()
	waitQueued(t, s, 2)
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned write: err = %v, want context.Canceled", err)
	}
	release()
	if err := <-kept; err != nil {
		t.Fatalf("kept write: %v", err)
	}
	if got := keys(t, s); got["abandoned"] || !got["kept"] {
		t.Fatalf("rows %v: want kept and not abandoned", got)
	}
}

// Close lets the queued writes finish; a write after Close is refused.
func TestBatchCloseFinishesQueuedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "erpgate.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.writer.ExecContext(t.Context(), "CREATE TABLE t (k TEXT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	release := holdWriter(t, s)
	const n = 10
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- s.inTx(context.Background(), insert(fmt.Sprint(i))) }()
	}
	waitQueued(t, s, n)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	release()
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("queued write: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.inTx(context.Background(), insert("late")); !errors.Is(err, errClosed) {
		t.Fatalf("write after Close: err = %v, want errClosed", err)
	}

	s, err = Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := keys(t, s); len(got) != n+1 {
		t.Fatalf("after reopening: rows %v, want the holder and %d queued writes", got, n)
	}
}

// Statements are prepared once and reused: a write transaction runs a
// new statement unprepared (preparing would wait for the connection the
// transaction holds) and the writer prepares it before its next batch;
// from then on the cache serves it, and repeating the work adds nothing.
func TestStatementsPreparedOnce(t *testing.T) {
	s := openBatchStore(t)
	count := func(p *pool) int {
		n := 0
		p.stmts.Range(func(_, _ any) bool { n++; return true })
		return n
	}
	const q = "INSERT INTO t (k) VALUES (?)"
	for i := range 3 {
		if err := s.inTx(t.Context(), insert(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if s.writes.db.cached(q) == nil {
		t.Fatalf("%q not cached after three transactions", q)
	}
	before := count(s.writer)
	for i := range 10 {
		if err := s.inTx(t.Context(), insert(fmt.Sprint("again-", i))); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Session(t.Context(), "nope"); err == nil {
			t.Fatal("Session(nope) found something")
		}
	}
	if after := count(s.writer); after != before {
		t.Fatalf("writer statements %d -> %d over repeated work, want no growth", before, after)
	}
	if n := count(s.reader); n == 0 {
		t.Fatal("reader prepared nothing")
	}
}
