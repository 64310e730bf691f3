package issuer

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/requestid"
)

// dummySecretHash is compared against when the client is unknown, so an
// unknown client_id costs the same time as a wrong secret.
var dummySecretHash = sha256.Sum256([]byte("erpgate: no such client"))

// eventClientAuthFailed is the audit event of every refused client
// authentication, at every endpoint that authenticates clients.
const eventClientAuthFailed = "client_auth.failed"

// The endpoints that authenticate clients, as audit lines name them.
const (
	doorToken      = "token"
	doorIntrospect = "introspection"
	doorRevoke     = "revocation"
)

// clientCredentials are the client credentials of a request as sent.
type clientCredentials struct {
	id, secret string
	method     string // client_secret_basic, client_secret_post, none
	err        *Error // malformed: the request is refused whatever id it names
	reason     string // audit reason of err
}

// readClientCredentials reads client_secret_basic, whose id and secret
// are form-urlencoded before Base64 (RFC 6749 §2.3.1: app URIs contain
// "/"), or client_secret_post. Public apps send only client_id. Using
// both methods at once is refused (RFC 6749 §2.3: "MUST NOT use more
// than one").
func readClientCredentials(r *http.Request, form url.Values) clientCredentials {
	id, secret, basic := r.BasicAuth()
	if basic {
		c := clientCredentials{method: "client_secret_basic"}
		var err1, err2 error
		c.id, err1 = url.QueryUnescape(id)
		c.secret, err2 = url.QueryUnescape(secret)
		switch {
		case err1 != nil || err2 != nil:
			c.id = id
			c.err, c.reason = ErrInvalidRequest.WithDescription("client credentials in the Authorization header are not form-urlencoded"), "malformed_credentials"
		case form.Has("client_secret"):
			c.err, c.reason = ErrInvalidRequest.WithDescription("use one client authentication method, not both"), "two_methods"
		case form.Has("client_id") && form.Get("client_id") != c.id:
			c.err, c.reason = ErrInvalidRequest.WithDescription("client_id in the body differs from the Authorization header"), "two_methods"
		case c.id == "":
			c.err, c.reason = ErrInvalidRequest.WithDescription("client_id is required"), "no_client_id"
		}
		return c
	}
	c := clientCredentials{id: form.Get("client_id"), secret: form.Get("client_secret"), method: "client_secret_post"}
	switch {
	case r.Header.Get("Authorization") != "":
		c.err, c.reason = ErrInvalidClient.WithDescription("unsupported client authentication scheme"), "unsupported_scheme"
	case c.id == "":
		c.err, c.reason = ErrInvalidRequest.WithDescription("client_id is required"), "no_client_id"
	case c.secret == "":
		c.method = "none"
	}
	return c
}

// authenticateClient identifies and authenticates the client of a
// request to the token, introspection or revocation endpoint (door);
// every endpoint that authenticates clients calls it. In this order:
//
//  1. The credentials are read, but the secret is not looked at.
//  2. The throttle (clientAuthThrottle) is asked about the claimed
//     client id and the real client address; a blocked attempt is
//     refused with 429 and Retry-After whatever its secret, so once
//     blocked the right secret is refused too and no answer tells a
//     right guess from a wrong one.
//  3. The secret is compared in constant time (SHA-256 as stored; an
//     unknown client costs the same as a wrong secret).
//
// Every refusal is counted by the throttle and written to the audit log
// as client_auth.failed, naming the client, or the short hash of the id
// when no such app exists (never echo arbitrary input into logs).
func (s *Server) authenticateClient(r *http.Request, form url.Values, door string) (*directory.App, error) {
	c := readClientCredentials(r, form)
	app := s.cfg.Directory.App(c.id)
	a := attempt{id: c.id, confidential: app != nil && !app.Public, addr: throttleAddr(r.RemoteAddr)}
	if wait := s.clientAuth.blocked(a); wait > 0 {
		s.refusedBy(metrics.LimiterClientAuth)
		s.auditClientAuth(r, door, c, app, "throttled")
		return nil, errClientAuthThrottled(wait)
	}
	err, reason := c.err, c.reason
	if err == nil {
		err, reason = judgeClient(app, c.secret)
	}
	if err != nil {
		s.clientAuth.failed(a)
		s.auditClientAuth(r, door, c, app, reason)
		return nil, err
	}
	s.clientAuth.succeeded(a)
	return app, nil
}

// judgeClient checks the secret against the app (nil: unknown). It
// returns the error for the client and the audit reason.
func judgeClient(app *directory.App, secret string) (*Error, string) {
	switch {
	case app == nil || !app.Enabled:
		subtle.ConstantTimeCompare(dummySecretHash[:], hashSecret(secret))
		reason := "unknown_client"
		if app != nil {
			reason = "disabled_client"
		}
		return ErrInvalidClient.WithDescription("unknown or disabled client"), reason
	case app.Public && secret != "":
		return ErrInvalidClient.WithDescription("public clients have no secret"), "public_client_secret"
	case app.Public:
		return nil, ""
	case secret == "":
		return ErrInvalidRequest.WithDescription("client_secret is required"), "no_secret"
	case subtle.ConstantTimeCompare(app.SecretHash, hashSecret(secret)) != 1:
		return ErrInvalidClient.WithDescription("client authentication failed"), "wrong_secret"
	}
	return nil, ""
}

// auditClientAuth writes one client_auth.failed line. A client id that
// names no app is written only as its short hash.
func (s *Server) auditClientAuth(r *http.Request, door string, c clientCredentials, app *directory.App, reason string) {
	attrs := []slog.Attr{slog.String("endpoint", door), slog.String("method", c.method)}
	clientID := ""
	if app != nil {
		clientID = app.ID
	} else if c.id != "" {
		attrs = append(attrs, slog.String("client_id_hash", audit.TokenHash(c.id)))
	}
	s.cfg.Audit.Log(r.Context(), audit.Event{
		Name: eventClientAuthFailed, ClientID: clientID,
		RequestID: requestid.From(r.Context()), RemoteAddr: r.RemoteAddr,
		Reason: reason, Attrs: attrs,
	})
}

// errClientAuthThrottled answers an attempt the throttle blocked: 429,
// Retry-After (RFC 6585 §4) and RFC 6749's temporarily_unavailable, as
// every rate limit of the issuer answers (RFC 6749 has no rate-limit
// code; slow_down belongs to the device flow, RFC 8628 §3.5).
func errClientAuthThrottled(wait time.Duration) *Error {
	return tooMany("too many failed client authentications", wait)
}

// isThrottled reports whether err is a throttle's 429.
func isThrottled(err error) bool {
	var oe *Error
	return errors.As(err, &oe) && oe.Status == http.StatusTooManyRequests
}

// hashSecret is how secrets are stored: SHA-256, compared in constant
// time. Client secrets are high-entropy random strings, so a fast hash is
// right here (a slow KDF would only slow the token endpoint down).
func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}
