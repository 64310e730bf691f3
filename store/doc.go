// Package store defines what erpgate keeps between requests and restarts:
// signing keys, sessions with their license slots, revocations, the
// grants of the interactive flows (authorization codes, refresh-token
// families, identity sessions, consents), and the registry filled at run
// time (Trusted Applications, users, reference tokens and password reset
// links from administrators, passwords users changed themselves).
//
// Consumers declare the small interface they need (issuer.KeyStore,
// proxy.SessionStore, …); this package holds the shared record types, the
// errors every backend returns, and the Backend interface that the
// conformance suite in store/storetest runs against each implementation
// (store/memory for tests, store/sqlite by default, store/postgres for
// replicas sharing one database). The two SQL backends share their
// queries through store/sqlstore and differ only where their databases
// do.
package store
