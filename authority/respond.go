package authority

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/erpgate/erpgate/dpop"
)

// Realm is the realm of every Bearer challenge (RFC 6750 §3).
const Realm = `Bearer realm="erpgate"`

// DPoPChallenge is the DPoP scheme's challenge (RFC 9449 §7.1), naming
// the algorithms a proof may be signed with.
var DPoPChallenge = `DPoP algs="` + strings.Join(dpop.AlgorithmNames(), " ") + `"`

// ErrorBody is the JSON body of every error a door answers itself.
type ErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Scope       string `json:"scope,omitempty"`
}

// WriteJSONError writes body with status, never cached.
func WriteJSONError(w http.ResponseWriter, status int, body ErrorBody) {
	WriteJSON(w, status, body)
}

// WriteJSON writes v as JSON with status, never cached and never sniffed:
// every JSON answer of the gateway's own doors, errors or not.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Answer is the HTTP answer to a refused request, as WriteAnswer writes
// it: the one rendering of every refusal (RFC 6750 §3.1), for the doors
// that write it and for `erpgate policy explain`, which prints it.
type Answer struct {
	Status int
	// Challenge is the WWW-Authenticate header, "" for none.
	Challenge string
	// RetryAfter is the Retry-After header in seconds, "" for none.
	RetryAfter string
	// Nonce is the DPoP-Nonce header (RFC 9449 §9), "" for none.
	Nonce string
	Body  ErrorBody
}

// Answer is the answer to r: the table from reason to status, challenge
// and error code. What the client may learn is the error code, never the
// detail; only an invalid_request says what the client sent wrong.
// Browsers are the door's business (a page or a new sign-in).
func (r *Refusal) Answer() Answer {
	switch r.Reason {
	case ReasonMissing:
		// "If the request lacks any authentication information …, the
		// resource server SHOULD NOT include an error code."
		return Answer{Status: http.StatusUnauthorized, Challenge: Realm,
			Body: ErrorBody{Error: "unauthorized", Description: "a bearer token is required"}}
	case ReasonInvalidRequest:
		return Answer{Status: http.StatusBadRequest, Challenge: Realm + `, error="invalid_request"`,
			Body: ErrorBody{Error: "invalid_request", Description: r.Detail}}
	case ReasonCommunityUser:
		return Answer{Status: http.StatusForbidden,
			Body: ErrorBody{Error: "access_denied", Description: "community users have no access to the instance APIs"}}
	case ReasonLicenseExhausted:
		return Answer{Status: http.StatusForbidden,
			Body: ErrorBody{Error: ReasonLicenseExhausted,
				Description: "all licenses are in use: every license slot is held by an open session; " +
					"try again when a session ends, or ask an administrator to end one"}}
	case ReasonInvalidProof:
		// RFC 9449 §7.1: the DPoP scheme's challenge, with the algorithms
		// a proof may use.
		return Answer{Status: http.StatusUnauthorized, Challenge: DPoPChallenge + `, error="invalid_dpop_proof"`,
			Body: ErrorBody{Error: "invalid_dpop_proof", Description: "the DPoP proof is missing, invalid or not made with the token's key"}}
	case ReasonUseNonce:
		return Answer{Status: http.StatusUnauthorized, Challenge: DPoPChallenge + `, error="use_dpop_nonce"`, Nonce: r.Nonce,
			Body: ErrorBody{Error: "use_dpop_nonce", Description: "the DPoP proof must carry the nonce in the DPoP-Nonce header"}}
	case ReasonUnavailable:
		return Answer{Status: http.StatusServiceUnavailable, RetryAfter: "1",
			Body: ErrorBody{Error: "temporarily_unavailable", Description: "credentials cannot be checked right now; try again shortly"}}
	}
	return Answer{Status: http.StatusUnauthorized, Challenge: Realm + `, error="invalid_token"`,
		Body: ErrorBody{Error: "invalid_token", Description: "the access token is invalid, expired or revoked"}}
}

// InsufficientScope is the answer to a token that lacks a scope the door
// needs; scope names them, space-delimited (RFC 6750 §3.1).
func InsufficientScope(scope string) Answer {
	return Answer{Status: http.StatusForbidden, Challenge: Realm + `, error="insufficient_scope", scope="` + scope + `"`,
		Body: ErrorBody{Error: "insufficient_scope", Description: "the token lacks a scope this request requires", Scope: scope}}
}

// InsufficientUserAuthentication is the answer to a token whose sign-in
// is too weak or too old for the request (RFC 9470 §3): 401 with the
// quoted acr_values (space-delimited, in order of preference) and
// max_age (seconds) the client re-authorizes with (§4); either may be "".
func InsufficientUserAuthentication(acrValues, maxAge string) Answer {
	c := Realm + `, error="insufficient_user_authentication", error_description="a stronger or more recent sign-in is required"`
	if acrValues != "" {
		c += `, acr_values="` + acrValues + `"`
	}
	if maxAge != "" {
		c += `, max_age="` + maxAge + `"`
	}
	return Answer{Status: http.StatusUnauthorized, Challenge: c,
		Body: ErrorBody{Error: "insufficient_user_authentication", Description: "a stronger or more recent sign-in is required"}}
}

// NoUserSignIn is the answer to a service (client-credentials) token at
// a door that requires a user's sign-in: 403 without a challenge, since
// RFC 9470 is about the user's authentication event and a service has
// none to step up; re-authorizing cannot help, as for a community user.
func NoUserSignIn() Answer {
	return Answer{Status: http.StatusForbidden,
		Body: ErrorBody{Error: "insufficient_user_authentication", Description: "this request requires a user's sign-in; a service token has none"}}
}

// WriteAnswer writes a: its headers, then its body as WriteJSONError does.
func WriteAnswer(w http.ResponseWriter, a Answer) {
	h := w.Header()
	if a.Challenge != "" {
		h.Set("WWW-Authenticate", a.Challenge)
	}
	if a.RetryAfter != "" {
		h.Set("Retry-After", a.RetryAfter)
	}
	if a.Nonce != "" {
		h.Set(dpop.NonceHeader, a.Nonce)
	}
	WriteJSONError(w, a.Status, a.Body)
}

// WriteRefusal answers a refused request: WriteAnswer(w, ref.Answer()).
func WriteRefusal(w http.ResponseWriter, ref *Refusal) { WriteAnswer(w, ref.Answer()) }

// WriteInsufficientScope names the scopes the door needs (RFC 6750 §3.1).
func WriteInsufficientScope(w http.ResponseWriter, scope string) {
	WriteAnswer(w, InsufficientScope(scope))
}
