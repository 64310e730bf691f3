package issuer

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/reftoken"
)

// Token exchange (RFC 8693): an app allowed it (apps[].token_exchange)
// trades an erpgate access token it was given for one of narrower
// audience and scope, to call the next service on the user's behalf; and
// the gateway trades a caller's token for one meant for a route's
// upstream alone (UpstreamToken, proxy/exchange.go).
//
// The exchanged token keeps the subject token's sub, user claims,
// client_id and sid, and names the subject token's jti (exchanged_from),
// so every rule that ends the subject token ends it too: its revocation,
// the session's end (logout, administrator), the kill switch of the
// app the user signed in to, the user's removal. client_id stays
// the subject token's app rather than the exchanging client's (RFC 8693
// §4.3 suggests the requester): erpgate's rules — the app's kill switch,
// which users it serves, sessions bound to it, a service token acting as
// that app's system user — follow the grant the user made. The
// exchanging client is named by act.sub (§4.1), and the credential
// authority refuses the token once that app is disabled or gone
// (authority/actor.go).

// RFC 8693 §2.1 and §3 identifiers.
const (
	GrantTokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	// grantLabelTokenExchange names the grant in metrics and audit lines.
	grantLabelTokenExchange = "token_exchange"
	// maxActorDepth bounds nested act claims: a token exchanged this many
	// times is not exchanged again, so tokens cannot grow without end.
	maxActorDepth = 4
)

// ErrInvalidTarget is RFC 8693 §2.2.2's error for an audience or resource
// the server will not issue a token for.
var ErrInvalidTarget = &Error{Code: "invalid_target", Status: http.StatusBadRequest}

// tokenExchange is the token exchange grant (RFC 8693 §2). app has
// authenticated (a public client only names itself, and is refused);
// jkt is the key of the request's DPoP proof, "" without one.
//
// A bad subject token — not ours, expired, revoked, its session ended,
// its app or user gone or disabled — is invalid_request, as §2.2.2 says
// ("if either the subject_token or actor_token are invalid for any
// reason, or are unacceptable based on policy ... invalid_request"),
// rather than RFC 6749's invalid_grant.
//
// A DPoP-bound subject token (cnf.jkt) is exchanged only with a proof by
// its key: without one, the exchanging client would be a thief who copied
// it (RFC 9449 §7.1 refuses a bound token sent as a bearer token for the
// same reason). With a proof, the new token is bound to the proof's key
// like every grant's.
func (s *Server) tokenExchange(r *http.Request, app *directory.App, form url.Values, jkt string) (*grant, error) {
	switch {
	case app.Public:
		return nil, ErrUnauthorizedClient.WithDescription("public applications cannot use token exchange")
	case !app.TokenExchange:
		return nil, ErrUnauthorizedClient.WithDescription("the application is not allowed token exchange (apps[].token_exchange)")
	case app.ID == claims.GatewayActor:
		// act.sub "erpgate" names the gateway (claims.GatewayActor).
		return nil, ErrUnauthorizedClient.WithDescription("the application id " + claims.GatewayActor + " is reserved for the gateway")
	}
	if form.Get("actor_token") != "" || form.Get("actor_token_type") != "" {
		return nil, ErrInvalidRequest.WithDescription("actor_token is not supported: the authenticated client is the actor")
	}
	if t := form.Get("requested_token_type"); t != "" && t != TokenTypeAccessToken {
		return nil, ErrInvalidRequest.WithDescription("requested_token_type must be " + TokenTypeAccessToken)
	}
	raw := form.Get("subject_token")
	switch typ := form.Get("subject_token_type"); {
	case raw == "":
		return nil, ErrInvalidRequest.WithDescription("subject_token is required")
	case typ == "":
		return nil, ErrInvalidRequest.WithDescription("subject_token_type is required")
	case typ != TokenTypeAccessToken && typ != TokenTypeJWT:
		return nil, ErrInvalidRequest.WithDescription("subject_token_type must be " + TokenTypeAccessToken + " or " + TokenTypeJWT)
	case strings.HasPrefix(raw, reftoken.Prefix):
		return nil, ErrInvalidRequest.WithDescription("reference tokens cannot be exchanged; send a JWT access token")
	}
	aud, err := s.exchangeAudience(form)
	if err != nil {
		return nil, err
	}

	// The subject token is judged as at every door (SPEC §4): it must
	// act now. Inspect: the proof, if any, names the token endpoint, and
	// is checked below against the token's key.
	caller, ref := s.cfg.Authority.Authenticate(r.Context(),
		authority.Credential{Source: authority.SourceBearer, Token: raw},
		authority.Door{AllowCommunity: true, Inspect: true})
	if ref != nil {
		if ref.Reason == authority.ReasonUnavailable {
			return nil, ErrTemporarilyUnavailable.WithDescription("the subject token cannot be checked right now; try again shortly").WithCause(ref)
		}
		return nil, ErrInvalidRequest.WithDescription("subject_token is not an active access token of this issuer").WithCause(ref)
	}
	sub := caller.Claims
	if bound := sub.BoundKey(); bound != "" && bound != jkt {
		return nil, ErrInvalidRequest.WithDescription("subject_token is bound to a DPoP key: send a DPoP proof made with that key")
	}
	if actorDepth(sub.Actor) >= maxActorDepth {
		return nil, ErrInvalidRequest.WithDescription("subject_token has been exchanged too many times")
	}
	if sub.Subject != "" && !app.AllowsUserType(caller.User.Type) {
		return nil, ErrInvalidRequest.WithDescription("the application does not serve this subject's user type")
	}
	scopes, err := exchangeScopes(app, sub.Scope.Values, form.Get("scope"))
	if err != nil {
		return nil, err
	}

	now := s.cfg.Clock()
	// Never outlive the subject token: its end ends what it was traded for.
	exp := min(now.Add(s.cfg.AccessTokenTTL).Unix(), sub.Expiry)
	if exp <= now.Unix() {
		return nil, ErrInvalidRequest.WithDescription("subject_token is about to expire")
	}
	if sub.Subject != "" {
		// The exchanging app now holds a token of the user's session, so
		// it is told when the session ends, as the apps that signed the
		// user in are (back-channel logout, session_clients.go).
		if err := s.recordSessionClient(r.Context(), userGrant{app: app, user: caller.User, sid: sub.SessionID}); err != nil {
			return nil, err
		}
	}
	c := s.exchangedClaims(now, sub, aud, scopes, app.ID, exp)
	c.Confirmation = confirmation(jkt)
	tok, err := s.signAccessToken(c)
	if err != nil {
		return nil, ErrServerError.WithCause(err)
	}
	// RFC 8693 §2.2.1. No refresh token: the exchanged token lives no
	// longer than its subject token, which the client refreshes where it
	// got it.
	return &grant{
		resp: tokenResponse{
			AccessToken: tok, IssuedTokenType: TokenTypeAccessToken, TokenType: tokenType(jkt),
			ExpiresIn: exp - now.Unix(), Scope: strings.Join(scopes, " "),
		},
		subject: sub.Principal(),
		session: sub.SessionID,
	}, nil
}

// exchangeAudience is the target of an exchange: audience and resource
// (RFC 8693 §2.1; each at most once, as every parameter here), together,
// each one of tokens.audiences. One is required: a token for every
// audience is what the client has already.
func (s *Server) exchangeAudience(form url.Values) ([]string, error) {
	var aud []string
	for _, v := range []string{form.Get("audience"), form.Get("resource")} {
		if v == "" || slices.Contains(aud, v) {
			continue
		}
		if !slices.Contains(s.cfg.Audiences, v) {
			return nil, ErrInvalidTarget.WithDescription("audience " + safeParam(v) + " is not one of this issuer's audiences")
		}
		aud = append(aud, v)
	}
	if len(aud) == 0 {
		return nil, ErrInvalidRequest.WithDescription("audience is required")
	}
	return aud, nil
}

// exchangeScopes decides the scopes of an exchanged token: the requested
// ones, each both the subject token's and one the exchanging app may
// have; none requested, every such scope. offline_access is never
// granted: an exchange issues no refresh token.
func exchangeScopes(app *directory.App, subject []string, param string) ([]string, error) {
	allowed := make([]string, 0, len(subject))
	for _, sc := range subject {
		if app.Grants(sc) && sc != "offline_access" {
			allowed = append(allowed, sc)
		}
	}
	req, err := scopeParam(param)
	if err != nil {
		return nil, err
	}
	if len(req) == 0 {
		if len(allowed) == 0 {
			return nil, ErrInvalidScope.WithDescription("the subject token and the application have no scope in common")
		}
		return allowed, nil
	}
	for _, sc := range req {
		if !slices.Contains(allowed, sc) {
			return nil, ErrInvalidScope.WithDescription("scope " + safeParam(sc) + " is wider than the subject token and the application allow")
		}
	}
	return req, nil
}

// exchangedClaims are the claims of a token exchanged from sub: its
// subject, user claims, client_id and sid; a new id and times; aud,
// scopes and exp as decided; act naming actor, with sub's own act nested
// as the prior actor (RFC 8693 §4.1); sub's jti first in exchanged_from.
// Not bound to a key.
func (s *Server) exchangedClaims(now time.Time, sub *claims.Access, aud, scopes []string, actor string, exp int64) claims.Access {
	c := *sub
	c.Issuer = s.cfg.Issuer
	c.Audience = aud
	c.IssuedAt, c.NotBefore, c.Expiry = now.Unix(), now.Unix(), exp
	c.ID = newID()
	c.Scope = claims.Scopes{Values: scopes, AsString: s.cfg.ScopeAsString}
	c.Confirmation = nil
	c.Actor = &claims.Actor{Subject: actor, Actor: sub.Actor}
	// Revoking sub, or what it was exchanged from, revokes c
	// (authority/actor.go). Bounded: maxActorDepth exchanges at the token
	// endpoint, and one at the edge.
	c.ExchangedFrom = append([]string{sub.ID}, sub.ExchangedFrom...)
	c.Prepare() // the copied scope string is sub's
	return c
}

func actorDepth(a *claims.Actor) int {
	n := 0
	for ; a != nil; a = a.Actor {
		n++
	}
	return n
}

// UpstreamToken mints the token the gateway forwards to a route's
// upstream instead of the caller's (routes[].upstream_token.exchange,
// proxy/exchange.go): the caller's claims, as the credential authority
// passed them, for audience alone, with scopes (which the proxy has
// checked the caller holds), act naming the gateway, living at most ttl,
// the access-token lifetime and what is left of the caller's token. A
// bearer token: the upstream cannot check a DPoP proof the gateway spent.
func (s *Server) UpstreamToken(caller *claims.Access, audience string, scopes []string, ttl time.Duration) (string, time.Time, error) {
	now := s.cfg.Clock()
	exp := now.Add(min(ttl, s.cfg.AccessTokenTTL)).Unix()
	if caller.Expiry > 0 {
		exp = min(exp, caller.Expiry)
	}
	if exp <= now.Unix() {
		return "", time.Time{}, ErrInvalidRequest.WithDescription("the caller's token is about to expire")
	}
	c := s.exchangedClaims(now, caller, []string{audience}, slices.Clone(scopes), claims.GatewayActor, exp)
	tok, err := s.signAccessToken(c)
	if err != nil {
		return "", time.Time{}, err
	}
	return tok, time.Unix(exp, 0), nil
}
