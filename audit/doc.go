// Package audit writes security events as one structured line each
// (SPEC §8): token.issued, token.refused, access.denied, login.*, logout,
// session.*, reference_token.*, config.reloaded, and the others its
// constants name.
//
// A line carries event and only the fields that have a value: a field
// that would be "" is left out, so a pipeline indexes presence, not empty
// strings. Raw tokens and secrets never appear, only their short hash
// (TokenHash). The sink is the caller's: stderr, stdout or a File, which
// Reopen moves to a fresh file after logrotate renamed the old one.
package audit
