// Package testop starts, for a test, an OpenID Connect provider that
// this project does not write: the npm package oidc-provider (pinned in
// e2e/testdata/js/package.json), run by node from provider.mjs beside
// this file, on a free loopback port. Its clients and accounts come from
// the test; it requires PKCE (S256), grants consent as asked, puts
// amr ["pwd"] in its ID tokens, and supports RP-initiated logout.
//
// SignIn and SignOut drive the provider's own pages over HTTP the way a
// browser would, so a test of a relying party needs no browser; a
// Chromium test can wait for LoginPageMarker on the login page instead.
//
// When node or the module is missing the test is skipped, or fails
// under CI=true, where .ci/run installs both.
package testop
