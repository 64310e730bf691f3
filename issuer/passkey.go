package issuer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/store"
)

// Passkeys (WebAuthn Level 3, issue 20): a second factor after the
// password, and a passwordless first factor that counts for two
// (possession of the key and the user verification it performed).
//
// The relying party is the issuer: its id is the issuer URL's host, its
// origin the issuer URL's origin (public_url's), so a passkey made for
// one gateway never signs in at another. Each ceremony begins when a
// page is rendered (the options go into the page, the challenge into a
// short-lived cookie holding a record signed with the issuer's key, so
// any replica can finish it) and ends when the page's script posts the
// authenticator's answer as a form field: the page needs script-src
// 'self' (passkey.js) and nothing more, no connect-src. A ceremony
// record is single-use (spent on this process; the challenge it carries
// is never issued twice) and expires after passkeyTTL.

const (
	// passkeyTTL bounds a ceremony, begin to finish.
	passkeyTTL = 5 * time.Minute
	// typePasskeyCeremony is the JWS typ of a ceremony record, so it can
	// pass for nothing else the issuer signs.
	typePasskeyCeremony = "erpgate-webauthn+jwt"
	// maxPasskeyName bounds a passkey's name, in characters.
	maxPasskeyName = 64
	// maxPasskeys bounds one user's passkeys.
	maxPasskeys = 20
)

// The ceremonies, each with its own cookie so tabs do not clash.
const (
	ceremonyRegister     = "register"     // account page: add a passkey
	ceremonySecondFactor = "second"       // second step after a password
	ceremonyPasswordless = "passwordless" // login page, no login typed
)

// Passkeys keeps the users' passkeys (store.Passkeys).
type Passkeys interface {
	SavePasskey(ctx context.Context, p store.Passkey) error
	Passkeys(ctx context.Context, login string) ([]store.Passkey, error)
	PasskeyByCredentialID(ctx context.Context, id []byte) (store.Passkey, error)
	UpdatePasskeyUse(ctx context.Context, id []byte, signCount uint32, at time.Time) error
	RenamePasskey(ctx context.Context, login string, id []byte, name string) error
	DeletePasskey(ctx context.Context, login string, id []byte) error
}

// ceremony is the signed record in a ceremony's cookie.
type ceremony struct {
	Issuer   string               `json:"iss"`
	Audience string               `json:"aud"` // the issuer + "#" + the ceremony: this record's only use
	ID       string               `json:"jti"`
	Subject  string               `json:"sub,omitempty"` // "" for the passwordless sign-in
	ClientID string               `json:"client_id,omitempty"`
	Expiry   int64                `json:"exp"`
	Session  webauthn.SessionData `json:"webauthn"`
}

func passkeyCookie(kind string) string { return "erpgate_webauthn_" + kind }

// newRelyingParty is the WebAuthn relying party of the issuer URL. An
// issuer whose host is an IP address has none (WebAuthn §5.1.4.1: an RP
// id is a domain), and offers no passkeys.
func newRelyingParty(issuer, name string) (*webauthn.WebAuthn, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Hostname() == "" {
		return nil, errors.New("the issuer URL names no host")
	}
	return webauthn.New(&webauthn.Config{
		RPID:          u.Hostname(),
		RPDisplayName: name,
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
		// Passkeys prove possession, not a model: no attestation asked
		// for, so no authenticator vendor is favoured or identified.
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: passkeyTTL, TimeoutUVD: passkeyTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: passkeyTTL, TimeoutUVD: passkeyTTL},
		},
	})
}

// relyingParty is the server's relying party (routePasskeys built it).
func (s *Server) relyingParty() (*webauthn.WebAuthn, error) {
	if s.rp == nil {
		return nil, errors.New("passkeys are off")
	}
	return s.rp, nil
}

// passkeyUser is a user as go-webauthn sees them.
type passkeyUser struct {
	login, name string
	handle      []byte
	keys        []store.Passkey
}

func (u *passkeyUser) WebAuthnID() []byte          { return u.handle }
func (u *passkeyUser) WebAuthnName() string        { return u.login }
func (u *passkeyUser) WebAuthnDisplayName() string { return u.name }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(u.keys))
	for i, p := range u.keys {
		transports := make([]protocol.AuthenticatorTransport, len(p.Transports))
		for j, t := range p.Transports {
			transports[j] = protocol.AuthenticatorTransport(t)
		}
		out[i] = webauthn.Credential{ID: p.CredentialID, PublicKey: p.PublicKey, Transport: transports,
			Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: p.UserVerified,
				BackupEligible: p.BackupEligible, BackupState: p.BackupState},
			Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount}}
	}
	return out
}

// newPasskeyUser loads u's passkeys. The user handle is theirs if they
// have one (every passkey of a login carries the same), else a new
// random one (WebAuthn §14.6.1: never the login).
func (s *Server) newPasskeyUser(ctx context.Context, u *directory.User) (*passkeyUser, error) {
	keys, err := s.cfg.Passkeys.Passkeys(ctx, u.Login)
	if err != nil {
		return nil, err
	}
	pu := &passkeyUser{login: u.Login, name: u.Name, keys: keys}
	if pu.name == "" {
		pu.name = u.Login
	}
	if len(keys) > 0 {
		pu.handle = keys[0].UserHandle
	} else {
		pu.handle = make([]byte, 32)
		_, _ = rand.Read(pu.handle)
	}
	return pu, nil
}

// hasPasskey reports whether login has a passkey (a store error: no).
func (s *Server) hasPasskey(ctx context.Context, login string) (bool, error) {
	if s.cfg.Passkeys == nil {
		return false, nil
	}
	keys, err := s.cfg.Passkeys.Passkeys(ctx, login)
	return len(keys) > 0, err
}

// startCeremony signs the ceremony's record into its cookie and returns
// the options the page's script hands to navigator.credentials, as JSON.
func (s *Server) startCeremony(w http.ResponseWriter, kind, subject, clientID string, session *webauthn.SessionData, options any) (string, error) {
	c := ceremony{Issuer: s.cfg.Issuer, Audience: s.cfg.Issuer + "#" + kind, ID: newID(), Subject: subject,
		ClientID: clientID, Expiry: s.cfg.Clock().Add(passkeyTTL).Unix(), Session: *session}
	jws, err := s.cfg.Signer.Sign(typePasskeyCeremony, c)
	if err != nil {
		return "", err
	}
	opts, err := json.Marshal(options)
	if err != nil {
		return "", err
	}
	// Strict: every ceremony begins and ends on our own pages.
	http.SetCookie(w, &http.Cookie{Name: passkeyCookie(kind), Value: jws, Path: s.prefix + "/account/",
		MaxAge: int(passkeyTTL / time.Second), HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode})
	return string(opts), nil
}

// takeCeremony reads and spends the browser's kind ceremony; false when
// there is none, it is forged, expired, for another ceremony, subject or
// app, or spent.
func (s *Server) takeCeremony(w http.ResponseWriter, r *http.Request, kind, subject, clientID string) (ceremony, bool) {
	ck, err := r.Cookie(passkeyCookie(kind))
	http.SetCookie(w, &http.Cookie{Name: passkeyCookie(kind), Value: "", Path: s.prefix + "/account/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode})
	if err != nil || len(ck.Value) > maxPendingCookie {
		return ceremony{}, false
	}
	raw, err := s.cfg.Signer.Verify(ck.Value, typePasskeyCeremony)
	var c ceremony
	if err != nil || json.Unmarshal(raw, &c) != nil {
		return ceremony{}, false
	}
	now := s.cfg.Clock()
	exp := time.Unix(c.Expiry, 0)
	if c.Issuer != s.cfg.Issuer || c.Audience != s.cfg.Issuer+"#"+kind || c.Subject != subject ||
		c.ClientID != clientID || !now.Before(exp) || s.spentMFA.used("webauthn "+c.ID, now) {
		return ceremony{}, false
	}
	s.spentMFA.spend("webauthn "+c.ID, now, exp)
	return c, true
}

// passkeyMethod is the RFC 8176 amr of a passkey: swk for a backup
// eligible (synced) one, whose key is not bound to one device; hwk for
// one that is.
func passkeyMethod(p store.Passkey) string {
	if p.BackupEligible {
		return "swk"
	}
	return "hwk"
}

// parseAssertion parses the authenticator's answer the page posted.
func parseAssertion(r *http.Request) (*protocol.ParsedCredentialAssertionData, error) {
	return protocol.ParseCredentialRequestResponseBytes([]byte(r.PostForm.Get("credential")))
}

// errPasskeyReplayed is a sign count that did not grow (WebAuthn
// §6.1.1): a cloned authenticator, or an assertion seen before.
var errPasskeyReplayed = errors.New("passkey sign count did not grow")

// acceptAssertion records a validated assertion of credential: the
// sign count must grow (go-webauthn's clone warning, then the store's
// compare-and-set, which two replicas cannot both pass). It returns the
// stored passkey.
func (s *Server) acceptAssertion(ctx context.Context, cred *webauthn.Credential) (store.Passkey, error) {
	p, err := s.cfg.Passkeys.PasskeyByCredentialID(ctx, cred.ID)
	if err != nil {
		return store.Passkey{}, err
	}
	if cred.Authenticator.CloneWarning {
		return p, errPasskeyReplayed
	}
	err = s.cfg.Passkeys.UpdatePasskeyUse(ctx, cred.ID, cred.Authenticator.SignCount, s.cfg.Clock())
	if errors.Is(err, store.ErrConflict) {
		return p, errPasskeyReplayed
	}
	return p, err
}

// discoverableUser finds the user of a discoverable credential: the
// passkey with rawID, whose stored user handle must be the one the
// authenticator returned.
func (s *Server) discoverableUser(ctx context.Context) webauthn.DiscoverableUserHandler {
	return func(rawID, userHandle []byte) (webauthn.User, error) {
		p, err := s.cfg.Passkeys.PasskeyByCredentialID(ctx, rawID)
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare(p.UserHandle, userHandle) != 1 {
			return nil, errors.New("passkey: user handle does not match")
		}
		u := s.cfg.Directory.User(p.Login)
		if u == nil || u.Type == directory.TypeSystem {
			return nil, errors.New("passkey: no such user")
		}
		return s.newPasskeyUser(ctx, u)
	}
}

// credentialID decodes a passkey id from a form (base64url).
func credentialID(v string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return b, err == nil && len(b) > 0 && len(b) <= 1023
}

// passkeyName is a posted name, trimmed and bounded (whole characters,
// at most maxPasskeyName); fallback if empty.
func passkeyName(v, fallback string) string {
	r := []rune(strings.TrimSpace(strings.ToValidUTF8(v, "")))
	if len(r) > maxPasskeyName {
		r = r[:maxPasskeyName]
	}
	if v = strings.TrimSpace(string(r)); v == "" {
		return fallback
	}
	return v
}

// samePasskey reports whether two credential ids are equal.
func samePasskey(a, b []byte) bool { return bytes.Equal(a, b) }
