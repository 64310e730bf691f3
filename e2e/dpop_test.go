package e2e

import (
	"strings"
	"testing"
)

// TestDPoPWithOpenIDClient: openid-client (npm, an independent client
// with DPoP support) gets a DPoP-bound token from the built binary's token
// endpoint and calls an API route through the gateway with it (RFC 9449
// §5, §7.1). The same token sent as a bearer token is refused, and so is
// a proof openid-client made, sent a second time. With server nonces,
// openid-client follows use_dpop_nonce at the token endpoint and at the
// proxy (§8, §9).
func TestDPoPWithOpenIDClient(t *testing.T) {
	t.Parallel()
	for _, extra := range []string{"", "dpop: {require_nonce: true}\n"} {
		name := "without nonces"
		if extra != "" {
			name = "with server nonces"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testOpenIDClientDPoP(t, extra)
		})
	}
}

func testOpenIDClientDPoP(t *testing.T, extra string) {
	node, js := requireNodeModule(t, "openid-client")
	g := startGateway(t, gatewayOptions{Edit: func(cfg string) string { return cfg + extra }})
	var got struct {
		Algs            []string `json:"algs"`
		TokenType       string   `json:"token_type"`
		APIStatus       int      `json:"api_status"`
		Subject         string   `json:"subject"`
		AgainStatus     int      `json:"again_status"`
		BearerStatus    int      `json:"bearer_status"`
		BearerChallenge string   `json:"bearer_challenge"`
		ReplayStatus    int      `json:"replay_status"`
		NonceChallenges int      `json:"nonce_challenges"`
	}
	runNodeJSON(t, node, js, "dpop_client.mjs", &got, g.Issuer(), syncClient, syncSecret, g.PublicURL+personsPath)
	if len(got.Algs) == 0 || !strings.EqualFold(got.TokenType, "DPoP") {
		t.Errorf("discovery's DPoP algorithms %v and token_type %q, want algorithms and DPoP", got.Algs, got.TokenType)
	}
	if got.APIStatus != 200 || got.Subject != systemUser || got.AgainStatus != 200 {
		t.Errorf("the API through the gateway with DPoP: %d as %q, then %d; want 200 as %s twice", got.APIStatus, got.Subject, got.AgainStatus, systemUser)
	}
	if got.BearerStatus != 401 || !strings.Contains(got.BearerChallenge, `error="invalid_token"`) {
		t.Errorf("the bound token as a bearer token: %d %q, want 401 invalid_token", got.BearerStatus, got.BearerChallenge)
	}
	if got.ReplayStatus != 401 {
		t.Errorf("openid-client's proof replayed: %d, want 401", got.ReplayStatus)
	}
	// Without nonces nothing asks for one; with them the token endpoint
	// does, once, and openid-client uses the nonce from then on.
	if want := extra != ""; (got.NonceChallenges > 0) != want {
		t.Errorf("%d answers asked for a nonce; want some: %v", got.NonceChallenges, want)
	}
}
