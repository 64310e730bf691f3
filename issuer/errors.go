package issuer

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// Error is an OAuth 2.0 error response (RFC 6749 §5.2). The shared values
// below are never mutated: With* methods return copies.
type Error struct {
	Code        string // RFC 6749 §5.2 error code
	Description string // sent as error_description; safe for clients
	Status      int    // HTTP status
	cause       error  // debug detail: logged, never sent
	retryAfter  int    // seconds, sent as Retry-After when > 0
}

func (e *Error) Error() string {
	s := e.Code
	if e.Description != "" {
		s += ": " + e.Description
	}
	if e.cause != nil {
		s += " (" + e.cause.Error() + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.cause }

// Is matches errors by code, so errors.Is(err, ErrInvalidClient) holds for
// any copy made with WithDescription or WithCause.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// WithDescription returns a copy with a client-visible description.
func (e *Error) WithDescription(d string) *Error {
	c := *e
	c.Description = d
	return &c
}

// WithCause returns a copy carrying an internal cause for the logs.
func (e *Error) WithCause(err error) *Error {
	c := *e
	c.cause = err
	return &c
}

// RFC 6749 §5.2 error codes, plus RFC 6749 §4.1.2.1's temporarily_unavailable.
var (
	ErrInvalidRequest       = &Error{Code: "invalid_request", Status: http.StatusBadRequest}
	ErrInvalidClient        = &Error{Code: "invalid_client", Status: http.StatusUnauthorized}
	ErrInvalidGrant         = &Error{Code: "invalid_grant", Status: http.StatusBadRequest}
	ErrUnauthorizedClient   = &Error{Code: "unauthorized_client", Status: http.StatusBadRequest}
	ErrUnsupportedGrantType = &Error{Code: "unsupported_grant_type", Status: http.StatusBadRequest}
	ErrInvalidScope         = &Error{Code: "invalid_scope", Status: http.StatusBadRequest}
	ErrServerError          = &Error{Code: "server_error", Status: http.StatusInternalServerError}
	// ErrTemporarilyUnavailable tells the client to retry shortly.
	ErrTemporarilyUnavailable = &Error{Code: "temporarily_unavailable", Status: http.StatusServiceUnavailable, retryAfter: 1}
	errMethodNotAllowed       = &Error{Code: "invalid_request", Status: http.StatusMethodNotAllowed, Description: "use POST"}
	errUnsupportedContentType = &Error{Code: "invalid_request", Status: http.StatusBadRequest, Description: "the body must be application/x-www-form-urlencoded"}
	// Bounds on reading a request (parseForm).
	errTooLarge          = &Error{Code: "invalid_request", Status: http.StatusBadRequest}
	errTooManyParameters = &Error{Code: "invalid_request", Status: http.StatusBadRequest, Description: "too many parameters (at most " + strconv.Itoa(maxFormValues) + ")"}
	errRequestTimeout    = &Error{Code: "invalid_request", Status: http.StatusRequestTimeout, Description: "the request body did not arrive in time"}
)

// asOAuthError maps any error to the Error sent to the client; anything
// that is not an *Error becomes server_error without detail.
func asOAuthError(err error) *Error {
	var oe *Error
	if errors.As(err, &oe) {
		return oe
	}
	return ErrServerError.WithCause(err)
}

// writeError writes e as RFC 6749 §5.2 JSON. invalid_client carries a
// WWW-Authenticate challenge (RFC 6749 §5.2: "MAY return an HTTP 401 ...
// MUST include the WWW-Authenticate response header field").
func writeError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	if e.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="erpgate"`)
	}
	if e.Status == http.StatusMethodNotAllowed {
		h.Set("Allow", http.MethodPost)
	}
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	body := struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description}
	writeJSON(w, e.Status, body)
}

// writeJSON writes v with the no-store headers every token and error
// response needs (RFC 6749 §5.1).
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
