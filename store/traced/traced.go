package traced

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/store"
)

var _ store.Backend = (*Store)(nil)

// Store is a store.Backend whose operations are measured and traced.
type Store struct {
	b        store.Backend
	tracer   trace.Tracer
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
}

// New wraps b. tracer makes the operations' spans (a no-op tracer when
// tracing is off); duration and errors are the metrics.Metrics
// StoreDuration and StoreErrors.
func New(b store.Backend, tracer trace.Tracer, duration *prometheus.HistogramVec, errors *prometheus.CounterVec) *Store {
	return &Store{b: b, tracer: tracer, duration: duration, errors: errors}
}

// answers are the store's answers a caller expects and acts on, rather
// than failures, with their names on a span.
var answers = []struct {
	err  error
	name string
}{
	{store.ErrNotFound, "not_found"},
	{store.ErrConflict, "conflict"},
	{store.ErrLicenseExhausted, "license_exhausted"},
	{store.ErrSessionEnded, "session_ended"},
}

// answer names err if it is one of the store's answers.
func answer(err error) (string, bool) {
	for _, a := range answers {
		if errors.Is(err, a.err) {
			return a.name, true
		}
	}
	return "", false
}

// run measures op, and traces it when ctx is in a recording span.
func run[T any](s *Store, ctx context.Context, name string, op func(context.Context) (T, error)) (T, error) {
	var span trace.Span
	if trace.SpanFromContext(ctx).IsRecording() {
		ctx, span = s.tracer.Start(ctx, "store."+name, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(semconv.DBOperationName(name)))
	}
	start := time.Now()
	v, err := op(ctx)
	s.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	ans, isAnswer := answer(err)
	failed := err != nil && !isAnswer
	if failed {
		s.errors.WithLabelValues(name).Inc()
	}
	if span != nil {
		switch {
		case failed:
			// Not the backend's text, which may quote keys and values.
			what := "failed"
			if errors.Is(err, context.DeadlineExceeded) {
				what = "no answer in time"
			}
			span.SetStatus(codes.Error, what)
		case err != nil:
			span.SetAttributes(attribute.String("erpgate.store.answer", ans))
		}
		span.End()
	}
	return v, err
}

// run0 is run for operations that return only an error.
func run0(s *Store, ctx context.Context, name string, op func(context.Context) error) error {
	_, err := run(s, ctx, name, func(ctx context.Context) (struct{}, error) { return struct{}{}, op(ctx) })
	return err
}

// Ping reports whether the store is reachable.
func (s *Store) Ping(ctx context.Context) error {
	return run0(s, ctx, "Ping", s.b.Ping)
}

// Close closes the wrapped store.
func (s *Store) Close() error { return s.b.Close() }

// Keys.

func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return run(s, ctx, "SigningKeys", s.b.SigningKeys)
}

func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey) error {
	return run0(s, ctx, "AddSigningKey", func(ctx context.Context) error { return s.b.AddSigningKey(ctx, k) })
}

func (s *Store) DeleteExpiredSigningKeys(ctx context.Context, now time.Time) error {
	return run0(s, ctx, "DeleteExpiredSigningKeys", func(ctx context.Context) error { return s.b.DeleteExpiredSigningKeys(ctx, now) })
}

// Sessions.

func (s *Store) OpenSession(ctx context.Context, sess store.Session, lic store.License) (store.Session, error) {
	return run(s, ctx, "OpenSession", func(ctx context.Context) (store.Session, error) { return s.b.OpenSession(ctx, sess, lic) })
}

func (s *Store) Session(ctx context.Context, id string) (store.Session, error) {
	return run(s, ctx, "Session", func(ctx context.Context) (store.Session, error) { return s.b.Session(ctx, id) })
}

func (s *Store) OpenSessions(ctx context.Context) ([]store.Session, error) {
	return run(s, ctx, "OpenSessions", s.b.OpenSessions)
}

func (s *Store) Usage(ctx context.Context) (store.Usage, error) {
	return run(s, ctx, "Usage", s.b.Usage)
}

func (s *Store) TouchSessions(ctx context.Context, seen map[string]time.Time) error {
	return run0(s, ctx, "TouchSessions", func(ctx context.Context) error { return s.b.TouchSessions(ctx, seen) })
}

func (s *Store) EndSession(ctx context.Context, id, reason string, at time.Time) (store.Session, error) {
	return run(s, ctx, "EndSession", func(ctx context.Context) (store.Session, error) { return s.b.EndSession(ctx, id, reason, at) })
}

func (s *Store) EndStaleSessions(ctx context.Context, idleBefore, now time.Time) ([]store.Session, error) {
	return run(s, ctx, "EndStaleSessions", func(ctx context.Context) ([]store.Session, error) {
		return s.b.EndStaleSessions(ctx, idleBefore, now)
	})
}

func (s *Store) EndedSessionsSince(ctx context.Context, since time.Time) ([]store.Session, error) {
	return run(s, ctx, "EndedSessionsSince", func(ctx context.Context) ([]store.Session, error) {
		return s.b.EndedSessionsSince(ctx, since)
	})
}

// Revocations.

func (s *Store) Revoke(ctx context.Context, jti string, expiresAt, now time.Time) error {
	return run0(s, ctx, "Revoke", func(ctx context.Context) error { return s.b.Revoke(ctx, jti, expiresAt, now) })
}

func (s *Store) Revoked(ctx context.Context, jti string) (bool, error) {
	return run(s, ctx, "Revoked", func(ctx context.Context) (bool, error) { return s.b.Revoked(ctx, jti) })
}

func (s *Store) RevokedSince(ctx context.Context, since time.Time) ([]store.Revocation, error) {
	return run(s, ctx, "RevokedSince", func(ctx context.Context) ([]store.Revocation, error) { return s.b.RevokedSince(ctx, since) })
}

func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) error {
	return run0(s, ctx, "DeleteExpiredRevocations", func(ctx context.Context) error { return s.b.DeleteExpiredRevocations(ctx, now) })
}

// Authorization codes.

func (s *Store) SaveAuthCode(ctx context.Context, c store.AuthCode) error {
	return run0(s, ctx, "SaveAuthCode", func(ctx context.Context) error { return s.b.SaveAuthCode(ctx, c) })
}

func (s *Store) RedeemAuthCode(ctx context.Context, hash string, now time.Time, accessTokenID string, accessExpiresAt time.Time) (store.AuthCode, error) {
	return run(s, ctx, "RedeemAuthCode", func(ctx context.Context) (store.AuthCode, error) {
		return s.b.RedeemAuthCode(ctx, hash, now, accessTokenID, accessExpiresAt)
	})
}

func (s *Store) DeleteExpiredAuthCodes(ctx context.Context, now time.Time) error {
	return run0(s, ctx, "DeleteExpiredAuthCodes", func(ctx context.Context) error { return s.b.DeleteExpiredAuthCodes(ctx, now) })
}

// Refresh tokens.

func (s *Store) SaveRefreshToken(ctx context.Context, t store.RefreshToken) error {
	return run0(s, ctx, "SaveRefreshToken", func(ctx context.Context) error { return s.b.SaveRefreshToken(ctx, t) })
}

func (s *Store) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	return run(s, ctx, "RefreshToken", func(ctx context.Context) (store.RefreshToken, error) { return s.b.RefreshToken(ctx, hash) })
}

func (s *Store) RotateRefreshToken(ctx context.Context, hash string, now time.Time, successor []byte, next store.RefreshToken) (store.RefreshToken, error) {
	return run(s, ctx, "RotateRefreshToken", func(ctx context.Context) (store.RefreshToken, error) {
		return s.b.RotateRefreshToken(ctx, hash, now, successor, next)
	})
}

func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) ([]store.IssuedToken, error) {
	return run(s, ctx, "RevokeRefreshFamily", func(ctx context.Context) ([]store.IssuedToken, error) {
		return s.b.RevokeRefreshFamily(ctx, familyID, now)
	})
}

func (s *Store) RevokeSessionRefreshTokens(ctx context.Context, sessionID string, now time.Time) ([]store.IssuedToken, error) {
	return run(s, ctx, "RevokeSessionRefreshTokens", func(ctx context.Context) ([]store.IssuedToken, error) {
		return s.b.RevokeSessionRefreshTokens(ctx, sessionID, now)
	})
}

func (s *Store) RevokeSubjectRefreshTokens(ctx context.Context, subject string, now time.Time) ([]store.IssuedToken, error) {
	return run(s, ctx, "RevokeSubjectRefreshTokens", func(ctx context.Context) ([]store.IssuedToken, error) {
		return s.b.RevokeSubjectRefreshTokens(ctx, subject, now)
	})
}

func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, now time.Time) error {
	return run0(s, ctx, "DeleteExpiredRefreshTokens", func(ctx context.Context) error { return s.b.DeleteExpiredRefreshTokens(ctx, now) })
}

// Identity sessions.

func (s *Store) SaveIdentitySession(ctx context.Context, sess store.IdentitySession) error {
	return run0(s, ctx, "SaveIdentitySession", func(ctx context.Context) error { return s.b.SaveIdentitySession(ctx, sess) })
}

func (s *Store) IdentitySession(ctx context.Context, id string) (store.IdentitySession, error) {
	return run(s, ctx, "IdentitySession", func(ctx context.Context) (store.IdentitySession, error) { return s.b.IdentitySession(ctx, id) })
}

func (s *Store) EndIdentitySession(ctx context.Context, id string, now time.Time) error {
	return run0(s, ctx, "EndIdentitySession", func(ctx context.Context) error { return s.b.EndIdentitySession(ctx, id, now) })
}

func (s *Store) EndSubjectIdentitySessions(ctx context.Context, subject string, now time.Time) ([]string, error) {
	return run(s, ctx, "EndSubjectIdentitySessions", func(ctx context.Context) ([]string, error) {
		return s.b.EndSubjectIdentitySessions(ctx, subject, now)
	})
}

func (s *Store) IdentitySessionsOf(ctx context.Context, subject string, now time.Time) ([]store.IdentitySession, error) {
	return run(s, ctx, "IdentitySessionsOf", func(ctx context.Context) ([]store.IdentitySession, error) {
		return s.b.IdentitySessionsOf(ctx, subject, now)
	})
}

// Consents.

func (s *Store) SaveConsent(ctx context.Context, c store.Consent) error {
	return run0(s, ctx, "SaveConsent", func(ctx context.Context) error { return s.b.SaveConsent(ctx, c) })
}

func (s *Store) Consent(ctx context.Context, subject, clientID string) (store.Consent, error) {
	return run(s, ctx, "Consent", func(ctx context.Context) (store.Consent, error) { return s.b.Consent(ctx, subject, clientID) })
}

func (s *Store) ConsentsOf(ctx context.Context, subject string) ([]store.Consent, error) {
	return run(s, ctx, "ConsentsOf", func(ctx context.Context) ([]store.Consent, error) { return s.b.ConsentsOf(ctx, subject) })
}

func (s *Store) RevokeConsent(ctx context.Context, subject, clientID string) error {
	return run0(s, ctx, "RevokeConsent", func(ctx context.Context) error { return s.b.RevokeConsent(ctx, subject, clientID) })
}

// Apps.

func (s *Store) CreateApp(ctx context.Context, a directory.App) error {
	return run0(s, ctx, "CreateApp", func(ctx context.Context) error { return s.b.CreateApp(ctx, a) })
}

func (s *Store) App(ctx context.Context, uri string) (directory.App, error) {
	return run(s, ctx, "App", func(ctx context.Context) (directory.App, error) { return s.b.App(ctx, uri) })
}

func (s *Store) Apps(ctx context.Context) ([]directory.App, error) {
	return run(s, ctx, "Apps", s.b.Apps)
}

func (s *Store) UpdateApp(ctx context.Context, a directory.App) error {
	return run0(s, ctx, "UpdateApp", func(ctx context.Context) error { return s.b.UpdateApp(ctx, a) })
}

func (s *Store) AppsChangedSince(ctx context.Context, since time.Time) ([]directory.App, error) {
	return run(s, ctx, "AppsChangedSince", func(ctx context.Context) ([]directory.App, error) { return s.b.AppsChangedSince(ctx, since) })
}

// Reference tokens.

func (s *Store) SaveReferenceToken(ctx context.Context, t store.ReferenceToken) error {
	return run0(s, ctx, "SaveReferenceToken", func(ctx context.Context) error { return s.b.SaveReferenceToken(ctx, t) })
}

func (s *Store) ReferenceTokenByHash(ctx context.Context, hash string) (store.ReferenceToken, error) {
	return run(s, ctx, "ReferenceTokenByHash", func(ctx context.Context) (store.ReferenceToken, error) {
		return s.b.ReferenceTokenByHash(ctx, hash)
	})
}

func (s *Store) ReferenceToken(ctx context.Context, id string) (store.ReferenceToken, error) {
	return run(s, ctx, "ReferenceToken", func(ctx context.Context) (store.ReferenceToken, error) { return s.b.ReferenceToken(ctx, id) })
}

func (s *Store) ReferenceTokens(ctx context.Context, subject string) ([]store.ReferenceToken, error) {
	return run(s, ctx, "ReferenceTokens", func(ctx context.Context) ([]store.ReferenceToken, error) {
		return s.b.ReferenceTokens(ctx, subject)
	})
}

func (s *Store) RevokeReferenceToken(ctx context.Context, id string, at time.Time) (store.ReferenceToken, error) {
	return run(s, ctx, "RevokeReferenceToken", func(ctx context.Context) (store.ReferenceToken, error) {
		return s.b.RevokeReferenceToken(ctx, id, at)
	})
}

func (s *Store) TouchReferenceTokens(ctx context.Context, used map[string]time.Time) error {
	return run0(s, ctx, "TouchReferenceTokens", func(ctx context.Context) error { return s.b.TouchReferenceTokens(ctx, used) })
}

// Password changes.

func (s *Store) SavePasswordChange(ctx context.Context, c directory.PasswordChange) error {
	return run0(s, ctx, "SavePasswordChange", func(ctx context.Context) error { return s.b.SavePasswordChange(ctx, c) })
}

func (s *Store) PasswordChangesSince(ctx context.Context, since time.Time) ([]directory.PasswordChange, error) {
	return run(s, ctx, "PasswordChangesSince", func(ctx context.Context) ([]directory.PasswordChange, error) {
		return s.b.PasswordChangesSince(ctx, since)
	})
}

// Users.

func (s *Store) CreateUser(ctx context.Context, u directory.User) error {
	return run0(s, ctx, "CreateUser", func(ctx context.Context) error { return s.b.CreateUser(ctx, u) })
}

func (s *Store) User(ctx context.Context, login string) (directory.User, error) {
	return run(s, ctx, "User", func(ctx context.Context) (directory.User, error) { return s.b.User(ctx, login) })
}

func (s *Store) Users(ctx context.Context) ([]directory.User, error) {
	return run(s, ctx, "Users", s.b.Users)
}

func (s *Store) UpdateUser(ctx context.Context, u directory.User) error {
	return run0(s, ctx, "UpdateUser", func(ctx context.Context) error { return s.b.UpdateUser(ctx, u) })
}

func (s *Store) DeleteUser(ctx context.Context, login string, at time.Time) error {
	return run0(s, ctx, "DeleteUser", func(ctx context.Context) error { return s.b.DeleteUser(ctx, login, at) })
}

func (s *Store) UsersChangedSince(ctx context.Context, since time.Time) ([]directory.User, error) {
	return run(s, ctx, "UsersChangedSince", func(ctx context.Context) ([]directory.User, error) {
		return s.b.UsersChangedSince(ctx, since)
	})
}

// Password resets.

func (s *Store) SavePasswordReset(ctx context.Context, r store.PasswordReset) error {
	return run0(s, ctx, "SavePasswordReset", func(ctx context.Context) error { return s.b.SavePasswordReset(ctx, r) })
}

func (s *Store) PasswordReset(ctx context.Context, hash string) (store.PasswordReset, error) {
	return run(s, ctx, "PasswordReset", func(ctx context.Context) (store.PasswordReset, error) {
		return s.b.PasswordReset(ctx, hash)
	})
}

func (s *Store) UsePasswordReset(ctx context.Context, hash string, at time.Time) (store.PasswordReset, error) {
	return run(s, ctx, "UsePasswordReset", func(ctx context.Context) (store.PasswordReset, error) {
		return s.b.UsePasswordReset(ctx, hash, at)
	})
}

// Session clients (back-channel logout).

func (s *Store) RecordSessionClient(ctx context.Context, c store.SessionClient) error {
	return run0(s, ctx, "RecordSessionClient", func(ctx context.Context) error { return s.b.RecordSessionClient(ctx, c) })
}

func (s *Store) TakeSessionClients(ctx context.Context, sid string) ([]store.SessionClient, error) {
	return run(s, ctx, "TakeSessionClients", func(ctx context.Context) ([]store.SessionClient, error) {
		return s.b.TakeSessionClients(ctx, sid)
	})
}

func (s *Store) DeleteStaleSessionClients(ctx context.Context, before time.Time) error {
	return run0(s, ctx, "DeleteStaleSessionClients", func(ctx context.Context) error {
		return s.b.DeleteStaleSessionClients(ctx, before)
	})
}

// Federated links (sign-in through external identity providers).

func (s *Store) FederatedLink(ctx context.Context, provider, subject string) (store.FederatedLink, error) {
	return run(s, ctx, "FederatedLink", func(ctx context.Context) (store.FederatedLink, error) {
		return s.b.FederatedLink(ctx, provider, subject)
	})
}

func (s *Store) SaveFederatedLink(ctx context.Context, l store.FederatedLink) error {
	return run0(s, ctx, "SaveFederatedLink", func(ctx context.Context) error { return s.b.SaveFederatedLink(ctx, l) })
}

func (s *Store) FederatedLinksOf(ctx context.Context, login string) ([]store.FederatedLink, error) {
	return run(s, ctx, "FederatedLinksOf", func(ctx context.Context) ([]store.FederatedLink, error) {
		return s.b.FederatedLinksOf(ctx, login)
	})
}

func (s *Store) DeleteFederatedLinks(ctx context.Context, login string) error {
	return run0(s, ctx, "DeleteFederatedLinks", func(ctx context.Context) error { return s.b.DeleteFederatedLinks(ctx, login) })
}

// Second factors (issue 20).

func (s *Store) TOTP(ctx context.Context, login string) (store.TOTPFactor, error) {
	return run(s, ctx, "TOTP", func(ctx context.Context) (store.TOTPFactor, error) { return s.b.TOTP(ctx, login) })
}

func (s *Store) SaveTOTP(ctx context.Context, f store.TOTPFactor) error {
	return run0(s, ctx, "SaveTOTP", func(ctx context.Context) error { return s.b.SaveTOTP(ctx, f) })
}

func (s *Store) ConfirmTOTP(ctx context.Context, login, secret string, step int64, now time.Time) error {
	return run0(s, ctx, "ConfirmTOTP", func(ctx context.Context) error { return s.b.ConfirmTOTP(ctx, login, secret, step, now) })
}

func (s *Store) UseTOTPStep(ctx context.Context, login string, step int64) error {
	return run0(s, ctx, "UseTOTPStep", func(ctx context.Context) error { return s.b.UseTOTPStep(ctx, login, step) })
}

func (s *Store) SaveRecoveryCodes(ctx context.Context, login string, hashes []string, now time.Time) error {
	return run0(s, ctx, "SaveRecoveryCodes", func(ctx context.Context) error { return s.b.SaveRecoveryCodes(ctx, login, hashes, now) })
}

func (s *Store) RecoveryCodes(ctx context.Context, login string) ([]string, error) {
	return run(s, ctx, "RecoveryCodes", func(ctx context.Context) ([]string, error) { return s.b.RecoveryCodes(ctx, login) })
}

func (s *Store) UseRecoveryCode(ctx context.Context, login, hash string) error {
	return run0(s, ctx, "UseRecoveryCode", func(ctx context.Context) error { return s.b.UseRecoveryCode(ctx, login, hash) })
}

func (s *Store) DeleteFactors(ctx context.Context, login string) error {
	return run0(s, ctx, "DeleteFactors", func(ctx context.Context) error { return s.b.DeleteFactors(ctx, login) })
}

// Passkeys (issue 20).

func (s *Store) SavePasskey(ctx context.Context, p store.Passkey) error {
	return run0(s, ctx, "SavePasskey", func(ctx context.Context) error { return s.b.SavePasskey(ctx, p) })
}

func (s *Store) Passkeys(ctx context.Context, login string) ([]store.Passkey, error) {
	return run(s, ctx, "Passkeys", func(ctx context.Context) ([]store.Passkey, error) { return s.b.Passkeys(ctx, login) })
}

func (s *Store) PasskeyByCredentialID(ctx context.Context, id []byte) (store.Passkey, error) {
	return run(s, ctx, "PasskeyByCredentialID", func(ctx context.Context) (store.Passkey, error) {
		return s.b.PasskeyByCredentialID(ctx, id)
	})
}

func (s *Store) UpdatePasskeyUse(ctx context.Context, id []byte, signCount uint32, at time.Time) error {
	return run0(s, ctx, "UpdatePasskeyUse", func(ctx context.Context) error { return s.b.UpdatePasskeyUse(ctx, id, signCount, at) })
}

func (s *Store) RenamePasskey(ctx context.Context, login string, id []byte, name string) error {
	return run0(s, ctx, "RenamePasskey", func(ctx context.Context) error { return s.b.RenamePasskey(ctx, login, id, name) })
}

func (s *Store) DeletePasskey(ctx context.Context, login string, id []byte) error {
	return run0(s, ctx, "DeletePasskey", func(ctx context.Context) error { return s.b.DeletePasskey(ctx, login, id) })
}
