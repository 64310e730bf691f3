// Package sqlite is the default store.Backend: one SQLite file that
// serves one machine (SPEC §9), through the pure-Go modernc.org/sqlite
// driver so the binary needs no C toolchain.
//
// Most of its queries are store/sqlstore's, written once for both SQL
// backends; this package gives the core its flavor (flavor.go: ?N
// parameters, times as unix milliseconds, string lists as JSON), its
// pools and its migrations, and keeps the writes whose atomicity is
// SQLite's own: the sessions' (with the license counter),
// RedeemAuthCode, RotateRefreshToken, the refresh-family revocations and
// the touches.
//
// The schema lives in migrations/NNNN_name.sql, embedded in the binary
// and applied in order on Open inside one write transaction by the shared
// runner (sqlstore.Schema), each recorded in schema_migrations. A database migrated by a newer erpgate is refused
// rather than guessed at.
//
// Times are stored as INTEGER unix milliseconds in UTC, so they sort and
// compare as numbers and read back in UTC at millisecond precision.
//
// # Atomicity
//
// OpenSession reads the license count and inserts in one transaction
// (as RedeemAuthCode and RotateRefreshToken read the grant and mark it
// used), and every write transaction starts with BEGIN IMMEDIATE (the
// driver's _txlock=immediate), which takes SQLite's write lock before
// the first read. Two callers can therefore never both count the same
// free slot, or both redeem one code, whether they are goroutines of
// this process or other processes on the same file. A DEFERRED
// transaction would not do: it reads under a shared lock and only asks
// for the write lock at the INSERT, and in WAL mode a writer whose
// snapshot went stale gets SQLITE_BUSY_SNAPSHOT at once, without the
// busy timeout helping.
//
// Within one process, writes also go through a pool of a single
// connection, so they queue instead of spinning in SQLite's busy
// handler; across processes, busy_timeout makes BEGIN IMMEDIATE wait for
// the other writer. Reads use a separate pool and, thanks to WAL, never
// wait for a writer.
//
// Write transactions that arrive together are committed together (group
// commit, batch.go): one goroutine runs the queued operations in one
// transaction, each under its own savepoint, so each succeeds or fails
// alone, and commits them with one fsync. The durability is unchanged
// (synchronous stays FULL: a caller hears of its write only after the
// commit); what changes is that 64 concurrent refreshes or session
// opens cost a few fsyncs instead of 64.
//
// Both pools prepare each statement once and reuse it (stmts.go): with
// this pure-Go SQLite, parsing was half the CPU of a session open.
package sqlite
