package proxy

import (
	"encoding/json"
	"net/http"
)

// challenge is the WWW-Authenticate value of every 401/403 (RFC 6750 §3).
const realm = `Bearer realm="erpgate"`

// errorBody is the JSON body of every error the proxy itself answers.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Scope       string `json:"scope,omitempty"`
}

func writeJSONError(w http.ResponseWriter, status int, body errorBody) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// unauthorized: no credentials at all. RFC 6750 §3.1: "If the request
// lacks any authentication information …, the resource server SHOULD NOT
// include an error code or other error information."
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", realm)
	writeJSONError(w, http.StatusUnauthorized, errorBody{
		Error:       "unauthorized",
		Description: "this route requires a bearer token",
	})
}

// invalidToken: the token is malformed, expired, revoked, for another
// audience or otherwise unacceptable (RFC 6750 §3.1 invalid_token).
func invalidToken(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", realm+`, error="invalid_token"`)
	writeJSONError(w, http.StatusUnauthorized, errorBody{
		Error:       "invalid_token",
		Description: "the access token is invalid, expired or revoked",
	})
}

// insufficientScope names the scopes the route needs (RFC 6750 §3.1).
func insufficientScope(w http.ResponseWriter, scope string) {
	w.Header().Set("WWW-Authenticate", realm+`, error="insufficient_scope", scope="`+scope+`"`)
	writeJSONError(w, http.StatusForbidden, errorBody{
		Error:       "insufficient_scope",
		Description: "the token lacks a scope this route requires",
		Scope:       scope,
	})
}

// badRequest: RFC 6750 §3.1 invalid_request.
func badRequest(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", realm+`, error="invalid_request"`)
	writeJSONError(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Description: msg})
}

func notFound(w http.ResponseWriter) {
	writeJSONError(w, http.StatusNotFound, errorBody{Error: "not_found", Description: "no route matches this request"})
}
