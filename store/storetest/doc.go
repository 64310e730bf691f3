// Package storetest is the one conformance suite every store.Backend
// passes: memory, sqlite, and PostgreSQL when it comes.
//
// The doc comments in package store are the contract; each documented
// behaviour has a named subtest here, so a backend that fails says which
// promise it broke (go test -run 'TestBackend/Sessions/ReservedSeats').
// The suite uses no backend specifics: fixed times truncated to the
// millisecond (the coarsest precision a backend may keep), time.Equal for
// comparisons, and errors.Is for the store errors.
//
// RunRegistryTests checks store.Registry (run-time apps and reference
// tokens) until every backend implements it and it joins store.Backend;
// a backend's TestBackend calls it next to RunTests, so the subtests
// already have their final names (TestBackend/Apps/…).
package storetest
