package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// pool is a database/sql pool that prepares each SQL text once and
// reuses the statement: with modernc.org/sqlite, parsing was half the
// CPU of a session open (pprof of BenchmarkOpenSessionParallel).
// database/sql keeps the prepared form per connection, so the pools'
// few connections each parse a statement once. Every query of this
// package is a constant, so the cache is bounded by the code.
type pool struct {
	*sql.DB
	stmts  sync.Map // SQL text -> *sql.Stmt
	wanted sync.Map // SQL text run unprepared in a transaction -> struct{}
}

// cached returns the prepared statement for query if there is one.
func (p *pool) cached(query string) *sql.Stmt {
	if st, ok := p.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	return nil
}

// stmt returns the prepared statement for query, preparing it on a free
// connection if need be, or nil if it cannot be prepared (the caller
// then runs query unprepared and meets the error there, where it is
// reported as before). Not for use inside a write transaction: the
// writer's one connection is the transaction's then, and preparing
// would wait for it forever (see writeTx).
func (p *pool) stmt(ctx context.Context, query string) *sql.Stmt {
	if st := p.cached(query); st != nil {
		return st
	}
	st, err := p.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if prev, loaded := p.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	return st
}

func (p *pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.DB.ExecContext(ctx, query, args...)
}

func (p *pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.DB.QueryContext(ctx, query, args...)
}

func (p *pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.DB.QueryRowContext(ctx, query, args...)
}

// prepareWanted prepares the statements transactions ran unprepared, at
// a moment the writer's connection is free (between batches).
func (p *pool) prepareWanted(ctx context.Context) {
	p.wanted.Range(func(query, _ any) bool {
		p.stmt(ctx, query.(string))
		p.wanted.Delete(query)
		return true
	})
}

// Close closes the cached statements, then the pool.
func (p *pool) Close() error {
	var errs []error
	p.stmts.Range(func(_, st any) bool {
		errs = append(errs, st.(*sql.Stmt).Close())
		return true
	})
	return errors.Join(append(errs, p.DB.Close())...)
}

// writeTx is a write transaction whose statements come from the
// writer's cache (Tx.StmtContext reuses the form prepared on the
// writer's one connection). A statement not cached yet runs unprepared
// and is prepared by the writer before its next batch: preparing on the
// pool now would wait for the connection this transaction holds.
type writeTx struct {
	*sql.Tx
	p *pool
}

func (t *writeTx) stmt(query string) *sql.Stmt {
	st := t.p.cached(query)
	if st == nil {
		t.p.wanted.Store(query, struct{}{})
	}
	return st
}

func (t *writeTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(query); st != nil {
		return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *writeTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t *writeTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}

func (t *writeTx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := t.stmt(query); st != nil {
		return t.Tx.StmtContext(ctx, st), nil
	}
	return t.Tx.PrepareContext(ctx, query)
}
