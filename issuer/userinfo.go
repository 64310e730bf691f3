package issuer

import (
	"net/http"
	"slices"

	"github.com/erpgate/erpgate/authority"
)

// handleUserinfo is OIDC Core §5.3: the signed-in user's claims, for an
// access token with scope openid (RFC 6750 bearer, header only), judged
// by the credential authority like at every other door. Community users
// are answered (they sign in to external-facing apps).
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	cred, err := authority.ReadCredential(r)
	if err != nil {
		authority.WriteRefusal(w, &authority.Refusal{Reason: authority.ReasonInvalidRequest, Detail: err.Error()})
		return
	}
	caller, ref := s.cfg.Authority.Authenticate(r.Context(), cred, authority.Door{AllowCommunity: true, Scheme: s.scheme()})
	if ref == nil && caller.Claims.Subject == "" {
		ref = &authority.Refusal{Reason: authority.ReasonInvalidToken, Detail: "not a user's token"}
	}
	if ref != nil {
		authority.WriteRefusal(w, ref)
		return
	}
	c, u := caller.Claims, caller.User
	if !slices.Contains(c.Scope.Values, "openid") {
		authority.WriteInsufficientScope(w, "openid")
		return
	}
	info := map[string]any{"sub": u.Login, "id": u.ID, "user_type": u.ClaimType(), "is_admin": u.Admin}
	// Which provider the user signed in through, as the token says
	// (SPEC §10).
	if c.IdentityProvider != "" {
		info["idp"] = c.IdentityProvider
	}
	if c.TenantID != "" {
		info["tid"] = c.TenantID
	}
	if slices.Contains(c.Scope.Values, "profile") {
		info["name"] = u.Name
		if u.Email != "" {
			info["email"] = u.Email
			info["email_verified"] = u.EmailVerified
		}
		if u.Locale != "" {
			info["locale"] = u.Locale
		}
	}
	writeJSON(w, http.StatusOK, info)
}
