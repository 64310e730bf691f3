package issuer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/erpgate/erpgate/store"
)

// IdentitySessions keeps the identity (SSO) sessions
// (store.IdentitySessions): sign-in saves one, every flow with the cookie
// looks it up, logout ends it, the account page lists and ends a user's
// own, and a password change ends them all.
type IdentitySessions interface {
	SaveIdentitySession(ctx context.Context, s store.IdentitySession) error
	IdentitySession(ctx context.Context, id string) (store.IdentitySession, error)
	EndIdentitySession(ctx context.Context, id string, now time.Time) error
	EndSubjectIdentitySessions(ctx context.Context, subject string, now time.Time) ([]string, error)
	IdentitySessionsOf(ctx context.Context, subject string, now time.Time) ([]store.IdentitySession, error)
}

// identityCookie carries the identity (SSO) session: "<sid>.<secret>". Only
// the secret's hash is stored, and the secret changes at every sign-in.
const identityCookie = "erpgate_id"

// newSecret returns 256 random bits, base64url: codes, refresh tokens,
// cookie secrets.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hashToken is how codes, refresh tokens and cookie secrets are stored.
func hashToken(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// currentIdentity returns the live identity session of the request's
// cookie, if any; a store that cannot answer counts as none (for pages
// that then ask to sign in). Flows that must not turn an outage into
// "not signed in" use lookupIdentity.
func (s *Server) currentIdentity(r *http.Request) (store.IdentitySession, bool) {
	sess, ok, _ := s.lookupIdentity(r)
	return sess, ok
}

// lookupIdentity is currentIdentity that tells a store failure (err) from
// no sign-in.
func (s *Server) lookupIdentity(r *http.Request) (store.IdentitySession, bool, error) {
	c, err := r.Cookie(identityCookie)
	if err != nil {
		return store.IdentitySession{}, false, nil
	}
	sid, secret, ok := strings.Cut(c.Value, ".")
	if !ok || sid == "" || secret == "" {
		return store.IdentitySession{}, false, nil
	}
	sess, err := s.cfg.IdentitySessions.IdentitySession(r.Context(), sid)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.IdentitySession{}, false, nil
	case err != nil:
		return store.IdentitySession{}, false, err
	case !sess.EndedAt.IsZero() || !s.cfg.Clock().Before(sess.ExpiresAt):
		return store.IdentitySession{}, false, nil
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(secret)), []byte(sess.SecretHash)) != 1 {
		return store.IdentitySession{}, false, nil
	}
	// The sign-in's tokens share its sid: once a logout or an
	// administrator ended that session, the cookie is refused too (one
	// rule at every door). The kill switch of one app does not end the
	// user's own sign-in, which serves every app.
	reason, err := s.cfg.Authority.SessionEnded(r.Context(), sid)
	if err != nil {
		return store.IdentitySession{}, false, err
	}
	if reason == store.EndLogout || reason == store.EndAdmin {
		return store.IdentitySession{}, false, nil
	}
	return sess, true, nil
}

// setIdentityCookie hands the browser a session cookie (no Max-Age: it
// ends with the browser; the server-side session has its own expiry).
func (s *Server) setIdentityCookie(w http.ResponseWriter, sid, secret string) {
	http.SetCookie(w, &http.Cookie{
		Name: identityCookie, Value: sid + "." + secret, Path: s.prefix + "/",
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearIdentityCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: identityCookie, Value: "", Path: s.prefix + "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}
