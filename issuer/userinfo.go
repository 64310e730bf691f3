package issuer

import (
	"net/http"
	"slices"
	"strings"
)

// handleUserinfo is OIDC Core §5.3: the signed-in user's claims, for an
// access token with scope openid (RFC 6750 bearer, header only).
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		bearerError(w, http.StatusUnauthorized, "", "")
		return
	}
	c, err := s.cfg.AccessTokens.Verify(r.Context(), tok)
	if err != nil || !s.accessTokenLive(r.Context(), c) || c.Subject == "" {
		bearerError(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired, revoked or not a user's")
		return
	}
	if !slices.Contains(c.Scope.Values, "openid") {
		bearerError(w, http.StatusForbidden, "insufficient_scope", "the access token lacks scope openid")
		return
	}
	u := s.users[c.Subject]
	if u == nil {
		bearerError(w, http.StatusUnauthorized, "invalid_token", "the user no longer exists")
		return
	}
	info := map[string]any{"sub": u.Login, "id": u.ID, "user_type": u.Type, "is_admin": u.Admin}
	if slices.Contains(c.Scope.Values, "profile") {
		info["name"] = u.Name
		if u.Email != "" {
			info["email"] = u.Email
		}
	}
	writeJSON(w, http.StatusOK, info)
}

// bearerError is an RFC 6750 §3 error.
func bearerError(w http.ResponseWriter, status int, code, desc string) {
	v := `Bearer realm="erpgate"`
	if code != "" {
		v += `, error="` + code + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	body := map[string]string{"error": code, "error_description": desc}
	if code == "" {
		body = map[string]string{"error": "unauthorized", "error_description": "a bearer token is required"}
	}
	writeJSON(w, status, body)
}
