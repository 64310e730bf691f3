// Package reftoken issues and checks reference tokens (SPEC §6): opaque
// API keys "enrt_" + 64 hex characters for automation. A personal access
// token (PAT) acts as its user; a service access token (SAT) acts as its
// app's system user. The value is shown once and stored only as its
// SHA-256; revocation is immediate (the token's id joins the revocation
// list every process checks); last use is recorded in coalesced batches.
package reftoken
