// Package bounded puts a deadline on every store operation, so that a
// database that stops answering (a frozen host, a network that drops
// packets without resetting anything) costs a caller at most that long,
// instead of the whole outage.
//
// Store wraps a store.Backend; the gateway wraps its store once
// (gateway.New), so no caller can forget. Each method runs under
// context.WithTimeout(ctx, timeout): a caller's own shorter deadline
// still wins, and a caller whose work is legitimately longer (the first
// load at start, deleting a backlog of expired records) asks for more
// with WithTimeout on its context. An operation cut by the deadline
// returns an error matching both ErrTimeout and
// context.DeadlineExceeded; callers map it as any other store failure
// (503 temporarily_unavailable).
//
// The deadline works through the context, so a backend must honour its
// ctx; every backend of this repository does (pgx sets a deadline on the
// socket when ctx ends, sqlite interrupts the statement). Long-lived
// listeners (postgres.Store.Listen) are not store.Backend methods and are
// not wrapped: their connection would otherwise be cut every timeout.
package bounded
