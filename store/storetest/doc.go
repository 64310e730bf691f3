// Package storetest is the one conformance suite every store.Backend
// passes: memory, sqlite and postgres.
//
// The doc comments in package store are the contract; each documented
// behaviour has a named subtest here, so a backend that fails says which
// promise it broke (go test -run 'TestBackend/Sessions/ReservedSeats').
// The suite uses no backend specifics: fixed times truncated to the
// millisecond (the coarsest precision a backend may keep), time.Equal for
// comparisons, and errors.Is for the store errors.
package storetest
