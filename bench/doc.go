// Command bench is erpgate's reproducible benchmark suite. From the
// repository root:
//
//	go run ./bench            # about 2.5 minutes with SQLite, 1 of them opening 100,000 sessions
//	go run ./bench -quick     # under a minute
//
// It builds ./cmd/erpgate, starts the sample upstream, a bare tuned
// httputil.ReverseProxy (plain, and a second one sending erpgate's extra
// headers) and `erpgate serve` (one process per signing algorithm) on
// loopback, drives them with its own HTTP/1.1 load generator, and prints
// a Markdown table, also written to bench/out/latest.md, then issue 22's
// targets for the proxied JWT call (throughput and p99 against the bare
// proxy's, CPU per request above it) with the command that reproduces
// them. For the refresh grant it signs a user in once per
// worker (authorization code + PKCE, through the login form). Last, a
// separate erpgate gets -sessions sessions opened and its resident memory
// is read. Every process it starts is stopped when it ends, fails or is
// interrupted.
//
// The servers it measures are child processes (this binary re-run with
// -role), so none of them shares the load generator's Go scheduler; they
// do share the machine's CPUs, which the report says.
package main
