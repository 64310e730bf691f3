// Package session keeps ERP sessions and license slots (SPEC §5) for the
// proxy, the admin API and the CLI.
//
// Issuing a token opens no session. The first proxied call with a token
// opens one, keyed by the token's sid and bound to its user (sub) or, for
// a client-credentials token, its system user; it holds one license slot
// until it ends: after IdleTimeout without calls, ServiceMaxLifetime after
// a service session opened (however busy), on logout or by an
// administrator. A still-valid token whose session timed out opens a new
// one when a slot is free; a session ended by logout, an administrator or
// its app's kill switch is over for its tokens (ErrEnded). A reference
// token's session (store.SessionReference) is independent of its token:
// however it ends, the token's next call opens a new one; the token
// itself is refused only when revoked, expired or its app disabled,
// which the reference-token service checks. The license cap and its
// reserved seats (one per reserved login, see store.Session.Reserved) are
// enforced atomically by store.Sessions.OpenSession, so they hold across
// processes and replicas sharing a store. Community users never take a
// slot: Acquire opens no session for them and only refuses a token whose
// sid was ended for good.
//
// The license can change while sessions are open (SetLicense, on a config
// reload): the new cap and reserved list apply to every session opened
// from then on. None is ended: with fewer slots than open sessions, new
// ones are refused until enough ended, and a seat held by a login no
// longer reserved stays until its session ends (StaleSeats). Each process
// passes its own license to the store, so replicas must be given the
// same one; while they differ (a rolling change), the shared count is
// judged against each replica's own cap, never above the larger.
//
// # Hot path
//
// Manager.Acquire runs on every authorized request and costs no store
// round trip for a session this process already knows:
//
//   - Cache. A bounded map sid → entry holds each session this process
//     has seen, with its last call time in memory (an atomic). When full,
//     a sixteenth of it is evicted; an evicted session costs one
//     OpenSession (a read) on its next call.
//   - Touch coalescing. A call only records its time in memory. Flush
//     writes every last-seen time that moved with one
//     store.Sessions.TouchSessions per FlushEvery (5s), and Close flushes
//     what is left, so sliding idle timers costs one write per flush,
//     not per request.
//   - Idle and lifetime are judged from the in-memory last-seen time and
//     the injected clock. A cached session that looks timed out goes the
//     slow way: Reap (flush, then store.Sessions.EndStaleSessions) lets
//     the store end it, with the latest calls of this process written
//     first, and then OpenSession opens a new one.
//   - Ends by other processes. A session may be ended elsewhere: by the
//     CLI (`erpgate sessions end`), another replica, the identity server
//     on logout. Rather than re-reading each cached session on access,
//     Run polls store.Sessions.EndedSessionsSince every SyncEvery (1s)
//     with overlapping windows (one indexed query, whatever the number
//     of sessions in use) and turns each cached session ended for good
//     into a tombstone, and drops each one that timed out. Such an end is
//     therefore refused within about SyncEvery, with no store read on
//     the request path. With PostgreSQL, the gateway also calls
//     SyncEnded as soon as the store notifies an end (LISTEN/NOTIFY,
//     gateway/replicas.go), so
//     such ends arrive within milliseconds and the polling is only the
//     fallback. End, used by this process's admin API, takes effect at
//     once.
//   - Single flight. Concurrent first calls with one sid share one
//     OpenSession, so they open exactly one session and audit it once.
//   - Session view. Manager.Session answers introspection and userinfo
//     from the cache, else from the store, and keeps the store's answer
//     for a session it did not open (bounded, a minute at most): a
//     resource server introspects the same token again and again. Every
//     end this process makes or syncs drops the kept answer, so it is no
//     staler than the cache.
//   - Tombstones. A session ended for good (logout, an administrator,
//     its app disabled) stays in the cache as ended, so its tokens are
//     refused without a store write per attempt; a reference token's
//     session never becomes one. Tombstones are swept once the token that met them has
//     expired (an hour after they were made when no token is known).
//
// # Reaper
//
// Run calls SyncEnded every SyncEvery, Flush every FlushEvery and Reap
// every ReapEvery. Without Run a timed-out session keeps its slot until
// its next call, and ends by other processes go unnoticed. Reap flushes
// first, so a busy session is never ended for idleness, then ends stale
// sessions in the store, drops them from the cache and audits them. Run
// also re-reads the open-session count from the store for the
// erpgate_sessions_open and erpgate_license_slots_used gauges, which this
// process moves at once for the sessions it opens and ends itself.
//
// Audit events: session.opened, session.ended (reason idle, lifetime,
// logout, admin or app_disabled). The proxy audits access.denied with reason
// MaximumLicenseCountExceeded when Acquire returns ErrLicenseExhausted,
// since it knows the route, the request id and the remote address.
package session
