package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// maxBatch bounds the write operations one transaction carries, so a
// long queue is committed in steps and no caller waits behind hundreds.
const maxBatch = 128

// errClosed is what a write gets once Close has begun.
var errClosed = errors.New("sqlite: store closed")

// Group commit. Every write transaction of this package (inTx) is an
// operation handed to one goroutine, which runs the operations waiting
// at that moment in a single transaction, each under its own SAVEPOINT,
// and commits them together. A commit in WAL mode with the default
// synchronous=FULL is one fsync, and the fsync, not the statements, is
// most of a write's cost; with concurrent writers (token refreshes,
// session opens) a queue forms behind each commit anyway, and batching
// turns it into one fsync per queue instead of one per operation. A lone
// write is a batch of one, as before.
//
// Each operation still sees and decides as if alone: operations run one
// after another inside the transaction, each sees the writes of those
// before it, and an operation that fails is rolled back to its savepoint
// without touching the others. Results are handed out only after the
// commit, so no caller learns of a write that could still be lost; if
// the commit fails, every operation of the batch gets the error.

// writeOp is one inTx call waiting for the writer.
type writeOp struct {
	ctx   context.Context
	f     func(ctx context.Context, tx *writeTx) error
	state atomic.Int32 // opQueued, then opTaken by the writer or opAbandoned by the caller
	err   error
	done  chan struct{}
}

const (
	opQueued int32 = iota
	opTaken
	opAbandoned
)

// writer is the goroutine side of group commit.
type writer struct {
	db   *pool
	mu   sync.RWMutex // held for reading while sending to ops; Close takes it to close ops
	shut bool
	ops  chan *writeOp
	done chan struct{} // closed when loop returns
}

func newWriter(db *pool) *writer {
	w := &writer{db: db, ops: make(chan *writeOp, maxBatch), done: make(chan struct{})}
	go w.loop()
	return w
}

// run queues f and waits for its batch to commit. A caller whose ctx
// ends before the writer takes its operation gets ctx.Err() and its
// operation never runs; once taken, the caller waits for the commit,
// so its error always says whether the write happened.
func (w *writer) run(ctx context.Context, f func(ctx context.Context, tx *writeTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &writeOp{ctx: ctx, f: f, done: make(chan struct{})}
	w.mu.RLock()
	if w.shut {
		w.mu.RUnlock()
		return errClosed
	}
	select {
	case w.ops <- op:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case <-op.done:
		return op.err
	case <-ctx.Done():
		if op.state.CompareAndSwap(opQueued, opAbandoned) {
			return ctx.Err()
		}
		<-op.done
		return op.err
	}
}

// close stops taking operations, lets the loop finish those queued and
// waits for it.
func (w *writer) close() {
	w.mu.Lock()
	if !w.shut {
		w.shut = true
		close(w.ops)
	}
	w.mu.Unlock()
	<-w.done
}

func (w *writer) loop() {
	defer close(w.done)
	batch := make([]*writeOp, 0, maxBatch)
	for first := range w.ops {
		batch = append(batch[:0], first)
	gather:
		for len(batch) < maxBatch {
			select {
			case op, ok := <-w.ops:
				if !ok {
					break gather
				}
				batch = append(batch, op)
			default:
				break gather
			}
		}
		w.commit(batch)
	}
}

// commit runs the operations of batch still wanted in one transaction
// and hands each its result.
func (w *writer) commit(batch []*writeOp) {
	taken := batch[:0:0]
	for _, op := range batch {
		if op.state.CompareAndSwap(opQueued, opTaken) {
			taken = append(taken, op)
		}
	}
	if len(taken) == 0 {
		return
	}
	err := w.inBatch(taken)
	for _, op := range taken {
		if err != nil {
			op.err = err
		}
		close(op.done)
	}
}

// inBatch runs ops in one transaction, setting each op's own error, and
// returns an error that fails them all (begin, savepoint or commit).
//
// The transaction and the statements run without the callers'
// cancellation: a statement interrupted by a cancelled context can make
// SQLite roll back the whole transaction, which would take the other
// operations with it. Callers are bounded by the busy timeout instead.
func (w *writer) inBatch(ops []*writeOp) error {
	ctx := context.Background()
	w.db.prepareWanted(ctx)
	sqlTx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	tx := &writeTx{Tx: sqlTx, p: w.db}
	for _, op := range ops {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT op"); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: savepoint: %w", err)
		}
		op.err = runOp(op, tx)
		// A statement that failed with SQLITE_FULL or an I/O error may
		// have rolled the whole transaction back; then the savepoint is
		// gone, this fails, and so does the batch, which is the truth.
		var err error
		if op.err != nil {
			_, err = tx.ExecContext(ctx, "ROLLBACK TO op")
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, "RELEASE op")
		}
		if err != nil {
			tx.Rollback()
			if op.err != nil {
				return op.err
			}
			return fmt.Errorf("sqlite: release savepoint: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// runOp runs one operation, turning a panic into its error so that one
// bad operation cannot take down the writer, and every other caller
// with it.
func runOp(op *writeOp, tx *writeTx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sqlite: write panicked: %v", r)
		}
	}()
	return op.f(context.WithoutCancel(op.ctx), tx)
}
