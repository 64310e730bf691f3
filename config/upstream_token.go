package config

import (
	"fmt"
	"slices"
	"strings"
)

// UpstreamToken says which token a route forwards to its upstream in
// Authorization instead of the caller's own.
type UpstreamToken struct {
	// Exchange forwards a short-lived token the gateway exchanges for
	// this upstream alone (SPEC §12; claims as RFC 8693 §4.1): the caller's
	// subject, user claims and sid, aud Exchange.Audience, the scopes
	// Exchange.Scopes, act {"sub": "erpgate"} naming the gateway, living
	// at most 5 minutes and never past the caller's token. It verifies
	// with the gateway's JWKS, so the upstream can check it, and works at
	// none of the gateway's routes, so an upstream that leaks it leaks
	// nothing that works elsewhere. A caller whose token lacks the scopes
	// is refused (403 insufficient_scope). Required.
	Exchange *TokenExchange `yaml:"exchange"`
}

// TokenExchange is a route's upstream_token.exchange.
type TokenExchange struct {
	// Audience is the aud of the forwarded token: a name the upstream
	// checks. Required, no whitespace, and not one of tokens.audiences
	// (which every access token carries and every route's audience is
	// one of): the forwarded token must work at no route of the gateway,
	// and the upstream must be able to tell it from any caller's token.
	Audience string `yaml:"audience"`

	// Scopes are the scopes of the forwarded token, each one of read,
	// update and sec; unique, at least one. The caller's token must
	// carry them, as well as the route's scopes.
	Scopes []string `yaml:"scopes"`
}

// upstreamToken checks routes[i].upstream_token.
func (v *validator) upstreamToken(i int, r Route) {
	if r.UpstreamToken == nil {
		return
	}
	p := fmt.Sprintf("routes[%d].upstream_token", i)
	switch {
	case r.Public:
		v.add(p, "not allowed on a public route, which has no caller to exchange a token for")
	case r.StripAuthorization:
		v.add(p, "not allowed together with strip_authorization, which forwards no token")
	}
	x := r.UpstreamToken.Exchange
	if x == nil {
		v.add(p+".exchange", "required")
		return
	}
	p += ".exchange"
	switch {
	case x.Audience == "":
		v.add(p+".audience", "required")
	case hasSpace(x.Audience):
		v.add(p+".audience", "must not contain whitespace or control characters")
	case slices.Contains(v.f.Tokens.Audiences, x.Audience):
		// Every route's audience is one of them, so this also keeps the
		// forwarded token from working at any route of the gateway.
		v.addf(p+".audience", "must not be one of tokens.audiences (%s): every access token carries those and every route takes one, so the forwarded token would work elsewhere", strings.Join(v.f.Tokens.Audiences, ", "))
	}
	if len(x.Scopes) == 0 {
		v.add(p+".scopes", "at least one scope is required")
	}
	v.routeScopes(p+".scopes", x.Scopes)
}
