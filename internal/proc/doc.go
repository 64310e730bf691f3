// Package proc runs the child processes of erpgate's bench tool
// (./bench), soak test (./bench/soak) and end-to-end tests (./e2e) one
// way: Build compiles the erpgate binary, Start runs a child without the
// developer's ERPGATE_* settings and, on Linux, in its own process group
// and killed with its parent, WaitReady polls the child's /readyz until it
// says ready, and Stop sends SIGTERM, waits a bounded time, then sends
// SIGKILL. It is for tools and tests, not for the gateway itself.
package proc
