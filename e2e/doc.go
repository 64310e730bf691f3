// Package e2e tests the real erpgate binary from the outside: it builds
// ./cmd/erpgate once per test run, starts `erpgate demo` (or `serve`) as a
// subprocess on free loopback ports with a config derived from
// config.example.yaml, and drives it over HTTP the way the README and
// independent OAuth clients do.
//
// Everything lives in _test.go files; this file only names the package.
// Tests whose external dependency is missing (for example Debian's
// python3-authlib) fail when CI=true and are skipped otherwise.
package e2e
