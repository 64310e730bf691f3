// Command soak runs erpgate under a mixed, highly concurrent workload for
// a bounded time and then checks that it is still sound. From the
// repository root:
//
//	go run ./bench/soak -duration 60s
//
// It builds ./cmd/erpgate, serves the sample ERP API in-process and runs
// `erpgate serve` (SQLite store) on loopback only. Workers mix token
// issuance (client credentials), proxied GETs (each new token opens a
// session), introspection and admin license reads. Afterwards it asserts:
// no unexpected answer; the process's goroutines and open files back
// near their level before the load and its heap under a bound (all read
// from /metrics); no panic in its log; and license accounting equal to
// the sessions that exist (GET /admin/license used == the length of GET
// /admin/sessions). It exits 1 when any check fails. Every process it
// starts is stopped when it ends or is interrupted.
package main
