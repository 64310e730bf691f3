package testauth

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/erpgate/erpgate/accesstoken"
	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/dpop"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/revocation"
	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
)

// Issuer is the iss of every token minted here.
const Issuer = "http://gateway.test/id"

// Settings as the gateway has them (gateway/gateway.go, config defaults).
const (
	Leeway             = 30 * time.Second // gateway.go tokenLeeway
	IdleTimeout        = 20 * time.Minute // sessions.idle_timeout
	ServiceMaxLifetime = time.Hour        // sessions.service_max_lifetime
	TokenTTL           = time.Hour        // lifetime of the tokens minted here
)

// Now is where the clock starts.
var Now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Audiences are tokens.audiences: the aud of the tokens minted here.
var Audiences = []string{"DomainAPI", "TableAPI"}

// Apps of the default directory.
const (
	WebApp  = "com.example/web"  // users (internal and community), read update sec, PATs
	SyncApp = "com.example/sync" // client credentials as svc-sync, read update, SATs
	OpsApp  = "com.example/ops"  // client credentials as svc-ops, sec
)

// DefaultApps is the default directory's apps.
func DefaultApps() []directory.App {
	return []directory.App{
		{ID: WebApp, Name: "Web", Scopes: []string{"read", "update", "sec"}, RedirectURIs: []string{"https://web.example/cb"},
			AllowInternalUsers: true, AllowCommunityUsers: true, ReferenceTokens: directory.ReferenceTokensAuthenticatedUsers,
			RequirePKCE: true, Enabled: true, SecretHash: []byte("web")},
		{ID: SyncApp, Name: "Sync", SystemUser: "svc-sync", Scopes: []string{"read", "update"},
			ReferenceTokens: directory.ReferenceTokensAdministratorsOnly, Enabled: true, SecretHash: []byte("sync")},
		{ID: OpsApp, Name: "Ops", SystemUser: "svc-ops", Scopes: []string{"sec"}, Enabled: true, SecretHash: []byte("ops")},
	}
}

// DefaultUsers is the default directory's users: alice and bob
// (internal), admin (an internal administrator), carol (community), and
// the system users svc-sync, svc-ops and svc-other.
func DefaultUsers() []directory.User {
	return []directory.User{
		User("alice", directory.TypeInternal), User("bob", directory.TypeInternal),
		Admin("admin"), User("carol", directory.TypeCommunity),
		User("svc-sync", directory.TypeSystem), User("svc-ops", directory.TypeSystem), User("svc-other", directory.TypeSystem),
	}
}

// User is a user record as config builds it (config.User.Record).
func User(login, typ string) directory.User {
	return directory.User{Login: login, ID: directory.StableUserID(login), Name: login, Email: login + "@example.com", Type: typ}
}

// Admin is an internal administrator.
func Admin(login string) directory.User {
	u := User(login, directory.TypeInternal)
	u.Admin = true
	return u
}

// Config says what a test needs beyond the defaults.
type Config struct {
	// Store is the backend everything lives in; default memory.New().
	Store store.Backend
	// SessionStore, when set, is what the session manager uses instead
	// of Store (a wrapper that counts or fails calls).
	SessionStore store.Sessions
	// Apps and Users are the config file's directory; nil: DefaultApps,
	// DefaultUsers.
	Apps  []directory.App
	Users []directory.User
	// Slots and Reserved are license.slots and license.reserved.
	Slots    int
	Reserved []string
	// Algorithm is signing.algorithm; default RS256 (the config default).
	Algorithm string
	// Clock, when set, replaces the settable Clock (benchmarks pass
	// time.Now).
	Clock func() time.Time
	// Logger, Audit and Metrics default to discarding ones.
	Logger  *slog.Logger
	Audit   *audit.Logger
	Metrics *metrics.Metrics
}

// Auth is the wired authority and what it reads, for a test to drive.
type Auth struct {
	// Clock is the time everything reads, starting at Now; nil when
	// Config.Clock was given.
	Clock *Clock
	// Now is the clock everything reads.
	Now func() time.Time

	Store           store.Backend
	Keys            *signing.Keyring
	Revocations     *revocation.List
	Verifier        *accesstoken.Verifier
	Sessions        *session.Manager
	Directory       *directory.Table
	ReferenceTokens *reftoken.Service
	Authority       *authority.Authority

	t     testing.TB
	apps  []directory.App
	users []directory.User
}

// New wires an authority as gateway.New does. The session manager and the
// reference-token service are closed (flushed) when the test ends,
// before a store the test registered for cleanup earlier is closed.
func New(t testing.TB, cfg Config) *Auth {
	t.Helper()
	ctx := context.Background()
	a := &Auth{t: t, Store: cfg.Store, Now: cfg.Clock, apps: cfg.Apps, users: cfg.Users}
	if a.Store == nil {
		a.Store = memory.New()
	}
	if a.Now == nil {
		a.Clock = NewClock(Now)
		a.Now = a.Clock.Now
	}
	if a.apps == nil {
		a.apps = DefaultApps()
	}
	if a.users == nil {
		a.users = DefaultUsers()
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	auditLog := cfg.Audit
	if auditLog == nil {
		auditLog = audit.New(slog.NewTextHandler(io.Discard, nil))
	}
	m := cfg.Metrics
	if m == nil {
		m = metrics.New(prometheus.NewRegistry(), metrics.Build{})
	}
	alg := cfg.Algorithm
	if alg == "" {
		alg = "RS256"
	}
	sessStore := cfg.SessionStore
	if sessStore == nil {
		sessStore = a.Store
	}
	var err error
	a.Sessions, err = session.New(session.Config{
		Store: sessStore, IdleTimeout: IdleTimeout, ServiceMaxLifetime: ServiceMaxLifetime,
		Slots: cfg.Slots, Reserved: cfg.Reserved, Clock: a.Now, Logger: logger, Audit: auditLog, Metrics: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Sessions.Close() })
	a.Keys, err = signing.Open(ctx, signing.Config{
		Algorithm: alg, RotateEvery: 24 * time.Hour, MaxTokenTTL: TokenTTL, Store: a.Store, Clock: a.Now, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	a.Revocations, err = revocation.Open(ctx, a.Store, a.Now, logger)
	if err != nil {
		t.Fatal(err)
	}
	a.Verifier = accesstoken.New(accesstoken.Config{
		Issuer: Issuer, KeySet: a.Keys, Algorithms: signing.Algorithms, Clock: a.Now, Leeway: Leeway, CacheSize: 1000,
	})
	a.Directory = directory.NewTable(a.Store, a.Now)
	a.Directory.SetConfig(a.apps, a.users)
	if err := a.Directory.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	a.ReferenceTokens, err = reftoken.New(reftoken.Config{
		Store: a.Store, Revocations: a.Revocations, Issuer: Issuer, Audiences: Audiences,
		Directory: a.Directory, CacheSize: 1000, Clock: a.Now, Logger: logger, Audit: auditLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.ReferenceTokens.Flush(context.Background()) })
	a.Authority, err = authority.New(authority.Config{
		Verifier: a.Verifier, ReferenceTokens: a.ReferenceTokens, Revocations: a.Revocations,
		Sessions: a.Sessions, Directory: a.Directory, Metrics: m, DPoP: dpop.New(dpop.Config{Clock: a.Now}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Clock is a settable clock, safe for concurrent readers.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.Set(t)
	return c
}

// Now is the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// Sign signs c as an access token (typ at+jwt) with the active key.
func (a *Auth) Sign(c claims.Access) string {
	a.t.Helper()
	return a.SignAs(signing.TypeAccessToken, c)
}

// SignAs signs c with JWS typ typ (signing.TypeIDToken: not an access
// token).
func (a *Auth) SignAs(typ string, c claims.Access) string {
	a.t.Helper()
	tok, err := a.Keys.Sign(typ, c)
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

// UserClaims are the claims the issuer gives login through app clientID
// (authorization code), with session sid, valid for TokenTTL from now;
// no scopes means read and update. jti is "jti-" + sid.
func (a *Auth) UserClaims(login, clientID, sid string, scopes ...string) claims.Access {
	a.t.Helper()
	u := a.Directory.User(login)
	if u == nil {
		a.t.Fatalf("testauth: no user %q", login)
	}
	c := a.base(clientID, sid, scopes)
	admin := u.Admin
	c.Subject, c.UserID, c.Name, c.Email, c.UserType, c.IsAdmin = u.Login, u.ID, u.Name, u.Email, u.ClaimType(), &admin
	return c
}

// ServiceClaims are the claims of a client-credentials token of app
// clientID, acting as its system user, with session sid.
func (a *Auth) ServiceClaims(clientID, sid string, scopes ...string) claims.Access {
	a.t.Helper()
	app := a.Directory.App(clientID)
	if app == nil || app.SystemUser == "" {
		a.t.Fatalf("testauth: app %q has no system user", clientID)
	}
	c := a.base(clientID, sid, scopes)
	c.ClientSystemUser = app.SystemUser
	c.ClientSystemUserType = directory.ClaimSystemUser
	return c
}

func (a *Auth) base(clientID, sid string, scopes []string) claims.Access {
	if len(scopes) == 0 {
		scopes = []string{"read", "update"}
	}
	now := a.Now()
	return claims.Access{
		Issuer: Issuer, Audience: slices.Clone(Audiences),
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(TokenTTL).Unix(),
		ID: "jti-" + sid, Scope: claims.Scopes{Values: slices.Clone(scopes)}, ClientID: clientID, SessionID: sid,
	}
}

// UserToken signs UserClaims.
func (a *Auth) UserToken(login, clientID, sid string, scopes ...string) string {
	a.t.Helper()
	return a.Sign(a.UserClaims(login, clientID, sid, scopes...))
}

// ServiceToken signs ServiceClaims.
func (a *Auth) ServiceToken(clientID, sid string, scopes ...string) string {
	a.t.Helper()
	return a.Sign(a.ServiceClaims(clientID, sid, scopes...))
}

// PAT issues a personal access token of login for app clientID, as the
// CLI does (an operator), valid for 30 days; no scopes means all the
// app's.
func (a *Auth) PAT(clientID, login string, scopes ...string) reftoken.Issued {
	a.t.Helper()
	return a.issue(reftoken.IssueRequest{Type: store.PersonalAccessToken, ClientID: clientID, Subject: login, Scopes: scopes})
}

// SAT issues a service access token of app clientID (its system user).
func (a *Auth) SAT(clientID string, scopes ...string) reftoken.Issued {
	a.t.Helper()
	return a.issue(reftoken.IssueRequest{Type: store.ServiceAccessToken, ClientID: clientID, Scopes: scopes})
}

func (a *Auth) issue(req reftoken.IssueRequest) reftoken.Issued {
	a.t.Helper()
	req.ExpiresIn = 30 * 24 * time.Hour
	iss, err := a.ReferenceTokens.Issue(context.Background(), req)
	if err != nil {
		a.t.Fatalf("testauth: issue %s for %s: %v", req.Type, req.ClientID, err)
	}
	return iss
}

// Revoke revokes the access token jti (RFC 7009) until TokenTTL from now.
func (a *Auth) Revoke(jti string) {
	a.t.Helper()
	if err := a.Revocations.Revoke(context.Background(), jti, a.Now().Add(TokenTTL)); err != nil {
		a.t.Fatal(err)
	}
}

// EndSession ends session sid through the session manager, as logout
// (store.EndLogout), an administrator (store.EndAdmin) or the kill switch
// (store.EndAppDisabled) do.
func (a *Auth) EndSession(sid, reason string) {
	a.t.Helper()
	if _, err := a.Sessions.End(context.Background(), sid, reason); err != nil {
		a.t.Fatalf("testauth: end session %s (%s): %v", sid, reason, err)
	}
}

// EditApp changes the config app id, as a reload with the edited file
// does, and returns what changed. It does not end sessions: that is
// the gateway's enforce (gateway/enforce.go); the authority must refuse
// without it.
func (a *Auth) EditApp(id string, edit func(*directory.App)) directory.Changes {
	a.t.Helper()
	i := slices.IndexFunc(a.apps, func(x directory.App) bool { return x.ID == id })
	if i < 0 {
		a.t.Fatalf("testauth: no config app %q", id)
	}
	a.apps = slices.Clone(a.apps)
	app := a.apps[i]
	app.Scopes = slices.Clone(app.Scopes)
	edit(&app)
	a.apps[i] = app
	return a.Directory.SetConfig(a.apps, a.users)
}

// RemoveApp removes the config app id.
func (a *Auth) RemoveApp(id string) directory.Changes {
	a.t.Helper()
	a.apps = slices.DeleteFunc(slices.Clone(a.apps), func(x directory.App) bool { return x.ID == id })
	return a.Directory.SetConfig(a.apps, a.users)
}

// PutUser adds u, or replaces the user with its login.
func (a *Auth) PutUser(u directory.User) directory.Changes {
	a.t.Helper()
	users := slices.DeleteFunc(slices.Clone(a.users), func(x directory.User) bool { return x.Login == u.Login })
	a.users = append(users, u)
	return a.Directory.SetConfig(a.apps, a.users)
}

// EditUser changes the config user login (disabled or not).
func (a *Auth) EditUser(login string, edit func(*directory.User)) directory.Changes {
	a.t.Helper()
	i := slices.IndexFunc(a.users, func(x directory.User) bool { return x.Login == login })
	if i < 0 {
		a.t.Fatalf("testauth: no config user %q", login)
	}
	u := a.users[i]
	edit(&u)
	return a.PutUser(u)
}

// RemoveUser removes the user login.
func (a *Auth) RemoveUser(login string) directory.Changes {
	a.t.Helper()
	a.users = slices.DeleteFunc(slices.Clone(a.users), func(x directory.User) bool { return x.Login == login })
	return a.Directory.SetConfig(a.apps, a.users)
}
