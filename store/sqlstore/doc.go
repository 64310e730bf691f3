// Package sqlstore is the SQL core that store/sqlite and store/postgres
// share: the queries of every record that both databases answer alike,
// written once, with the column lists, row scanning and argument
// building of each record (apps, reference tokens, password changes,
// authorization codes, refresh tokens, identity sessions, consents,
// sessions, revocations, signing keys) and the migration runner.
//
// # Flavors
//
// As in Dex's storage/sql, a backend differs from the other only where
// its database does, and says so through a small Flavor: how a parameter
// is written ($1 in PostgreSQL, ?1 in SQLite; the queries here are
// written with $n and rewritten once, when a Store is built), and how a
// time or a string list is stored (timestamptz and text[] in
// PostgreSQL; unix milliseconds and a JSON array in SQLite). Both keep
// times at millisecond precision (Millis), so both compare and return
// times alike.
//
// What the core does not know is left to the backend:
//
//   - where each kind of statement runs (Config): plain reads, one-statement
//     writes, the inserts SQLite commits in groups, and the sweeps that
//     PostgreSQL runs again after a deadlock;
//   - how atomicity is had where a read decides a write: SQLite's single
//     writer and BEGIN IMMEDIATE against PostgreSQL's row locks, advisory
//     locks and conditional writes (OpenSession, EndSession,
//     EndStaleSessions, TouchSessions, RedeemAuthCode,
//     RotateRefreshToken, the refresh-family revocations,
//     TouchReferenceTokens), built from the Records helpers here;
//   - the license counter (a table each migration set keeps by its own
//     triggers), LISTEN/NOTIFY (PostgreSQL only) and the migrations
//     themselves, which stay one set per dialect; the runner is Migrate.
//
// A backend embeds *Store, which provides every store.Backend method the
// core can answer, and adds the rest.
//
// The core talks to a database through DB, three methods any driver can
// offer: store/sqlite implements it on its database/sql pools (with
// their prepared statements) and store/postgres on pgx.
package sqlstore
