package authority

import (
	"encoding/json"
	"net/http"
)

// Realm is the realm of every Bearer challenge (RFC 6750 §3).
const Realm = `Bearer realm="erpgate"`

// ErrorBody is the JSON body of every error a door answers itself.
type ErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Scope       string `json:"scope,omitempty"`
}

// WriteJSONError writes body with status, never cached.
func WriteJSONError(w http.ResponseWriter, status int, body ErrorBody) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// WriteRefusal answers a refused request as RFC 6750 §3.1 says; what
// the client may learn is the error code, never the detail. Browsers
// are the door's business (a page or a new sign-in) before this.
func WriteRefusal(w http.ResponseWriter, ref *Refusal) {
	h := w.Header()
	switch ref.Reason {
	case ReasonMissing:
		// "If the request lacks any authentication information …, the
		// resource server SHOULD NOT include an error code."
		h.Set("WWW-Authenticate", Realm)
		WriteJSONError(w, http.StatusUnauthorized, ErrorBody{Error: "unauthorized",
			Description: "a bearer token is required"})
	case ReasonInvalidRequest:
		h.Set("WWW-Authenticate", Realm+`, error="invalid_request"`)
		WriteJSONError(w, http.StatusBadRequest, ErrorBody{Error: "invalid_request", Description: ref.Detail})
	case ReasonCommunityUser:
		WriteJSONError(w, http.StatusForbidden, ErrorBody{Error: "access_denied",
			Description: "community users have no access to the instance APIs"})
	case ReasonLicenseExhausted:
		WriteJSONError(w, http.StatusForbidden, ErrorBody{Error: ReasonLicenseExhausted,
			Description: "all licenses are in use: every license slot is held by an open session; " +
				"try again when a session ends, or ask an administrator to end one"})
	case ReasonUnavailable:
		h.Set("Retry-After", "1")
		WriteJSONError(w, http.StatusServiceUnavailable, ErrorBody{Error: "temporarily_unavailable",
			Description: "credentials cannot be checked right now; try again shortly"})
	default:
		h.Set("WWW-Authenticate", Realm+`, error="invalid_token"`)
		WriteJSONError(w, http.StatusUnauthorized, ErrorBody{Error: "invalid_token",
			Description: "the access token is invalid, expired or revoked"})
	}
}

// WriteInsufficientScope names the scopes the door needs (RFC 6750 §3.1).
func WriteInsufficientScope(w http.ResponseWriter, scope string) {
	w.Header().Set("WWW-Authenticate", Realm+`, error="insufficient_scope", scope="`+scope+`"`)
	WriteJSONError(w, http.StatusForbidden, ErrorBody{Error: "insufficient_scope",
		Description: "the token lacks a scope this request requires", Scope: scope})
}
