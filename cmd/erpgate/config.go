package main

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/issuer"
	"github.com/erpgate/erpgate/policy"
	"github.com/erpgate/erpgate/proxy"
)

// configPath picks the config file: the flag, else $ERPGATE_CONFIG, else
// erpgate.yaml.
func configPath(flagValue string, e env) string {
	if flagValue != "" {
		return flagValue
	}
	if p, ok := e.lookup("ERPGATE_CONFIG"); ok && p != "" {
		return p
	}
	return "erpgate.yaml"
}

// loadConfig reads, expands and validates the config file.
func loadConfig(path string, e env) (*config.File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return config.Parse(data, e.lookup)
}

// userID derives the stable "id" claim of a configured user from its
// login: a UUID-shaped SHA-256 prefix, so it survives restarts and is the
// same on every replica.
func userID(login string) string {
	s := sha256.Sum256([]byte("erpgate/user/" + login))
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

func issuerApps(f *config.File) ([]issuer.App, error) {
	apps := make([]issuer.App, 0, len(f.Apps))
	for i, a := range f.Apps {
		app := issuer.App{
			ID:                     a.URI,
			Name:                   a.Name,
			Public:                 a.IsPublic(),
			SystemUser:             a.SystemUser,
			Scopes:                 a.Scopes(),
			RedirectURIs:           a.RedirectURIs,
			PostLogoutRedirectURIs: a.PostLogoutRedirectURIs,
			AllowInternalUsers:     a.InternalUsersAllowed(),
			AllowCommunityUsers:    a.CommunityUsersAllowed(),
			ReferenceTokens:        a.ReferenceTokens,
			RequirePKCE:            a.PKCERequired(),
			Enabled:                a.IsEnabled(),
		}
		if !app.Public {
			h, err := base64.StdEncoding.DecodeString(a.SecretHash)
			if err != nil {
				return nil, fmt.Errorf("apps[%d].secret_hash: %w", i, err)
			}
			app.SecretHash = h
		}
		apps = append(apps, app)
	}
	return apps, nil
}

func issuerUsers(f *config.File) []issuer.User {
	users := make([]issuer.User, 0, len(f.Users))
	for _, u := range f.Users {
		users = append(users, issuer.User{
			Login: u.Login, ID: userID(u.Login), Name: u.Name, Email: u.Email,
			Type: u.Type, Admin: u.Admin, PasswordHash: u.PasswordHash,
		})
	}
	return users
}

// policyRoutes and proxyUpstreams are the two halves of routes[]: what to
// require (pure policy) and where to forward (proxy).
func policyRoutes(f *config.File) []policy.Route {
	rs := make([]policy.Route, 0, len(f.Routes))
	for _, r := range f.Routes {
		rs = append(rs, policy.Route{
			Name: r.Name, Path: r.Match.Path, PathPrefix: r.Match.PathPrefix, Methods: r.Match.Methods,
			Audience: r.Audience, Scopes: r.Scopes, Public: r.Public, OnMissingToken: r.OnMissingToken,
		})
	}
	return rs
}

func proxyUpstreams(f *config.File) ([]proxy.Upstream, error) {
	ups := make([]proxy.Upstream, 0, len(f.Routes))
	for i, r := range f.Routes {
		u, err := url.Parse(r.Upstream)
		if err != nil {
			return nil, fmt.Errorf("routes[%d].upstream: %w", i, err)
		}
		ups = append(ups, proxy.Upstream{URL: u, Timeout: r.Timeout.D(), StripAuthorization: r.StripAuthorization})
	}
	return ups, nil
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
