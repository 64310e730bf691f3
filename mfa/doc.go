// Package mfa is erpgate's second factor (SPEC §10, issue 20): time-based
// one-time passwords (RFC 6238 TOTP on RFC 4226 HOTP), the recovery codes
// that stand in for a lost authenticator, and the QR code an authenticator
// app scans at enrolment. It is pure: no store, no clock of its own (the
// caller passes now), no HTTP.
package mfa
