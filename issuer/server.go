package issuer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/dpop"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/password"
	"github.com/erpgate/erpgate/webui"
)

// Directory is the live table of Trusted Applications and users
// (*directory.Table): every lookup sees the current records, so a
// disabled app or a removed user is refused at once.
type Directory interface {
	App(id string) *directory.App
	User(login string) *directory.User
	Apps() []*directory.App
}

// Signer signs tokens, publishes the keys that verify them and checks
// them; *signing.Keyring is the implementation.
type Signer interface {
	Sign(typ string, claims any) (string, error)
	JWKS() []byte
	Algorithm() string
	// Verify checks a JWT's form, alg, typ and signature, from one parse,
	// and returns its payload.
	Verify(jws, typ string) ([]byte, error)
}

// Authority is the credential authority (*authority.Authority): userinfo
// and introspection judge tokens exactly as the proxy does.
type Authority interface {
	Authenticate(ctx context.Context, cred authority.Credential, door authority.Door) (*authority.Caller, *authority.Refusal)
	Holder(clientID, login, systemUser string) (*directory.App, *directory.User, *authority.Refusal)
	SessionEnded(ctx context.Context, sid string) (string, error)
}

// Revocations is the access-token revocation list (jti), shared with the
// proxy so a revoked token is refused at once.
type Revocations interface {
	Revoke(ctx context.Context, jti string, expiresAt time.Time) error
	Revoked(jti string) bool
}

// Config is everything the identity server needs; the gateway builds it
// (gateway/reload.go).
type Config struct {
	// Issuer is the issuer identifier (public_url + "/id"); its path is
	// where the endpoints are mounted.
	Issuer         string
	AccessTokenTTL time.Duration
	Audiences      []string // aud of every access token
	// ScopeAsString writes the scope claim as an RFC 9068 string instead
	// of ERP.net's JSON array.
	ScopeAsString bool
	// Database is the ERP.net instance database (config
	// instance.database): when set, user tokens carry it as db and
	// client-credentials tokens as client_db (SPEC §3). "": neither.
	Database string
	// Directory holds the apps and users.
	Directory Directory
	// Interactive flows (authorization code, refresh, logout).
	CodeTTL               time.Duration
	RefreshTokenTTL       time.Duration // confidential apps
	PublicRefreshTokenTTL time.Duration // public apps
	RefreshReuseGrace     time.Duration
	IdentitySessionTTL    time.Duration // how long a sign-in lasts for SSO
	// The grants the interactive flows keep in the store, one interface
	// per concern with only the calls the flows make (the store's
	// janitor deletes are not among them); the gateway passes its store
	// for all four.
	AuthCodes        AuthCodes
	RefreshTokens    RefreshTokens
	IdentitySessions IdentitySessions
	Consents         Consents
	// SessionClients records which apps got tokens for which session,
	// for back-channel logout (session_clients.go); nil: none recorded.
	SessionClients SessionClients
	// EndSession ends the ERP session sid at logout (it frees the
	// license slot and refuses the session's tokens from then on).
	EndSession  func(ctx context.Context, sid string) error
	Revocations Revocations
	Authority   Authority
	Signer      Signer
	Clock       func() time.Time
	Logger      *slog.Logger
	Audit       *audit.Logger
	Metrics     *metrics.Metrics

	// ReferenceTokens, when set, serves the self-service page for
	// personal access tokens at /account/tokens (SPEC §6); nil: the page
	// answers 404.
	ReferenceTokens ReferenceTokens
	// Limits protect the token endpoint and the login form; zero values
	// take the defaults below (TokenRequestsPerSecond 0: no token limit).
	Limits Limits

	// Pages renders every page a person sees, with the operator's
	// branding and languages; nil: the default look, every shipped
	// language. Its AssetsPath must be the issuer's path +
	// "/account/static", where the server serves its assets.
	Pages *webui.Kit

	// Passwords and PasswordChanges let users change their own password
	// on the account page (SPEC §10): the directory (*directory.Table)
	// builds and applies the change, the store keeps it for every
	// process. Either nil: the page says the password cannot be changed
	// here.
	Passwords       Passwords
	PasswordChanges PasswordChanges
	// PasswordResets, when set, serves the one-time password reset
	// links operators issue at /account/reset (account_reset.go); nil:
	// the page answers 404.
	PasswordResets PasswordResets
	// PasswordParams are the argon2id costs of a password set on the
	// account page or by a reset link; zero: password.Default.
	PasswordParams password.Params

	// DPoP checks the DPoP proofs of token requests (RFC 9449). The
	// gateway passes the checker the credential authority uses too, so a
	// proof is spent once for both; nil: one of the server's own.
	DPoP *dpop.Checker

	// Providers are the external identity providers (SPEC §10) apps
	// may offer on their login page (directory.App.IdentityProviders);
	// with any, FederatedLinks and FederatedUsers are required. The
	// gateway builds them from identity_providers at every reload.
	Providers      []Provider
	FederatedLinks FederatedLinks
	FederatedUsers FederatedUsers

	// Factors keeps the users' second factors (mfa.go, issue 20): TOTP
	// and recovery codes, asked for after the first factor, enrolled on
	// the account page. nil: no second factors (a sign-in that needs one
	// is refused as unavailable).
	Factors Factors
	// Passkeys keeps the users' passkeys (passkey.go, issue 20): a second
	// factor, and a passwordless sign-in where local passwords are
	// allowed. nil: none (requires Factors).
	Passkeys Passkeys

	// SignInURL is where the account pages send a browser without an
	// identity session, with ?rd= the page's path: the gateway's browser
	// login start (public_url + "/oauth2/start"). "" when the gateway has
	// no browser login; the page then asks to sign in through an
	// application first.
	SignInURL string
}

// Server is the identity server's HTTP handler.
type Server struct {
	cfg       Config
	prefix    string // URL path of the issuer, e.g. "/id"
	secure    bool   // issuer is https: cookies get Secure
	mux       *http.ServeMux
	discovery []byte
	// dummyHash is verified against when a login names no password, so
	// unknown accounts take as long as wrong passwords.
	dummyHash    string
	login        *loginGuard    // sign-in throttling (throttle.go)
	tokenLimiter *bucketLimiter // nil: unlimited

	// Client authentication throttle and form-body deadline (clientauth.go, token.go).
	clientAuth      *clientAuthThrottle
	formReadTimeout time.Duration

	dpop *dpop.Checker // token-endpoint proofs (dpop.go)

	spent    spentStates // federated sign-ins answered (login_federated.go)
	spentMFA spentStates // second steps passed (mfa.go), passkey ceremonies finished (passkey.go)

	rp *webauthn.WebAuthn // the passkeys' relying party; nil: no passkeys (passkey.go)
}

// Limits are the issuer's rate limits.
type Limits struct {
	// TokenRequestsPerSecond refills each token-endpoint bucket: one per
	// authenticated confidential client, one per public client and
	// address, one per address for every request whose client did not
	// authenticate (tokenRateKey). 0: unlimited.
	TokenRequestsPerSecond int
	// TokenBurst is a bucket's size (at least 1).
	TokenBurst int
	// Client authentication throttle (clientAuthThrottle): this many
	// failed client authentications inside ClientAuthFailureWindow block
	// one client id from one address, one address, or one confidential
	// client (except from addresses it authenticated from lately). 0:
	// the default.
	ClientAuthFailuresPerClientAddress int
	ClientAuthFailuresPerAddress       int
	ClientAuthFailuresPerClient        int
	ClientAuthFailureWindow            time.Duration
	// FormReadTimeout bounds reading a request body of the identity
	// server (forms); 0: the default.
	FormReadTimeout time.Duration
	// Sign-in throttling (throttle.go): this many failures inside
	// LoginFailureWindow for one account (known or not) from one address,
	// or from one address for any accounts, refuse that pair or that
	// address; past LoginDelayAfter failures on an account from anywhere,
	// each attempt on it waits LoginDelayBase·2^k, at most LoginDelayMax.
	LoginFailuresPerAccountAddress int
	LoginFailuresPerAddress        int
	LoginFailureWindow             time.Duration
	LoginDelayAfter                int
	LoginDelayBase                 time.Duration
	LoginDelayMax                  time.Duration
}

// withDefaults fills the zero login limits.
func (l Limits) withDefaults() Limits {
	if l.LoginFailuresPerAccountAddress <= 0 {
		l.LoginFailuresPerAccountAddress = loginPairFailureLimit
	}
	if l.LoginFailuresPerAddress <= 0 {
		l.LoginFailuresPerAddress = loginAddressFailureLimit
	}
	if l.LoginFailureWindow <= 0 {
		l.LoginFailureWindow = loginFailureWindow
	}
	if l.LoginDelayAfter <= 0 {
		l.LoginDelayAfter = loginDelayAfter
	}
	if l.LoginDelayBase <= 0 {
		l.LoginDelayBase = loginDelayBase
	}
	if l.LoginDelayMax < l.LoginDelayBase {
		l.LoginDelayMax = max(loginDelayMax, l.LoginDelayBase)
	}
	return l
}

// New validates cfg and builds the server.
func New(cfg Config) (*Server, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || !u.IsAbs() || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("issuer: %q is not a valid issuer URL", cfg.Issuer)
	}
	if cfg.Signer == nil || cfg.Clock == nil || cfg.Logger == nil || cfg.Metrics == nil ||
		cfg.AuthCodes == nil || cfg.RefreshTokens == nil || cfg.IdentitySessions == nil || cfg.Consents == nil ||
		cfg.Directory == nil || cfg.EndSession == nil || cfg.Revocations == nil || cfg.Authority == nil {
		return nil, errors.New("issuer: Signer, Directory, AuthCodes, RefreshTokens, IdentitySessions, Consents, EndSession, Revocations, Authority, Clock, Logger and Metrics are required")
	}
	if cfg.AccessTokenTTL <= 0 || cfg.CodeTTL <= 0 || cfg.RefreshTokenTTL <= 0 || cfg.PublicRefreshTokenTTL <= 0 || cfg.IdentitySessionTTL <= 0 || cfg.RefreshReuseGrace < 0 {
		return nil, errors.New("issuer: token lifetimes must be positive")
	}
	if err := checkProviders(cfg); err != nil {
		return nil, err
	}
	lim := cfg.Limits.withDefaults()
	if cfg.DPoP == nil {
		cfg.DPoP = dpop.New(dpop.Config{Clock: cfg.Clock})
	}
	s := &Server{
		cfg:    cfg,
		prefix: strings.TrimSuffix(u.Path, "/"),
		secure: u.Scheme == "https",
		// A random hash with the default cost, verified like a real one.
		dummyHash:    password.Dummy(password.Default),
		login:        newLoginGuard(cfg.Clock, lim),
		tokenLimiter: newBucketLimiter(cfg.Clock, lim.TokenRequestsPerSecond, lim.TokenBurst),
		mux:          http.NewServeMux(),
		dpop:         cfg.DPoP,
	}
	if s.cfg.Pages == nil {
		if s.cfg.Pages, err = webui.New(webui.Config{AssetsPath: s.prefix + staticPath, Logger: cfg.Logger}); err != nil {
			return nil, err
		}
	}
	s.clientAuth = newClientAuthThrottle(cfg.Clock, cfg.Limits) // ratelimit.go
	s.formReadTimeout = cmp.Or(cfg.Limits.FormReadTimeout, defaultFormReadTimeout)
	if s.discovery, err = s.discoveryDocument(); err != nil {
		return nil, err
	}
	s.mux.HandleFunc("GET "+s.prefix+"/.well-known/openid-configuration", s.handleDiscovery)
	s.mux.HandleFunc("GET "+s.prefix+"/.well-known/openid-configuration/jwks", s.handleJWKS)
	s.mux.HandleFunc(s.prefix+"/connect/token", s.handleToken)
	s.mux.HandleFunc(s.prefix+"/connect/authorize", s.handleAuthorize)
	s.mux.HandleFunc(s.prefix+"/connect/userinfo", s.handleUserinfo)
	s.mux.HandleFunc(s.prefix+"/connect/introspect", s.handleIntrospect)
	s.mux.HandleFunc(s.prefix+"/connect/revocation", s.handleRevoke)
	s.mux.HandleFunc(s.prefix+"/connect/endsession", s.handleEndSession)
	s.mux.HandleFunc(s.prefix+"/account/login", s.handleLogin)
	s.mux.HandleFunc("POST "+s.prefix+consentPath, s.handleConsent)                                 // consent.go
	s.mux.HandleFunc("GET "+s.prefix+federatedStartPath+"{provider}", s.handleFederatedStart)       // login_federated.go
	s.mux.HandleFunc("GET "+s.prefix+federatedCallbackPath+"{provider}", s.handleFederatedCallback) // login_federated.go
	s.mux.HandleFunc("GET "+s.prefix+federatedLogoutPath, s.handleFederatedLogout)                  // logout_federated.go
	s.routeAccount()                                                                                // account.go
	s.routePasskeys()                                                                               // passkey_signin.go
	s.mux.HandleFunc(s.prefix+mfaPath, s.handleMFA)                                                 // mfa.go
	s.routeAccountSecurity()                                                                        // account_security.go
	s.routeAccountTokens()                                                                          // account_tokens.go; only with ReferenceTokens
	s.routeAccountReset()                                                                           // account_reset.go; only with PasswordResets
	s.routeCORS()                                                                                   // cors.go: token, revocation and userinfo answer app origins
	s.mux.Handle("GET "+s.prefix+staticPath+"/", http.StripPrefix(s.prefix+staticPath, s.cfg.Pages.Assets()))
	return s, nil
}

// Prefix is the path the server is mounted under (the issuer URL's path).
func (s *Server) Prefix() string { return s.prefix }

// ServeHTTP routes identity-server requests; unknown paths get 404 JSON.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.boundBody(w, r) // token.go: a deadline and a parameter cap on every body
	s.mux.ServeHTTP(w, r)
}
