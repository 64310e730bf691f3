// Package postgres is the store.Backend that several gateway replicas
// share (SPEC §9: store.driver postgres): signing keys, sessions and
// their license count, authorization codes, refresh-token families,
// identity sessions, consents, revocations, run-time apps, reference
// tokens and users' own password changes live in one PostgreSQL
// database, reached through a pgx connection pool.
//
// It mirrors store/sqlite: the same tables, the same conformance suite
// (store/storetest), the same behaviour down to time precision, and the
// same queries wherever both databases answer alike, which live once in
// store/sqlstore. This package gives the core its flavor (flavor.go: $N
// parameters, timestamptz, text[]) and its pgx pool, and keeps what
// differs: how atomicity is had, since SQLite has one writer at a time
// and PostgreSQL has many, and change notifications.
//
// # Schema
//
// The schema lives in migrations/NNNN_name.sql, embedded in the binary
// and applied on Open by the shared runner (sqlstore.Schema) in one
// transaction that first takes
// pg_advisory_xact_lock(migrateLock) and records each migration in
// schema_migrations: replicas starting together queue on the lock, and
// only the first applies anything. A schema migrated by a newer erpgate
// is refused rather than guessed at. The tables go in the first schema of
// the connection's search_path; give erpgate its own schema (for example
// postgres://erpgate@db/app?search_path=erpgate) or database so that its
// tables, schema_migrations included, meet nobody else's.
//
// Times are timestamptz truncated to the millisecond before they are
// written, and read back in UTC: exactly what sqlite's unix milliseconds
// give. Keys that lists are ordered by are COLLATE "C", so "ties by ID"
// is byte order whatever the database's collation.
//
// # Atomicity
//
// Every transaction is READ COMMITTED (set explicitly): each statement
// sees what was committed before it started, so a statement that follows
// a lock sees everything the previous holder of the lock wrote.
//
//   - The open-session count lives in 16 shard rows (license_shards,
//     moved by a trigger on sessions), a session counting in the shard
//     its id hashes to. OpenSession and EndSession lock their session's
//     shard first; EndStaleSessions locks every shard, in shard order.
//     An open far from the cap (the shards' sum, read after its lock, at
//     least 16 below each limit) goes on holding its shard only: at most
//     one open per shard is in flight, so the cap holds. Nearer the cap it
//     locks every shard and counts exactly: 40 callers racing for 5 slots
//     get exactly 5 sessions wherever they run. A new session far from the
//     cap, or one already open, takes one round trip (a transaction sent
//     as one batch). Reserved seats are settled by a unique index. The
//     session row's own races (a second first call with the same sid, a
//     logout's tombstone) are settled by conditional writes (INSERT ...
//     ON CONFLICT DO NOTHING, UPDATE ... WHERE ended_at IS NOT NULL) and
//     a re-read.
//   - RedeemAuthCode and RotateRefreshToken have one winner each through
//     a conditional UPDATE ... WHERE used_at IS NULL (rotated_at IS NULL
//     AND revoked_at IS NULL) ... RETURNING: a loser waits for the
//     winner's row lock, finds the condition false on the new row,
//     changes nothing and reads what the winner stored.
//   - A refresh-token family is written under
//     pg_advisory_xact_lock(familyLockClass, hashtext(family_id)), taken
//     by rotations and by the three revocations (these in key order), so
//     a revocation cannot miss the successor of a rotation in flight.
//   - Single-row changes (Revoke, AddSigningKey, SaveIdentitySession,
//     EndIdentitySession, SaveConsent, RevokeConsent, CreateApp,
//     UpdateApp, SaveReferenceToken, RevokeReferenceToken,
//     SavePasswordChange, CreateUser, UpdateUser, DeleteUser,
//     SavePasswordReset, UsePasswordReset) are one statement each; a
//     duplicate key (an app's URI, a reference token's id or hash, a
//     live user's login) makes the INSERT ... ON CONFLICT insert no
//     row, which is store.ErrConflict.
//   - Statements that lock many rows do so in a fixed order
//     (TouchSessions and EndStaleSessions by session id,
//     TouchReferenceTokens by token id), and a transaction PostgreSQL
//     still aborts as a deadlock victim is run again, up to three times.
//   - LockKeys holds pg_advisory_xact_lock(keyLock) while the keyring
//     re-reads the signing keys and, if none is active, stores one:
//     replicas starting together on an empty database store one key.
//
// # Change notifications
//
// Triggers (migrations/0003_notify.sql) send NOTIFY erpgate_changes,
// payload "topic:schema", when a write changes what other replicas must
// see: a session ended, a revocation recorded, an app created or
// changed or a user's password change saved (both the apps topic), a
// stored user created, changed or deleted (the users topic, 0008), a
// signing key added or removed. Listen holds one connection
// outside the pool LISTENing, reports each topic of its schema, and
// reconnects when the connection drops, reporting every topic then so
// the caller re-reads what it missed. The gateway reloads on each
// (gateway/replicas.go), so an
// end or revocation on one replica is refused by the others within
// milliseconds; their polling stays as the fallback.
package postgres
