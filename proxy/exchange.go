package proxy

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/policy"
)

// A route with an upstream token exchange (routes[].upstream_token,
// SPEC §12) forwards, instead of the caller's token, a short-lived token
// minted for its upstream alone: the caller's subject and sid, aud the
// exchange audience (which no route of the gateway takes), the exchange
// scopes, act naming the gateway. An upstream that leaks it leaks nothing
// that works elsewhere, and one that logs tokens logs only that.
//
// It replaces the caller's credential upstream, whichever header that
// came in (Authorization, DPoP's proof, an API key; forward.go).
// Minting signs a JWT (1-2 ms with RS256: issuer's
// BenchmarkUpstreamToken), so exchanged tokens are cached per route,
// session and caller token until shortly before they expire: a busy
// caller costs one signature per few minutes, not one per request
// (BenchmarkHotPathExchange: two allocations more than a plain route).

// Exchanger mints the token forwarded to an exchange route's upstream
// (*issuer.Server's UpstreamToken): caller's claims for audience alone,
// with scopes, living at most ttl and never past the caller's token.
type Exchanger interface {
	UpstreamToken(caller *claims.Access, audience string, scopes []string, ttl time.Duration) (token string, expires time.Time, err error)
}

// Exchange is a route's upstream_token.exchange.
type Exchange struct {
	Audience string
	Scopes   []string
}

// Bounds of exchanged tokens.
const (
	// exchangeTTL is the longest an exchanged token lives: long enough
	// to cache, short enough that a leaked one soon stops working.
	exchangeTTL = 5 * time.Minute
	// exchangeEarly is how long before its expiry a cached token is
	// replaced, so an upstream never receives one about to expire (nor
	// one its clock, a little behind or ahead, calls expired).
	exchangeEarly = 30 * time.Second
	// maxExchangeCache bounds the cache: one entry per route, session and
	// caller token in use within exchangeTTL.
	maxExchangeCache = 16384
)

// exchangeFor is the token to forward to rt's upstream for caller c
// instead of the caller's, "" on a route without an exchange; ok false
// when the request was refused here (counted, audited and answered).
func (p *Proxy) exchangeFor(w http.ResponseWriter, r *http.Request, e *edge, rt *route, cred authority.Credential, c *claims.Access) (tok string, ok bool) {
	if rt.upstream.Exchange == nil {
		return "", true
	}
	tok, d, ref := p.upstreamExchange(rt, c)
	switch {
	case ref != nil:
		ref.Claims = c
		p.refused(w, r, e, rt, cred, ref)
		return "", false
	case d != nil:
		p.denyClaims(r.Context(), r, rt, *d, c, "")
		p.respond(w, r, e, hints{locale: c.Locale, missing: d.MissingScopes},
			Answer{Refusal: authority.InsufficientScope(strings.Join(rt.upstream.Exchange.Scopes, " "))})
		return "", false
	}
	return tok, true
}

// upstreamExchange returns the token to forward to rt's upstream for
// caller c, from the cache or newly minted; a refusal when c lacks the
// exchange's scopes or no token can be minted. Callers reach here only
// allowed on the route.
func (p *Proxy) upstreamExchange(rt *route, c *claims.Access) (string, *policy.Decision, *authority.Refusal) {
	x := rt.upstream.Exchange
	if missing := missingScopes(x.Scopes, c.Scope.Values); len(missing) > 0 {
		// The caller may use the route but not have its upstream called
		// with scopes it does not hold: RFC 6750 §3.1 insufficient_scope,
		// naming the exchange's scopes.
		return "", &policy.Decision{
			Outcome: policy.InsufficientScope, Reason: policy.ReasonInsufficientScope, MissingScopes: missing,
			Detail: fmt.Sprintf("route %q forwards a token with scopes %s; the caller's token lacks %s", rt.name, strings.Join(x.Scopes, " "), strings.Join(missing, " ")),
		}, nil
	}
	now := p.cfg.Clock()
	key := exchangeKey{route: rt.index, session: c.SessionID, token: c.ID}
	if tok, ok := p.exchanged.get(key, now); ok {
		return tok, nil, nil
	}
	if c.Expiry > 0 && c.Expiry <= now.Unix() {
		// Verified within the leeway, but no second is left to give the
		// upstream token: the caller should get a new one.
		return "", nil, &authority.Refusal{Reason: authority.ReasonInvalidToken, Detail: "the token expires before an upstream token can be made for it"}
	}
	tok, exp, err := p.cfg.Exchanger.UpstreamToken(c, x.Audience, x.Scopes, exchangeTTL)
	if err != nil {
		return "", nil, &authority.Refusal{Reason: authority.ReasonUnavailable, Detail: "mint the upstream token: " + err.Error()}
	}
	if c.ID != "" { // every token of ours has one; without, no cache key would tell two apart
		p.exchanged.put(key, tok, refreshAt(now, exp), now)
	}
	return tok, nil, nil
}

// refreshAt is when a token minted at now, expiring at exp, is replaced:
// exchangeEarly before exp, or halfway for a short-lived one.
func refreshAt(now, exp time.Time) time.Time {
	return exp.Add(-min(exchangeEarly, exp.Sub(now)/2))
}

// missingScopes are the scopes of want that have lacks.
func missingScopes(want, have []string) []string {
	var out []string
	for _, s := range want {
		if !slices.Contains(have, s) {
			out = append(out, s)
		}
	}
	return out
}

// exchangeKey names one cached exchanged token. The caller token's id is
// part of it so another token of the same session — a narrower one, or
// the next after a refresh — never reuses what this one was given.
type exchangeKey struct {
	route   int
	session string
	token   string // the caller token's jti
}

type exchangeEntry struct {
	token     string
	refreshAt time.Time
}

// exchangeCache holds exchanged tokens until their refreshAt; bounded by
// max, safe for concurrent use. Two concurrent misses for one key may
// both mint: both tokens are valid, and the later one stays.
type exchangeCache struct {
	mu  sync.Mutex
	m   map[exchangeKey]exchangeEntry
	max int
}

func newExchangeCache(max int) *exchangeCache {
	return &exchangeCache{m: map[exchangeKey]exchangeEntry{}, max: max}
}

func (c *exchangeCache) get(k exchangeKey, now time.Time) (string, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok || !now.Before(e.refreshAt) {
		return "", false
	}
	return e.token, true
}

// put stores a token; when full, it first drops every entry due, then
// arbitrary ones (map order) until a sixteenth is free, so a flood of
// callers costs each a new mint, never unbounded memory.
func (c *exchangeCache) put(k exchangeKey, tok string, refreshAt, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for ek, e := range c.m {
			if !now.Before(e.refreshAt) {
				delete(c.m, ek)
			}
		}
		for ek := range c.m {
			if len(c.m) < c.max-c.max/16 {
				break
			}
			delete(c.m, ek)
		}
	}
	c.m[k] = exchangeEntry{token: tok, refreshAt: refreshAt}
}

func (c *exchangeCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
