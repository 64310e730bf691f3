package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
)

// Event names (SPEC §8).
const (
	TokenIssued           = "token.issued"
	TokenRefused          = "token.refused"
	LoginSucceeded        = "login.succeeded"
	LoginFailed           = "login.failed"
	Logout                = "logout"
	SessionOpened         = "session.opened"
	SessionEnded          = "session.ended"
	AccessDenied          = "access.denied"
	ReferenceTokenIssued  = "reference_token.issued"
	ReferenceTokenRevoked = "reference_token.revoked"
	ConfigReloaded        = "config.reloaded"
	// Consent answers on the consent page and revocations on the
	// account page; the scopes are in the scopes attribute.
	ConsentGiven   = "consent.given"
	ConsentDenied  = "consent.denied"
	ConsentRevoked = "consent.revoked"
	// PasswordChanged is a user changing their own password on the
	// account page.
	PasswordChanged = "password.changed"
	// AdminChange records a change made through the admin API (an app
	// created, disabled, its secret rotated); reason says which.
	AdminChange = "admin.change"
)

// Event is one security event. Empty fields are still written, so every
// line has the same shape.
type Event struct {
	Name       string
	ClientID   string
	Subject    string
	Session    string
	RequestID  string
	RemoteAddr string
	Reason     string
	// Attrs are event-specific extras (e.g. grant_type, route, token hash).
	Attrs []slog.Attr
}

// Logger writes audit events. A nil *Logger discards them.
type Logger struct {
	h slog.Handler
}

// New returns a Logger writing to h (typically a slog.JSONHandler on
// stderr or a file, chosen by cmd/erpgate).
func New(h slog.Handler) *Logger { return &Logger{h: h} }

// Log writes e at info level; the slog record's time is the event time.
func (l *Logger) Log(ctx context.Context, e Event) {
	if l == nil || !l.h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 8+len(e.Attrs))
	attrs = append(attrs,
		slog.String("event", e.Name),
		slog.String("client_id", e.ClientID),
		slog.String("subject", e.Subject),
		slog.String("session", e.Session),
		slog.String("request_id", e.RequestID),
		slog.String("remote_addr", e.RemoteAddr),
		slog.String("reason", e.Reason),
	)
	attrs = append(attrs, e.Attrs...)
	slog.New(l.h).LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
}

// TokenHash is how a token or secret may appear in logs: the first 12 hex
// digits of its SHA-256, enough to correlate lines, useless to an attacker.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:6])
}
