// Package logattr holds the rules every erpgate log line follows, as a
// slog ReplaceAttr (Clean) the process log and the audit log are built
// with: a field that says nothing is left out, and a duration is written
// in seconds.
package logattr
