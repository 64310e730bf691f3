// Package store defines what erpgate keeps between requests and restarts:
// signing keys, sessions with their license slots, revocations, and the
// grants of the interactive flows (authorization codes, refresh-token
// families, identity sessions).
//
// Consumers declare the small interface they need (issuer.KeyStore,
// proxy.SessionStore, …); this package holds the shared record types, the
// errors every backend returns, and the Backend interface that the
// conformance suite in store/storetest runs against each implementation
// (store/memory for tests, store/sqlite by default, PostgreSQL later).
package store
