package authority_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/erpgate/erpgate/authority"
)

// TestWriteRefusal: what each reason answers (RFC 6750 §3.1).
func TestWriteRefusal(t *testing.T) {
	const (
		challenge = `Bearer realm="erpgate"`
		invalid   = `Bearer realm="erpgate", error="invalid_token"`
	)
	for _, tc := range []struct {
		reason     string
		status     int
		wantAuth   string // WWW-Authenticate
		wantError  string // the body's error
		retryAfter string
	}{
		// "If the request lacks any authentication information (e.g., the
		// client was unaware that authentication is necessary or
		// attempted using an unsupported authentication method), the
		// resource server SHOULD NOT include an error code or other error
		// information."
		{authority.ReasonMissing, 401, challenge, "unauthorized", ""},
		// "invalid_request: The request is missing a required parameter,
		// includes an unsupported parameter or parameter value, repeats
		// the same parameter, uses more than one method for including an
		// access token, or is otherwise malformed. The resource server
		// SHOULD respond with the HTTP 400 (Bad Request) status code."
		{authority.ReasonInvalidRequest, 400, `Bearer realm="erpgate", error="invalid_request"`, "invalid_request", ""},
		// "invalid_token: The access token provided is expired, revoked,
		// malformed, or invalid for other reasons. The resource SHOULD
		// respond with the HTTP 401 (Unauthorized) status code."
		{authority.ReasonInvalidToken, 401, invalid, "invalid_token", ""},
		{authority.ReasonWrongAudience, 401, invalid, "invalid_token", ""},
		{authority.ReasonRevoked, 401, invalid, "invalid_token", ""},
		{authority.ReasonSessionEnded, 401, invalid, "invalid_token", ""},
		{authority.ReasonAppUnknown, 401, invalid, "invalid_token", ""},
		{authority.ReasonAppDisabled, 401, invalid, "invalid_token", ""},
		{authority.ReasonUserUnknown, 401, invalid, "invalid_token", ""},
		{authority.ReasonUserNotAllowed, 401, invalid, "invalid_token", ""},
		{authority.ReasonReferenceOff, 401, invalid, "invalid_token", ""},
		// The token is good; its holder may not pass: no challenge.
		{authority.ReasonCommunityUser, 403, "", "access_denied", ""},
		{authority.ReasonLicenseExhausted, 403, "", "MaximumLicenseCountExceeded", ""},
		{authority.ReasonUnavailable, 503, "", "temporarily_unavailable", "1"},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			const secret = "jti secret-jti-42 of alice"
			ref := &authority.Refusal{Reason: tc.reason, Detail: secret}
			rec := httptest.NewRecorder()
			authority.WriteRefusal(rec, ref)
			if rec.Code != tc.status || rec.Code != ref.Status() {
				t.Errorf("status %d, want %d (Status() %d)", rec.Code, tc.status, ref.Status())
			}
			h := rec.Header()
			if got := h.Get("WWW-Authenticate"); got != tc.wantAuth {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.wantAuth)
			}
			if got := h.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
			}
			if h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" {
				t.Errorf("Content-Type %q, Cache-Control %q", h.Get("Content-Type"), h.Get("Cache-Control"))
			}
			var body authority.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error != tc.wantError || body.Description == "" {
				t.Errorf("body %s, want error %q with a description", rec.Body, tc.wantError)
			}
			// WriteRefusal writes the refusal's Answer, nothing else.
			if a := ref.Answer(); a.Status != rec.Code || a.Challenge != h.Get("WWW-Authenticate") ||
				a.RetryAfter != h.Get("Retry-After") || a.Body != body {
				t.Errorf("Answer() = %+v; written: %d %q %q %+v", a, rec.Code, h.Get("WWW-Authenticate"), h.Get("Retry-After"), body)
			}
			// The detail is for logs; the client learns the code. (An
			// invalid_request's detail is what the client did wrong.)
			if tc.reason != authority.ReasonInvalidRequest && strings.Contains(rec.Body.String(), "secret-jti") {
				t.Errorf("body tells the client the detail: %s", rec.Body)
			}
		})
	}
}

// "insufficient_scope: The request requires higher privileges than
// provided by the access token. The resource server SHOULD respond with
// the HTTP 403 (Forbidden) status code and MAY include the "scope"
// attribute with the scope necessary to access the protected resource."
func TestWriteInsufficientScope(t *testing.T) {
	rec := httptest.NewRecorder()
	authority.WriteInsufficientScope(rec, "read update")
	if rec.Code != 403 {
		t.Errorf("status %d, want 403", rec.Code)
	}
	if got, want := rec.Header().Get("WWW-Authenticate"), `Bearer realm="erpgate", error="insufficient_scope", scope="read update"`; got != want {
		t.Errorf("WWW-Authenticate = %q, want %q", got, want)
	}
	var body authority.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error != "insufficient_scope" || body.Scope != "read update" {
		t.Errorf("body %s", rec.Body)
	}
}
