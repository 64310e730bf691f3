package e2e

import (
	"slices"
	"strings"
	"testing"
)

// TestResourceDiscoveryWithOAuth4WebAPI: oauth4webapi (npm, an independent
// client) starts from an API URL alone and finds its way to a token and a
// passing call through the built binary: the 401's resource_metadata hint
// (RFC 9728 §5.1), metadata whose resource is the URL it called (§3.3),
// the same metadata by path insertion (§3.1), the issuer's metadata at
// RFC 8414's well-known path, a token for the scopes the metadata names.
func TestResourceDiscoveryWithOAuth4WebAPI(t *testing.T) {
	t.Parallel()
	node, js := requireNodeModule(t, "oauth4webapi")
	g := startGateway(t, gatewayOptions{})
	api := g.PublicURL + personsPath
	var got struct {
		Challenge            string   `json:"challenge"`
		Hint                 string   `json:"hint"`
		Resource             string   `json:"resource"`
		InsertedResource     string   `json:"inserted_resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		Scopes               []string `json:"scopes"`
		Issuer               string   `json:"issuer"`
		TokenScope           string   `json:"token_scope"`
		APIStatus            int      `json:"api_status"`
	}
	runNodeJSON(t, node, js, "resource_discovery.mjs", &got, api, syncClient, syncSecret)
	wantHint := g.PublicURL + "/.well-known/oauth-protected-resource" + personsPath
	if got.Hint != wantHint || !strings.HasPrefix(got.Challenge, `Bearer realm="erpgate", error="invalid_token"`) {
		t.Errorf("challenge %q with hint %q, want invalid_token naming %s", got.Challenge, got.Hint, wantHint)
	}
	if got.Resource != api || got.InsertedResource != api {
		t.Errorf("metadata resource %q (hinted) and %q (path insertion), want %s", got.Resource, got.InsertedResource, api)
	}
	if !slices.Equal(got.AuthorizationServers, []string{g.Issuer()}) || got.Issuer != g.Issuer() {
		t.Errorf("authorization servers %v, RFC 8414 issuer %q; want %s", got.AuthorizationServers, got.Issuer, g.Issuer())
	}
	if !slices.Equal(got.Scopes, []string{"read", "update"}) || got.TokenScope != "read update" {
		t.Errorf("scopes %v, token scope %q; want the Persons routes' read and update", got.Scopes, got.TokenScope)
	}
	if got.APIStatus != 200 {
		t.Errorf("the call with the discovered token: %d", got.APIStatus)
	}
}
