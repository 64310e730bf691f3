// Package audit writes security events as one structured line each
// (SPEC §8): token.issued, token.refused, access.denied, login.*, logout,
// session.*, reference_token.*, config.reloaded.
//
// Every line has the same fields so a log pipeline can index them; raw
// tokens and secrets never appear, only their short hash (TokenHash).
package audit
