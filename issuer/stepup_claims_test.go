package issuer

import (
	"testing"
)

// TestAccessTokenSignInClaims: RFC 9470 §6.1 — a user's access token
// says how (acr) and when (auth_time) the user signed in, and
// introspection answers both (§6.2); a client-credentials token, with no
// sign-in, carries neither.
func TestAccessTokenSignInClaims(t *testing.T) {
	ts := newTestServer(t, nil)
	tok := ts.aliceToken(t)
	c := ts.accessClaims(t, tok)
	if c.ACR != "pwd" || c.AuthTime == 0 || c.AuthTime > c.IssuedAt {
		t.Errorf("user token acr %q auth_time %d (iat %d)", c.ACR, c.AuthTime, c.IssuedAt)
	}
	intro := ts.introspect(t, tok)
	if intro["acr"] != "pwd" || intro["auth_time"] != float64(c.AuthTime) {
		t.Errorf("introspection acr %v auth_time %v, want pwd %d", intro["acr"], intro["auth_time"], c.AuthTime)
	}
	svc := ts.serviceToken(t)
	if sc := ts.accessClaims(t, svc); sc.ACR != "" || sc.AuthTime != 0 {
		t.Errorf("service token acr %q auth_time %d", sc.ACR, sc.AuthTime)
	}
	if si := ts.introspect(t, svc); si["acr"] != nil || si["auth_time"] != nil {
		t.Errorf("service token introspection %v", si)
	}
}
