package authority

import (
	"fmt"
	"net/http"

	"github.com/erpgate/erpgate/claims"
)

// Reasons of refusals: the reason label of erpgate_auth_decisions_total
// and of access.denied audit lines. Each maps to one HTTP answer
// (Refusal.Answer, respond.go).
const (
	ReasonMissing          = "missing_credentials"         // 401, no error code (RFC 6750 §3.1)
	ReasonInvalidRequest   = "invalid_request"             // 400
	ReasonInvalidToken     = "invalid_token"               // 401: malformed, bad signature, expired
	ReasonWrongAudience    = "wrong_audience"              // 401: not for this door
	ReasonRevoked          = "revoked"                     // 401: token or family revoked
	ReasonSessionEnded     = "session_ended"               // 401: logout, administrator, kill switch
	ReasonAppUnknown       = "app_unknown"                 // 401: the Trusted App is gone
	ReasonAppDisabled      = "app_disabled"                // 401: the kill switch (ERP.net IsEnabled)
	ReasonUserUnknown      = "user_unknown"                // 401: the user is gone
	ReasonUserNotAllowed   = "user_not_allowed"            // 401: the app no longer allows this user
	ReasonReferenceOff     = "reference_tokens_disabled"   // 401: the app's reference_tokens is none
	ReasonCommunityUser    = "community_user"              // 403: API routes refuse community users
	ReasonLicenseExhausted = "MaximumLicenseCountExceeded" // 403: ERP.net's error code
	ReasonUnavailable      = "temporarily_unavailable"     // 503: the store did not answer
	ReasonInvalidProof     = "invalid_dpop_proof"          // 401: a bound token without a valid proof by its key (RFC 9449 §7.1)
	ReasonUseNonce         = "use_dpop_nonce"              // 401: the proof lacks a current server nonce (RFC 9449 §9)
)

// Refusal is why a credential may not act now. Detail is for logs and
// audit lines; only an invalid_request's detail, which says what the
// client sent wrong, is shown to the client.
type Refusal struct {
	Reason string
	Detail string
	// Claims are the refused token's, once it verified (nil before): who
	// was refused, for the audit line.
	Claims *claims.Access
	// Nonce is the server nonce to retry with (ReasonUseNonce).
	Nonce string
}

func (r *Refusal) Error() string { return fmt.Sprintf("%s: %s", r.Reason, r.Detail) }

func refuse(reason, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Status is the HTTP status of the refusal (its Answer's).
func (r *Refusal) Status() int { return r.Answer().Status }

// TokenRefused reports whether the refusal is about the token itself
// (401 invalid_token): the caller should get a new one.
func (r *Refusal) TokenRefused() bool {
	return r.Status() == http.StatusUnauthorized && r.Reason != ReasonMissing
}
