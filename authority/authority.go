package authority

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/dpop"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/store"
)

// Verifier verifies JWT access tokens in-process (*accesstoken.Verifier):
// signature, alg allow-list, typ at+jwt, iss, exp/nbf.
type Verifier interface {
	Verify(ctx context.Context, raw string) (*claims.Access, error)
}

// ReferenceTokens resolves enrt_… tokens (*reftoken.Service). Check
// records a use; Inspect does not (introspection).
type ReferenceTokens interface {
	Check(ctx context.Context, value string) (*claims.Access, store.ReferenceToken, error)
	Inspect(ctx context.Context, value string) (*claims.Access, store.ReferenceToken, error)
}

// Revocations is the in-memory revocation list (*revocation.List): jti
// of revoked access tokens, and of reference tokens.
type Revocations interface {
	Revoked(jti string) bool
}

// Sessions is the ERP session manager (*session.Manager): Acquire opens
// or reuses the session and its license slot; Session reads it, cache
// first, for doors that take no slot.
type Sessions interface {
	Acquire(ctx context.Context, c *claims.Access) (session.Info, error)
	Session(ctx context.Context, id string) (store.Session, error)
}

// Directory is the live table of apps and users (*directory.Table).
type Directory interface {
	App(id string) *directory.App
	User(login string) *directory.User
}

// Config wires an Authority; the gateway builds it once per process
// (gateway/gateway.go).
type Config struct {
	Verifier        Verifier
	ReferenceTokens ReferenceTokens // nil: enrt_… tokens are refused
	Revocations     Revocations
	Sessions        Sessions
	Directory       Directory
	// Metrics, when set, counts reference-token uses
	// (erpgate_reference_token_uses_total); nil: not counted.
	Metrics *metrics.Metrics
	// DPoP checks the proofs of DPoP-bound tokens (RFC 9449 §7), with
	// the replay cache the token endpoint shares; nil: bound tokens are
	// refused everywhere.
	DPoP *dpop.Checker
}

// Authority is the one judge of credentials.
type Authority struct{ cfg Config }

// New returns an Authority.
func New(cfg Config) (*Authority, error) {
	if cfg.Verifier == nil || cfg.Revocations == nil || cfg.Sessions == nil || cfg.Directory == nil {
		return nil, errors.New("authority: Verifier, Revocations, Sessions and Directory are required")
	}
	return &Authority{cfg: cfg}, nil
}

// Door says what a door asks beyond "may this credential act now".
type Door struct {
	// Audiences: when set, the token must carry at least one.
	Audiences []string
	// OpenSession opens or reuses the caller's ERP session and license
	// slot (the proxy and forward auth, SPEC §5); otherwise the session
	// is only checked not to have ended for good.
	OpenSession bool
	// AllowCommunity lets community users through. API routes refuse
	// them unless the route allows them (ERP.net: external users get no
	// API-access tokens for the instance APIs).
	AllowCommunity bool
	// Inspect does not record a reference token's use, and asks for no
	// DPoP proof (introspection: it is asked about a token, not presented
	// with it).
	Inspect bool
	// Scheme is how clients reach the door, "http" or "https", for the
	// URL a DPoP proof names (htu): the public_url's scheme on the main
	// listener, which may sit behind a TLS-terminating edge. "": https if
	// the request came over TLS to this process, else http.
	Scheme string
}

// Caller is who a credential acts for, right now.
type Caller struct {
	// Claims are the token's, with Scope narrowed to what the app still
	// has. Shared: must not be modified.
	Claims *claims.Access
	App    *directory.App
	// User is the user, or the system user of a service token.
	User *directory.User
	// Reference is set for reference tokens (PAT/SAT).
	Reference *store.ReferenceToken
	// Session is the ERP session, when the door opened it.
	Session session.Info
}

// Authenticate judges cred at door. It returns the caller, or why not.
// A reference token presented where uses count (every door but
// introspection) is counted by outcome: "allowed" or the refusal reason.
func (a *Authority) Authenticate(ctx context.Context, cred Credential, door Door) (*Caller, *Refusal) {
	caller, ref := a.authenticate(ctx, cred, door)
	if a.cfg.Metrics != nil && !door.Inspect && strings.HasPrefix(cred.Token, reftoken.Prefix) {
		outcome := "allowed"
		if ref != nil {
			outcome = ref.Reason // bounded: the Reason* codes
		}
		a.cfg.Metrics.ReferenceTokenUses.WithLabelValues(outcome).Inc()
	}
	return caller, ref
}

func (a *Authority) authenticate(ctx context.Context, cred Credential, door Door) (*Caller, *Refusal) {
	if cred.Source == SourceNone || cred.Token == "" {
		return nil, refuse(ReasonMissing, "no credential")
	}
	caller, ref := a.verify(ctx, cred, door)
	if ref != nil {
		return nil, ref
	}
	if ref := a.binding(cred, door, caller.Claims); ref != nil {
		ref.Claims = caller.Claims
		return nil, ref
	}
	if ref := a.judge(ctx, caller, door); ref != nil {
		// The token verified: the refusal names its holder, for the
		// audit line and the metrics.
		ref.Claims = caller.Claims
		return nil, ref
	}
	caller.Claims = narrow(caller.Claims, caller.App)
	return caller, nil
}

// binding checks that a bound token comes with a proof by its key, and
// only a bound token with the DPoP scheme (RFC 9449 §7.1). A bound token
// sent as a bearer token is refused: it is what a thief who copied it
// without the key would send.
func (a *Authority) binding(cred Credential, door Door, c *claims.Access) *Refusal {
	jkt := c.BoundKey()
	switch {
	case door.Inspect:
		// Introspection is asked about the token, not presented with it
		// (its answer names the key, RFC 9449 §6.2).
		return nil
	case jkt == "" && cred.Source == SourceDPoP:
		return refuse(ReasonInvalidToken, "the DPoP scheme with a token that is not bound to a key")
	case jkt == "":
		return nil
	case cred.Source != SourceDPoP:
		return refuse(ReasonInvalidToken, "a DPoP-bound token sent without the DPoP scheme")
	case a.cfg.DPoP == nil:
		return refuse(ReasonInvalidProof, "DPoP proofs are not checked here")
	}
	scheme := door.Scheme
	if scheme == "" {
		scheme = "http"
		if cred.TLS {
			scheme = "https"
		}
	}
	p, err := a.cfg.DPoP.Check(cred.Proofs, dpop.Request{Method: cred.Method, URL: scheme + "://" + cred.Host + cred.Path, AccessToken: cred.Token})
	if pe := (*dpop.Error)(nil); errors.As(err, &pe) && pe.UseNonce {
		ref := refuse(ReasonUseNonce, "%v", err)
		ref.Nonce = a.cfg.DPoP.Nonce()
		return ref
	}
	if err != nil {
		return refuse(ReasonInvalidProof, "%v", err)
	}
	if p.JKT != jkt {
		return refuse(ReasonInvalidProof, "the proof's key %s is not the token's %s", p.JKT, jkt)
	}
	return nil
}

// judge checks a verified token's live state, in order.
func (a *Authority) judge(ctx context.Context, caller *Caller, door Door) *Refusal {
	c := caller.Claims
	if caller.Reference == nil && a.cfg.Revocations.Revoked(c.ID) {
		return refuse(ReasonRevoked, "jti %s is revoked", c.ID)
	}
	if len(door.Audiences) > 0 && !slices.ContainsFunc(c.Audience, func(aud string) bool { return slices.Contains(door.Audiences, aud) }) {
		return refuse(ReasonWrongAudience, "the token is for %v, not %v", c.Audience, door.Audiences)
	}
	if ref := a.live(caller); ref != nil {
		return ref
	}
	if ref := a.exchanged(c); ref != nil { // actor.go: exchanged tokens
		return ref
	}
	if caller.User.Type == directory.TypeCommunity && !door.AllowCommunity {
		return refuse(ReasonCommunityUser, "community user %q", caller.User.Login)
	}
	return a.session(ctx, caller, door)
}

// verify checks the token itself: signature and times for a JWT, the
// store record (and its revocation) for a reference token.
func (a *Authority) verify(ctx context.Context, cred Credential, door Door) (*Caller, *Refusal) {
	if strings.HasPrefix(cred.Token, reftoken.Prefix) {
		if a.cfg.ReferenceTokens == nil {
			return nil, refuse(ReasonInvalidToken, "reference tokens are not enabled")
		}
		check := a.cfg.ReferenceTokens.Check
		if door.Inspect {
			check = a.cfg.ReferenceTokens.Inspect
		}
		c, t, err := check(ctx, cred.Token)
		if err != nil {
			return nil, storeRefusal(err, ReasonInvalidToken, "reference token: %v", err)
		}
		return &Caller{Claims: c, Reference: &t}, nil
	}
	if cred.Source == SourceAPIKey {
		return nil, refuse(ReasonInvalidToken, "an API key header must carry a reference token ("+reftoken.Prefix+"…)")
	}
	c, err := a.cfg.Verifier.Verify(ctx, cred.Token)
	if err != nil {
		return nil, refuse(ReasonInvalidToken, "%v", err)
	}
	return &Caller{Claims: c}, nil
}

// live checks the app and user as they are now (SPEC §4, §5).
func (a *Authority) live(caller *Caller) *Refusal {
	c := caller.Claims
	app, user, ref := a.holder(c.ClientID, c.Subject, c.ClientSystemUser)
	if ref != nil {
		return ref
	}
	if caller.Reference != nil && !app.AllowsReferenceTokens() {
		return refuse(ReasonReferenceOff, "app %q allows no reference tokens", c.ClientID)
	}
	caller.App, caller.User = app, user
	return nil
}

// Holder checks that the app clientID exists and is enabled, and that the
// user login (or, for a service grant, the system user) exists and may
// use it, now: for grants that are not access tokens (refresh tokens at
// introspection and at the token endpoint).
func (a *Authority) Holder(clientID, login, systemUser string) (*directory.App, *directory.User, *Refusal) {
	return a.holder(clientID, login, systemUser)
}

func (a *Authority) holder(clientID, login, systemUser string) (*directory.App, *directory.User, *Refusal) {
	app := a.cfg.Directory.App(clientID)
	switch {
	case app == nil:
		return nil, nil, refuse(ReasonAppUnknown, "app %q does not exist", clientID)
	case !app.Enabled:
		return nil, nil, refuse(ReasonAppDisabled, "app %q is disabled", clientID)
	}
	if login != "" {
		u := a.cfg.Directory.User(login)
		switch {
		case u == nil:
			return nil, nil, refuse(ReasonUserUnknown, "user %q does not exist", login)
		case !app.AllowsUserType(u.Type):
			return nil, nil, refuse(ReasonUserNotAllowed, "app %q does not allow %s user %q", app.ID, u.Type, u.Login)
		}
		return app, u, nil
	}
	// A service grant acts as the app's system user: still that one.
	u := a.cfg.Directory.User(systemUser)
	switch {
	case systemUser == "" || u == nil:
		return nil, nil, refuse(ReasonUserUnknown, "system user %q does not exist", systemUser)
	case app.SystemUser != systemUser:
		return nil, nil, refuse(ReasonUserNotAllowed, "app %q no longer acts as %q", app.ID, systemUser)
	}
	return app, u, nil
}

// Scopes returns the scopes of a grant that its app still has, in order.
func Scopes(app *directory.App, scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		if app.Grants(sc) {
			out = append(out, sc)
		}
	}
	return out
}

// session opens the caller's session or checks it did not end for good.
func (a *Authority) session(ctx context.Context, caller *Caller, door Door) *Refusal {
	c := caller.Claims
	if door.OpenSession {
		// The session manager reads the user type from the claims (a
		// community user takes no slot): give it the type the user has
		// now, not the one at issue.
		if t := caller.User.ClaimType(); t != c.PrincipalType() {
			cc := *c
			if cc.Subject != "" {
				cc.UserType = t
			} else {
				cc.ClientSystemUserType = t
			}
			c = &cc
		}
		info, err := a.cfg.Sessions.Acquire(ctx, c)
		switch {
		case err == nil:
			caller.Session = info
			return nil
		case errors.Is(err, session.ErrLicenseExhausted):
			return refuse(ReasonLicenseExhausted, "every license slot is held by an open session")
		case errors.Is(err, session.ErrEnded):
			return refuse(ReasonSessionEnded, "session %s was ended by logout or an administrator", c.SessionID)
		case errors.Is(err, session.ErrNoSession):
			return refuse(ReasonInvalidToken, "the token has no sid")
		}
		return refuse(ReasonUnavailable, "open session: %v", err)
	}
	s, err := a.cfg.Sessions.Session(ctx, c.SessionID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return refuse(ReasonUnavailable, "read session: %v", err)
	case endedForGood(s):
		return refuse(ReasonSessionEnded, "session %s ended (%s)", s.ID, s.EndReason)
	}
	return nil
}

// endedForGood reports whether a session's tokens are refused for good.
// Reference-token sessions never are: the token outlives its sessions
// (SPEC §5).
func endedForGood(s store.Session) bool {
	return !s.Open() && !s.Reopenable()
}

// narrow returns c with the scopes its app no longer has left out, so a
// scope taken from an app stops working on tokens already issued.
func narrow(c *claims.Access, app *directory.App) *claims.Access {
	keep := 0
	for _, sc := range c.Scope.Values {
		if app.Grants(sc) {
			keep++
		}
	}
	if keep == len(c.Scope.Values) {
		return c
	}
	n := *c
	n.Scope = claims.Scopes{Values: Scopes(app, c.Scope.Values), AsString: c.Scope.AsString}
	n.Prepare()
	return &n
}

// storeRefusal tells a store failure (503) from a refused token.
func storeRefusal(err error, reason, format string, args ...any) *Refusal {
	if errors.Is(err, reftoken.ErrInvalid) {
		return refuse(reason, format, args...)
	}
	return refuse(ReasonUnavailable, format, args...)
}

// SessionEnded returns the reason the ERP session sid ended for good
// (logout, an administrator, the kill switch), or "" while its tokens
// may still act. The identity server asks it before honouring a
// sign-in cookie whose sid is that session.
func (a *Authority) SessionEnded(ctx context.Context, sid string) (string, error) {
	s, err := a.cfg.Sessions.Session(ctx, sid)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	case err != nil:
		return "", err
	case endedForGood(s):
		return s.EndReason, nil
	}
	return "", nil
}
