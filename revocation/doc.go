// Package revocation keeps the list of revoked access tokens (by jti) in
// memory, backed by the store: the proxy asks it on every request without
// a store round trip, the issuer adds to it, and a sync loop picks up
// revocations written by other processes (the CLI, other replicas). With
// PostgreSQL, the gateway also calls Sync as soon as the store notifies a
// revocation (gateway/replicas.go), so the loop's polling is only the
// fallback.
package revocation
