// Package loop runs background work on a fixed interval until its context
// ends: the signing keyring's refresh, the revocation and directory syncs,
// the reference-token flush and the store janitor all share its one
// ticker loop instead of each keeping a copy.
package loop
