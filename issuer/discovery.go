package issuer

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/erpgate/erpgate/dpop"
)

// discoveryDocument renders the OpenID Provider metadata (OpenID Connect
// Discovery 1.0 §3, RFC 8414 §2) once; it changes only with the config.
// Only endpoints this server implements are listed, and only prompt
// values that change what happens (SPEC §3): select_account is accepted
// and ignored, so it is not advertised.
func (s *Server) discoveryDocument() ([]byte, error) {
	iss := s.cfg.Issuer
	scopes := []string{"openid", "profile", "offline_access"}
	var granted []string
	for _, a := range s.cfg.Directory.Apps() {
		for _, sc := range a.Scopes {
			if !slices.Contains(scopes, sc) && !slices.Contains(granted, sc) {
				granted = append(granted, sc)
			}
		}
	}
	slices.Sort(granted) // apps come in no order; the document must not change
	scopes = append(scopes, granted...)
	doc := map[string]any{
		"issuer":                   iss,
		"jwks_uri":                 iss + "/.well-known/openid-configuration/jwks",
		"token_endpoint":           iss + "/connect/token",
		"authorization_endpoint":   iss + "/connect/authorize",
		"userinfo_endpoint":        iss + "/connect/userinfo",
		"introspection_endpoint":   iss + "/connect/introspect",
		"revocation_endpoint":      iss + "/connect/revocation",
		"end_session_endpoint":     iss + "/connect/endsession",
		"grant_types_supported":    []string{"authorization_code", "client_credentials", "refresh_token", GrantTokenExchange},
		"response_modes_supported": []string{"query", "fragment", "form_post"},
		"prompt_values_supported":  []string{"none", "login", "consent"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported":    []string{"client_secret_basic", "client_secret_post", "none"},
		"frontchannel_logout_supported":                 false,
		"token_endpoint_auth_methods_supported":         []string{"client_secret_basic", "client_secret_post", "none"},
		"scopes_supported":                              scopes,
		"response_types_supported":                      []string{responseTypeCode, responseTypeHybrid},
		"subject_types_supported":                       []string{"public"},
		"id_token_signing_alg_values_supported":         []string{s.cfg.Signer.Algorithm()},
		"code_challenge_methods_supported":              []string{"S256"},
		"claims_supported":                              s.claimsSupported(),
		// OIDC Discovery §3: the acr values a sign-in can reach (mfa.go).
		"acr_values_supported":                           []string{acrPassword, acrMFA},
		"authorization_response_iss_parameter_supported": true,
		// RFC 9449 §5.1: proofs are checked at the token endpoint and at
		// every door of the gateway.
		"dpop_signing_alg_values_supported": dpop.AlgorithmNames(),
		// Back-Channel Logout 1.0 §2.1: the gateway sends logout tokens,
		// with sid, to the apps it notes per session (SessionClients).
		"backchannel_logout_supported":         s.cfg.SessionClients != nil,
		"backchannel_logout_session_supported": s.cfg.SessionClients != nil,
	}
	return json.MarshalIndent(doc, "", "  ")
}

// claimsSupported lists the claims this server's tokens can carry
// (SPEC §3); db and client_db only when the instance names its database.
func (s *Server) claimsSupported() []string {
	cs := []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "auth_time", "nonce", "at_hash", "c_hash", "azp",
		"scope", "client_id", "id", "name", "email", "email_verified", "locale", "user_type", "is_admin",
		"client_system_user", "client_system_user_id", "client_system_user_type", "act", "exchanged_from", "amr", "acr"}
	if s.cfg.Database != "" {
		cs = append(cs, "db", "client_db")
	}
	if len(s.cfg.Providers) > 0 {
		cs = append(cs, "idp", "tid") // sign-ins through external providers (login_federated.go)
	}
	return cs
}

func (s *Server) handleDiscovery(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(s.discovery)
}

// handleJWKS serves the public keys (RFC 7517 §5). Caching is short so a
// rotation reaches clients quickly.
func (s *Server) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", "public, max-age=60")
	h.Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(s.cfg.Signer.JWKS())
}
