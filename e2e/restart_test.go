package e2e

import (
	"net/http"
	"slices"
	"testing"
)

// TestRestartKeepsSigningKey: signing keys are "kept in the store" (SPEC
// §3) and "a restart loses no session" (SPEC §5), so a token issued
// before a restart still works after it, under the same key.
func TestRestartKeepsSigningKey(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})

	token := g.token(t, syncClient, syncSecret)
	header, _ := jwtParts(t, token)
	kidsBefore := g.jwksKeyIDs(t)
	if !slices.Contains(kidsBefore, header["kid"].(string)) {
		t.Fatalf("token kid %v is not in the JWKS %v", header["kid"], kidsBefore)
	}
	sessionBefore := personsSession(t, g, token)

	g.Restart(t)

	kidsAfter := g.jwksKeyIDs(t)
	if !slices.Equal(kidsAfter, kidsBefore) {
		t.Errorf("JWKS kids changed across a restart: before %v, after %v", kidsBefore, kidsAfter)
	}
	if s := personsSession(t, g, token); s != sessionBefore {
		t.Errorf("session after restart %q; want the same session %q", s, sessionBefore)
	}
	newHeader, _ := jwtParts(t, g.token(t, syncClient, syncSecret))
	if newHeader["kid"] != header["kid"] {
		t.Errorf("token after restart signed with kid %v; want the stored key %v", newHeader["kid"], header["kid"])
	}
}

// personsSession calls the persons endpoint and returns the session the
// upstream was told.
func personsSession(t *testing.T, g *Gateway, token string) string {
	t.Helper()
	resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, token)
	if resp.Status != http.StatusOK {
		t.Fatalf("GET persons: %s", resp)
	}
	e := decodePersons(t, resp)
	checkServiceIdentity(t, e.Auth, syncClient, "read update")
	return e.Auth.Session
}
