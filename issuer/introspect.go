package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/store"
)

// handleIntrospect is RFC 7662 token introspection: any authenticated
// confidential app may introspect any token of this instance; public apps
// may not (they cannot authenticate).
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	if err == nil {
		var app *directory.App
		if app, err = s.authenticateClient(r, form, doorIntrospect); err == nil && app.Public {
			s.auditClientAuth(r, doorIntrospect, clientCredentials{id: app.ID, method: "none"}, app, "public_client")
			err = ErrInvalidClient.WithDescription("public applications may not introspect tokens")
		}
	}
	if err != nil {
		writeError(w, asOAuthError(err))
		return
	}
	tok := form.Get("token")
	if tok == "" {
		writeError(w, ErrInvalidRequest.WithDescription("token is required"))
		return
	}
	out, err := s.introspect(r.Context(), tok, form.Get("token_type_hint"))
	if err != nil {
		// "Not known to be active" would be a lie during an outage: the
		// caller must retry, not drop a valid token.
		s.cfg.Logger.ErrorContext(r.Context(), "introspection: store unavailable", "err", err)
		writeError(w, ErrTemporarilyUnavailable.WithDescription("the token cannot be checked right now; try again shortly"))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// introspection is RFC 7662 §2.2's response.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	SessionID string   `json:"sid,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Expiry    int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	NotBefore int64    `json:"nbf,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	Audience  []string `json:"aud,omitempty"`
	ID        string   `json:"jti,omitempty"`
	// ERP.net extras: who a client-credentials token acts as.
	ClientSystemUser string `json:"client_system_user,omitempty"`
	// Confirmation names the key of a DPoP-bound token (RFC 9449 §6.2).
	Confirmation *claims.Confirmation `json:"cnf,omitempty"`
	// Actor names who acts for the subject of an exchanged token (RFC
	// 8693 §4.1, which defines act for introspection responses too).
	Actor *claims.Actor `json:"act,omitempty"`
	// How the user signed in (the token's idp, tid, amr): RFC 7662 §2.2
	// lets a response carry the token's other claims.
	IdentityProvider string   `json:"idp,omitempty"`
	TenantID         string   `json:"tid,omitempty"`
	AuthMethods      []string `json:"amr,omitempty"`
	// The sign-in's acr and auth_time, for user access tokens (RFC 9470
	// §6.2): a resource server judges step-up requirements by them.
	ACR      string `json:"acr,omitempty"`
	AuthTime int64  `json:"auth_time,omitempty"`
}

var inactive = introspection{Active: false}

// introspect answers whether tok may act now, by the credential
// authority's rules for access and reference tokens, and by the same
// app and user rules for refresh tokens.
func (s *Server) introspect(ctx context.Context, tok, hint string) (introspection, error) {
	if strings.HasPrefix(tok, reftoken.Prefix) || hint != "refresh_token" && strings.Count(tok, ".") == 2 {
		caller, ref := s.cfg.Authority.Authenticate(ctx, authority.Credential{Source: authority.SourceBearer, Token: tok},
			authority.Door{AllowCommunity: true, Inspect: true})
		if ref != nil {
			if ref.Reason == authority.ReasonUnavailable {
				return inactive, ref
			}
			return inactive, nil
		}
		c := caller.Claims
		out := introspection{
			Active: true, Scope: c.ScopeString(), ClientID: c.ClientID,
			Subject: c.Subject, SessionID: c.SessionID, Expiry: c.Expiry,
			IssuedAt: c.IssuedAt, NotBefore: c.NotBefore, Issuer: c.Issuer, Audience: c.Audience,
			ID: c.ID, ClientSystemUser: c.ClientSystemUser,
			Confirmation: c.Confirmation, TokenType: tokenType(c.BoundKey()), Actor: c.Actor,
			IdentityProvider: c.IdentityProvider, TenantID: c.TenantID, AuthMethods: c.AuthMethods,
			ACR: c.ACR, AuthTime: c.AuthTime,
		}
		if caller.Reference != nil {
			out.TokenType, out.ID, out.NotBefore = "reference_token", caller.Reference.ID, 0
		}
		return out, nil
	}
	rt, err := s.cfg.RefreshTokens.RefreshToken(ctx, hashToken(tok))
	now := s.cfg.Clock()
	switch {
	case errors.Is(err, store.ErrNotFound):
		return inactive, nil
	case err != nil:
		return inactive, err
	case !rt.RevokedAt.IsZero() || !rt.RotatedAt.IsZero() || !now.Before(rt.ExpiresAt):
		return inactive, nil
	}
	sess, err := s.cfg.IdentitySessions.IdentitySession(ctx, rt.SessionID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return inactive, nil
	case err != nil:
		return inactive, err
	case !sess.EndedAt.IsZero():
		return inactive, nil
	}
	app, _, ref := s.cfg.Authority.Holder(rt.ClientID, rt.Subject, "")
	if ref != nil {
		return inactive, nil
	}
	return introspection{
		Active: true, Scope: strings.Join(authority.Scopes(app, rt.Scopes), " "), ClientID: rt.ClientID, Subject: rt.Subject,
		SessionID: rt.SessionID, TokenType: "refresh_token", Expiry: rt.ExpiresAt.Unix(),
		IssuedAt: rt.CreatedAt.Unix(), Issuer: s.cfg.Issuer,
		IdentityProvider: rt.Auth.Provider, TenantID: rt.Auth.Tenant, AuthMethods: rt.Auth.Methods,
		ACR: acrOf(rt.Auth), AuthTime: unixOrZero(rt.AuthTime),
	}, nil
}

// handleRevoke is RFC 7009 token revocation. An app revokes its own
// tokens: a refresh token takes its family and the access tokens issued
// from it; an access token only itself (its session stays open, as in
// ERP.net). Unknown tokens and other apps' tokens get 200 and nothing
// happens (RFC 7009 §2.2), so the endpoint tells nothing about tokens.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	var app *directory.App
	if err == nil {
		app, err = s.authenticateClient(r, form, doorRevoke)
	}
	if err != nil {
		writeError(w, asOAuthError(err))
		return
	}
	tok := form.Get("token")
	if tok == "" {
		writeError(w, ErrInvalidRequest.WithDescription("token is required"))
		return
	}
	if err := s.revoke(r.Context(), app, tok); err != nil {
		// Never a 200 for a revocation that was not stored (fosite's
		// CVE-2020-15223): the client retries, and a retry finishes the
		// work, since revoking twice is not an error.
		s.cfg.Logger.ErrorContext(r.Context(), "revocation not stored", "err", err, "request_id", requestid.From(r.Context()))
		writeError(w, ErrTemporarilyUnavailable.WithDescription("the revocation could not be stored; retry").WithCause(err))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// revoke revokes tok if app may; nil means done, or nothing to do (not
// ours, not app's). Every write must be stored before it returns nil.
func (s *Server) revoke(ctx context.Context, app *directory.App, tok string) error {
	if strings.Count(tok, ".") == 2 {
		payload, err := s.cfg.Signer.Verify(tok, signing.TypeAccessToken)
		if err != nil {
			return nil // not ours, or not an access token
		}
		var c claims.Access
		if json.Unmarshal(payload, &c) != nil || c.Issuer != s.cfg.Issuer || c.ClientID != app.ID || c.ID == "" {
			return nil
		}
		return s.cfg.Revocations.Revoke(ctx, c.ID, time.Unix(c.Expiry, 0))
	}
	rt, err := s.cfg.RefreshTokens.RefreshToken(ctx, hashToken(tok))
	if errors.Is(err, store.ErrNotFound) || err == nil && rt.ClientID != app.ID {
		return nil
	}
	if err != nil {
		return err
	}
	toks, err := s.cfg.RefreshTokens.RevokeRefreshFamily(ctx, rt.FamilyID, s.cfg.Clock())
	if err != nil {
		return err
	}
	// The family's access tokens too, each stored before the answer (RFC
	// 7009 §2.1); on a failure the retry revokes the family again, which
	// returns the same list.
	for _, t := range toks {
		if t.ID == "" {
			continue
		}
		if err := s.cfg.Revocations.Revoke(ctx, t.ID, t.ExpiresAt); err != nil {
			return err
		}
	}
	return nil
}
