package gateway

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/policy"
	"github.com/erpgate/erpgate/proxy"
)

// PolicyRoutes and proxyUpstreams are the two halves of routes[]: what to
// require (pure policy) and where to forward (proxy). `erpgate policy
// explain` compiles the same routes.
func PolicyRoutes(f *config.File) []policy.Route {
	rs := make([]policy.Route, 0, len(f.Routes))
	for _, r := range f.Routes {
		rs = append(rs, policy.Route{
			Name: r.Name, Path: r.Match.Path, PathPrefix: r.Match.PathPrefix, Methods: r.Match.Methods,
			Audience: r.Audience, Scopes: routeScopes(r), Public: r.Public, OnMissingToken: r.OnMissingToken,
			AllowCommunityUsers: r.AllowCommunityUsers, RequireAuth: routeStepUp(r),
		})
	}
	return rs
}

// routeStepUp is r's require_auth as policy judges it.
func routeStepUp(r config.Route) policy.StepUp {
	if r.RequireAuth == nil {
		return policy.StepUp{}
	}
	return policy.StepUp{ACR: r.RequireAuth.ACR, MaxAge: r.RequireAuth.MaxAge.D()}
}

func proxyUpstreams(f *config.File) ([]proxy.Upstream, error) {
	ups := make([]proxy.Upstream, 0, len(f.Routes))
	for i, r := range f.Routes {
		u, err := url.Parse(r.Upstream)
		if err != nil {
			return nil, fmt.Errorf("routes[%d].upstream: %w", i, err)
		}
		ups = append(ups, proxy.Upstream{URL: u, Timeout: r.Timeout.D(), StripAuthorization: r.StripAuthorization,
			Exchange: upstreamExchange(r)})
	}
	return ups, nil
}

// routeScopes are the scopes a caller needs on r: its own, and those of
// the token its upstream_token exchanges (the proxy forwards no scope the
// caller lacks), so the policy, `policy explain` and the 403 challenge
// all name them.
func routeScopes(r config.Route) []string {
	if r.UpstreamToken == nil || r.UpstreamToken.Exchange == nil {
		return r.Scopes
	}
	out := slices.Clone(r.Scopes)
	for _, s := range r.UpstreamToken.Exchange.Scopes {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// upstreamExchange is r's upstream_token.exchange for the proxy; nil
// without one.
func upstreamExchange(r config.Route) *proxy.Exchange {
	if r.UpstreamToken == nil || r.UpstreamToken.Exchange == nil {
		return nil
	}
	x := r.UpstreamToken.Exchange
	return &proxy.Exchange{Audience: x.Audience, Scopes: slices.Clone(x.Scopes)}
}

// trustedProxies parses trusted_proxies: single addresses become /32 or
// /128 prefixes.
func trustedProxies(f *config.File) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range f.TrustedProxies {
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("trusted_proxies[%d]: %w", i, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies[%d]: %w", i, err)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// publicScheme is public_url's scheme: how clients reach the gateway,
// which the URLs in DPoP proofs name.
func publicScheme(f *config.File) string {
	if u, err := url.Parse(f.PublicURL); err == nil && u.Scheme == "https" {
		return "https"
	}
	return "http"
}
