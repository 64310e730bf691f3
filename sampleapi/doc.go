// Package sampleapi is a small ERP-like upstream for the demo, the tests
// and the benchmarks: what erpgate sits in front of.
//
// New returns its handler:
//
//	GET  /api/health                             200 {"status":"ok"}
//	GET  /api/domain/odata/General_Contacts_Persons  three persons and the caller's identity
//	*    /api/domain/odata/...                   a JSON echo of what arrived (Echo)
//	GET  /api/domain/html/...                    an HTML page naming X-Auth-Subject
//	everything else                              404 JSON
//
// The echo shows the identity headers the gateway set (SPEC §4: X-Auth-*,
// X-Request-Id, X-Forwarded-*), so tests can assert what the upstream
// received by decoding the body into an Echo. It reports only whether an
// Authorization header was present, never its value: tokens must not
// appear in any output.
//
// The package has no state and no dependencies; run it in an
// httptest.Server.
package sampleapi
