package gateway

import (
	"slices"
	"testing"

	"github.com/erpgate/erpgate/config"
)

// TestExchangeRouteWiring: a route's upstream_token reaches the proxy as
// its upstream's Exchange, and the policy requires the exchange scopes as
// well as the route's (so `policy explain` and the 403 challenge name
// them); routes without one are as they were.
func TestExchangeRouteWiring(t *testing.T) {
	f := &config.File{Routes: []config.Route{
		{Name: "billing", Upstream: "http://127.0.0.1:1", Audience: "DomainAPI", Scopes: []string{"read"},
			UpstreamToken: &config.UpstreamToken{Exchange: &config.TokenExchange{Audience: "erp-billing-internal", Scopes: []string{"read", "update"}}}},
		{Name: "plain", Upstream: "http://127.0.0.1:1", Audience: "DomainAPI", Scopes: []string{"read"}},
	}}
	rs := PolicyRoutes(f)
	if !slices.Equal(rs[0].Scopes, []string{"read", "update"}) || !slices.Equal(rs[1].Scopes, []string{"read"}) {
		t.Errorf("policy scopes = %v, %v; want read update, read", rs[0].Scopes, rs[1].Scopes)
	}
	if !slices.Equal(f.Routes[0].Scopes, []string{"read"}) {
		t.Errorf("the config's route scopes changed: %v", f.Routes[0].Scopes)
	}
	ups, err := proxyUpstreams(f)
	if err != nil {
		t.Fatal(err)
	}
	if x := ups[0].Exchange; x == nil || x.Audience != "erp-billing-internal" || !slices.Equal(x.Scopes, []string{"read", "update"}) {
		t.Errorf("billing's Exchange = %+v", x)
	}
	if ups[1].Exchange != nil {
		t.Errorf("plain route has an Exchange: %+v", ups[1].Exchange)
	}
}
