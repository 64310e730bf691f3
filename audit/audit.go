package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/erpgate/erpgate/internal/logattr"
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
	// Second factors (issue 20): a user enrolled TOTP (at sign-in or on
	// the account page) or removed it; a second step passed or failed
	// (reason: wrong_code, replayed, throttled, …; the factor attribute
	// says totp or recovery); an operator reset a user's factors.
	MFAEnrolled  = "mfa.enrolled"
	MFARemoved   = "mfa.removed"
	MFASucceeded = "mfa.succeeded"
	MFAFailed    = "mfa.failed"
	MFAReset     = "mfa.reset"
	// AdminChange records a change made through the admin API (an app
	// created, disabled, its secret rotated); reason says which.
	AdminChange = "admin.change"
	// LiveClosed is a WebSocket or stream the gateway closed because its
	// session ended or its credential may no longer act (package live).
	LiveClosed = "live.closed"
	// BackchannelLogout is the final outcome of one back-channel logout
	// token (package backchannel); reason is its result.
	BackchannelLogout = "logout.backchannel"
	// FederatedLinked is a person's first sign-in through an external
	// identity provider linking them to a local user; reason is
	// "created" (the provider's rules created the user) or
	// "linked_by_email"; the idp attribute names the provider.
	FederatedLinked = "federation.linked"
)

// Event is one security event. A field left empty is left out of the
// line (a logout at the account page names no client, a reload no
// subject), and so is an attribute whose value is empty: a log pipeline
// tests a field for presence, never for "".
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
	// report gets the error of a line h could not write; nil: dropped.
	report func(error)
	// recent, when set, keeps the latest events (recent.go).
	recent *Recent
}

// New returns a Logger writing to h (typically a slog.JSONHandler on
// stderr, stdout or a File, chosen by cmd/erpgate).
func New(h slog.Handler) *Logger { return &Logger{h: h} }

// ReportErrors returns a copy of l that hands report the error of every
// event its handler failed to write (a full disk, a closed pipe), so a
// lost audit line is seen on the process log instead of vanishing.
func (l *Logger) ReportErrors(report func(error)) *Logger {
	return &Logger{h: l.h, report: report, recent: l.recent}
}

// Log writes e at info level; the slog record's time is the event time.
func (l *Logger) Log(ctx context.Context, e Event) {
	if l == nil {
		return
	}
	now := time.Now()
	if l.recent != nil {
		l.recent.add(now, e)
	}
	if !l.h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	r := slog.NewRecord(now, slog.LevelInfo, "audit", 0)
	for _, f := range [...]struct{ key, value string }{
		{"event", e.Name}, {"client_id", e.ClientID}, {"subject", e.Subject}, {"session", e.Session},
		{"request_id", e.RequestID}, {"remote_addr", e.RemoteAddr}, {"reason", e.Reason},
	} {
		if f.value != "" {
			r.AddAttrs(slog.String(f.key, f.value))
		}
	}
	for _, a := range e.Attrs {
		if !logattr.Empty(a.Value) {
			r.AddAttrs(a)
		}
	}
	if err := l.h.Handle(ctx, r); err != nil && l.report != nil {
		l.report(fmt.Errorf("audit event %s not written: %w", e.Name, err))
	}
}

// TokenHash is how a token or secret may appear in logs: the first 12 hex
// digits of its SHA-256, enough to correlate lines, useless to an attacker.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:6])
}
