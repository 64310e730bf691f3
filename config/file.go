package config

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Values accepted by the enumerated keys. The constants are the exact
// strings written in YAML.
const (
	// store.driver
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
	DriverMemory   = "memory"

	// signing.algorithm
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"

	// tokens.scope_format
	ScopeFormatArray  = "array"
	ScopeFormatString = "string"

	// users[].type
	UserInternal  = "internal"
	UserCommunity = "community"
	UserSystem    = "system"

	// apps[].type
	AppConfidential = "confidential"
	AppPublic       = "public"

	// apps[].reference_tokens
	ReferenceTokensNone               = "none"
	ReferenceTokensAuthenticatedUsers = "authenticated_users"
	ReferenceTokensAdministratorsOnly = "administrators_only"

	// Consent policies of an app (apps[].consent).
	ConsentImplicit = "implicit"
	ConsentRequired = "required"
	// DPoP policies of an app (apps[].dpop, RFC 9449).
	DPoPOptional = "optional"
	DPoPRequired = "required"
	// Second-factor policies of an app (apps[].mfa).
	MFAOptional = "optional"
	MFARequired = "required"

	// routes[].on_missing_token
	OnMissingTokenUnauthorized = "unauthorized"
	OnMissingTokenLogin        = "login"

	// log.level
	LogDebug = "debug"
	LogInfo  = "info"
	LogWarn  = "warn"
	LogError = "error"

	// log.format
	LogJSON = "json"
	LogText = "text"

	// log.audit: the default sink, and the other stream
	AuditStderr = "stderr"
	AuditStdout = "stdout"

	// Scopes an app may be granted and a route may require (SPEC §3).
	ScopeRead   = "read"
	ScopeUpdate = "update"
	ScopeSec    = "sec"

	// Scopes every app may request without listing them (SPEC §3).
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeOfflineAccess = "offline_access"

	// Default audiences of access tokens.
	AudienceDomainAPI = "DomainAPI"
	AudienceTableAPI  = "TableAPI"
)

// File is the configuration file, SPEC §2. Parse fills it from YAML,
// applies the defaults documented on each field, and validates it; a File
// returned by Parse is complete and consistent.
//
// Keys are matched exactly (snake_case); an unknown key is an error.
// Every scalar may use ${NAME} environment expansion (see the package
// documentation). "Omitted" below means the key is absent or null.
type File struct {
	// PublicURL is the base URL clients and browsers use to reach the
	// gateway. The issuer is PublicURL + "/id". An absolute http or https
	// URL with a host; it may carry a path but no query, fragment or user
	// information; a trailing slash is removed. Empty or omitted:
	// http://localhost:8080.
	PublicURL string `yaml:"public_url"`

	// Listen is the host:port of the proxy and the identity server. An
	// empty host listens on every interface. Empty or omitted:
	// 127.0.0.1:8080.
	Listen string `yaml:"listen"`

	// AdminListen is the host:port of /metrics, /healthz, /readyz and
	// /admin (SPEC §7). Must differ from Listen. Empty or omitted:
	// 127.0.0.1:9090.
	AdminListen string `yaml:"admin_listen"`

	// TLS, when set, makes Listen serve HTTPS. Leave it empty when a load
	// balancer terminates TLS.
	TLS TLS `yaml:"tls"`

	// AdminTLS, when set, makes AdminListen serve HTTPS, so admin tokens
	// and the sessions list do not cross the network in the clear
	// (listeners.go). Set both files or neither; `erpgate check` reads
	// them. Restart-only.
	AdminTLS TLS `yaml:"admin_tls"`

	// MetricsListen, when set, is the host:port of /metrics (with
	// /healthz), which then leaves AdminListen: Prometheus scrapes there
	// without reaching the admin API. Plain HTTP. Must differ from Listen
	// and AdminListen. Empty or omitted: /metrics is on AdminListen.
	// Restart-only.
	MetricsListen string `yaml:"metrics_listen"`

	// Store is where apps, users, keys, sessions and tokens created at run
	// time are kept (SPEC §5, §9).
	Store Store `yaml:"store"`

	// Signing configures the keys that sign access and ID tokens.
	Signing Signing `yaml:"signing"`

	// Tokens configures token lifetimes and shape (SPEC §3).
	Tokens Tokens `yaml:"tokens"`

	// Sessions configures when license sessions end (SPEC §5).
	Sessions Sessions `yaml:"sessions"`

	// Limits are rate limits of the identity server (SPEC §3).
	Limits Limits `yaml:"limits"`

	// Gateway configures browser login at the proxy (SPEC §4). Leave
	// ClientID empty to disable it.
	Gateway Gateway `yaml:"gateway"`

	// License caps concurrently open sessions (SPEC §5).
	License License `yaml:"license"`

	// Instance describes the ERP instance behind the gateway, for the
	// claims ERP APIs read (SPEC §3).
	Instance Instance `yaml:"instance"`

	// UI is the branding and languages of the pages users see.
	UI UI `yaml:"ui"`

	// Users are the declarative users of the instance. Users created at
	// run time live in the store beside them.
	Users []User `yaml:"users"`

	// Apps are the declarative Trusted Applications (OAuth clients). Apps
	// created at run time live in the store beside them.
	Apps []App `yaml:"apps"`

	// IdentityProviders are the external identity providers apps may
	// offer on their login page (SPEC §10): OpenID Connect providers and
	// LDAP directories.
	IdentityProviders []IdentityProvider `yaml:"identity_providers"`

	// Routes map requests to upstreams, in order: the first route that
	// matches a request handles it; a request no route matches gets 404.
	Routes []Route `yaml:"routes"`

	// TrustedProxies are the IP addresses ("10.0.0.7", "::1") and CIDR
	// prefixes ("10.0.0.0/8") whose X-Forwarded-For/Host/Proto headers are
	// believed (SPEC §4). A prefix must not have host bits set. Empty: no
	// client-sent forwarding header is trusted.
	TrustedProxies []string `yaml:"trusted_proxies"`

	// AllowedHosts are the hosts, besides PublicURL's, that requests on
	// Listen may name in Host (SPEC §4): a host name or IP address with
	// an optional port ("gw.internal", "10.0.0.5:8080",
	// "[2001:db8::5]:8443"); without a port, the default port of
	// PublicURL's scheme. Names compare case-insensitively, a trailing
	// dot ignored. A request for any other host gets 421 Misdirected
	// Request, on the proxy and the identity server alike, and never
	// reaches an upstream. Unique. Omitted: PublicURL's host only.
	AllowedHosts []string `yaml:"allowed_hosts"`

	// Log configures the process log and the audit log (SPEC §8).
	Log Log `yaml:"log"`

	// Tracing is OpenTelemetry tracing, off by default (SPEC §11).
	Tracing Tracing `yaml:"tracing"`

	// DPoP configures proof-of-possession for every app (dpop.go).
	DPoP DPoP `yaml:"dpop"`

	// AdminUI is the admin console on AdminListen (adminui.go).
	AdminUI AdminUI `yaml:"admin_ui"`
}

// TLS holds the certificate of a listener (tls: Listen, admin_tls:
// AdminListen). Set both files or neither.
type TLS struct {
	// CertFile is the path of the PEM certificate chain, leaf first.
	CertFile string `yaml:"cert_file"`

	// KeyFile is the path of the PEM private key of CertFile's leaf.
	KeyFile string `yaml:"key_file"`
}

// Enabled reports whether TLS is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

// Store selects the storage backend.
type Store struct {
	// Driver is one of "sqlite" (one machine, the default when empty or
	// omitted), "postgres" (several replicas share state, SPEC §9) or
	// "memory" (nothing survives a restart; for tests).
	Driver string `yaml:"driver"`

	// DSN is the data source: a file path for sqlite (empty or omitted:
	// data/erpgate.db), a connection string for postgres (required), and
	// must be empty for memory. Use ${VAR} for a password.
	DSN string `yaml:"dsn"`

	// Timeout bounds every store operation a request waits for (default
	// 2s, between 10ms and 1m): a database that stops answering fails
	// the request with 503 temporarily_unavailable after this long
	// instead of holding it for the whole outage, and /readyz says not
	// ready. Work not bound to one request (first loads at start, the
	// sweep of expired records) gets longer.
	Timeout Duration `yaml:"timeout"`
}

// Signing configures token signing keys. Keys are generated on first
// start, kept in the store and rotated on schedule (SPEC §3).
type Signing struct {
	// Algorithm is the JWS algorithm of new keys: "RS256" (the default
	// when empty or omitted), "ES256" or "EdDSA".
	Algorithm string `yaml:"algorithm"`

	// RotateEvery is how often a new signing key is made. At least 1h.
	// Omitted: 720h.
	RotateEvery Duration `yaml:"rotate_every"`
}

// Tokens configures the tokens the identity server issues.
type Tokens struct {
	// AccessTokenTTL is the lifetime of access tokens. Positive. Omitted: 1h.
	AccessTokenTTL Duration `yaml:"access_token_ttl"`

	// RefreshTokenTTL is the lifetime of refresh tokens issued to
	// confidential apps. Positive. Omitted: 720h.
	RefreshTokenTTL Duration `yaml:"refresh_token_ttl"`

	// PublicRefreshTokenTTL is the lifetime of refresh tokens issued to
	// public apps. Positive. Omitted: 24h.
	PublicRefreshTokenTTL Duration `yaml:"public_refresh_token_ttl"`

	// CodeTTL is the lifetime of authorization codes, between 1s and 60s
	// (codes are short-lived, RFC 9700 §2.1.1 / RFC 6749 §4.1.2).
	// Omitted: 60s.
	CodeTTL Duration `yaml:"code_ttl"`

	// Audiences are the aud claim of every access token; each route names
	// one of them. At least one, unique, no whitespace.
	// Omitted: [DomainAPI, TableAPI].
	Audiences []string `yaml:"audiences"`

	// RefreshReuseGrace is how long a just-rotated refresh token may be
	// presented again and get the same successor pair, so that concurrent
	// refreshes do not log a user out. Between 0s (no grace) and 1m.
	// Omitted: 2s.
	RefreshReuseGrace Duration `yaml:"refresh_reuse_grace"`

	// ScopeFormat is how the scope claim of access tokens is written:
	// "array" (as ERP.net issues it; the default when empty or omitted)
	// or "string" (space-delimited, RFC 9068 §2.2.3).
	ScopeFormat string `yaml:"scope_format"`
}

// Sessions configures license sessions (SPEC §5).
type Sessions struct {
	// IdleTimeout ends a session after this long without a proxied call.
	// Positive. Omitted: 20m.
	IdleTimeout Duration `yaml:"idle_timeout"`

	// ServiceMaxLifetime ends a client-credentials session this long after
	// it opened, however busy. Positive. Omitted: 1h.
	ServiceMaxLifetime Duration `yaml:"service_max_lifetime"`
}

// Limits are the identity server's rate limits. Each instance counts on
// its own (with several replicas, the effective limit is per replica).
type Limits struct {
	// TokenRequestsPerSecond refills the token endpoint's buckets: one per
	// confidential client that authenticated, one per public client and
	// address, and one per client address shared by every request whose
	// client did not authenticate (unknown app, wrong secret). A
	// request over the limit gets 429 with Retry-After and
	// temporarily_unavailable. 0 turns the limit off; not negative.
	// Omitted: 50.
	TokenRequestsPerSecond int `yaml:"token_requests_per_second"`

	// TokenBurst is how many token requests a bucket holds: a client may
	// send this many at once before the rate applies. At least 1 when
	// the limit is on. Omitted: 100.
	TokenBurst int `yaml:"token_burst"`

	// ClientAuthFailuresPerClientAddress blocks client authentication
	// (token, introspection, revocation) for one client id from one
	// client address after this many failures of that pair inside
	// ClientAuthFailureWindow: the right secret is refused too (429,
	// Retry-After) until the window opened by the first failure closes.
	// At least 1. Omitted: 10.
	ClientAuthFailuresPerClientAddress int `yaml:"client_auth_failures_per_client_address"`

	// ClientAuthFailuresPerAddress blocks client authentication for every
	// client id from one client address after this many failures from it
	// inside ClientAuthFailureWindow. At least 1. Omitted: 30.
	ClientAuthFailuresPerAddress int `yaml:"client_auth_failures_per_address"`

	// ClientAuthFailuresPerClient blocks client authentication for one
	// confidential client from every address after this many failures
	// from anywhere inside ClientAuthFailureWindow, except from addresses
	// that authenticated as that client in the last 24 hours (so
	// strangers cannot lock a client out of its own machines). At least
	// 1. Omitted: 100.
	ClientAuthFailuresPerClient int `yaml:"client_auth_failures_per_client"`

	// ClientAuthFailureWindow is how long a failed client authentication
	// counts and a block lasts at most. Positive. Omitted: 15m.
	ClientAuthFailureWindow Duration `yaml:"client_auth_failure_window"`

	// FormReadTimeout is how long the body of an identity-server request
	// (token, introspection, revocation, login, logout and account forms)
	// may take to arrive; a slower or stalled body gets 408 and its
	// connection is closed. Between 1s and 1m. Omitted: 5s.
	FormReadTimeout Duration `yaml:"form_read_timeout"`

	// LoginFailuresPerAccountAddress refuses sign-ins to one account
	// (known or not, so a refusal reveals nothing) from one client
	// address after this many failures of that pair inside
	// LoginFailureWindow. The same account from another address is not
	// affected, so a stranger's guesses never lock its owner out. At
	// least 1. Omitted: 5.
	LoginFailuresPerAccountAddress int `yaml:"login_failures_per_account_address"`

	// LoginFailuresPerAddress refuses sign-ins to any account from a
	// client address after this many failures from it inside
	// LoginFailureWindow (credential stuffing). At least 1. Omitted: 50.
	LoginFailuresPerAddress int `yaml:"login_failures_per_address"`

	// LoginFailureWindow is how long a login failure counts. Positive.
	// Omitted: 15m.
	LoginFailureWindow Duration `yaml:"login_failure_window"`

	// LoginDelayAfter is how many failures on one account, from any
	// addresses inside LoginFailureWindow, start its progressive delay:
	// from then on every sign-in attempt on the account, the right
	// password included, waits LoginDelayBase·2^k (k: failures past
	// this many) before its password is checked. It slows an account
	// attacked from many addresses down and never locks it. At least 1.
	// Omitted: 10.
	LoginDelayAfter int `yaml:"login_delay_after"`

	// LoginDelayBase is the first delay. Positive. Omitted: 250ms.
	LoginDelayBase Duration `yaml:"login_delay_base"`

	// LoginDelayMax caps the delay. At least LoginDelayBase and at most
	// 30s. Omitted: 4s.
	LoginDelayMax Duration `yaml:"login_delay_max"`
}

// Gateway configures the proxy's own browser login (SPEC §4): the gateway
// is a confidential Trusted App of its own identity server.
type Gateway struct {
	// ClientID is the uri of the gateway's app, listed under apps: a
	// confidential, enabled app with at least one redirect URI (normally
	// PublicURL + "/oauth2/callback"). Empty disables browser login, and
	// then no route may use on_missing_token: login.
	ClientID string `yaml:"client_id"`

	// ClientSecret is the gateway app's secret in clear; its
	// base64(sha256()) must equal the app's secret_hash. Required when
	// ClientID is set. Use ${VAR}.
	ClientSecret string `yaml:"client_secret"`

	// CookieKeys encrypt the browser session cookie: the first encrypts,
	// all decrypt, so a new key is added in front and an old one dropped
	// later. Each is base64 (standard or URL alphabet, padding optional)
	// of exactly 32 random bytes; unique. At least one is required when
	// ClientID is set. Use ${VAR}.
	CookieKeys []string `yaml:"cookie_keys"`
}

// Enabled reports whether browser login at the proxy is configured.
func (g Gateway) Enabled() bool { return g.ClientID != "" }

// DecodedCookieKeys returns CookieKeys decoded to their 32 bytes each, in
// order. A File returned by Parse never makes it fail.
func (g Gateway) DecodedCookieKeys() ([][]byte, error) {
	keys := make([][]byte, 0, len(g.CookieKeys))
	for i, k := range g.CookieKeys {
		b, ok := decodeKey(k)
		if !ok {
			return nil, fmt.Errorf("gateway.cookie_keys[%d]: %s", i, msgCookieKey)
		}
		keys = append(keys, b)
	}
	return keys, nil
}

// License caps open sessions across every replica (SPEC §5).
type License struct {
	// Slots is how many sessions may be open at once; 0 (the default)
	// means unlimited. Not negative.
	Slots int `yaml:"slots"`

	// Reserved are logins of users (any type, system users included) that
	// always get a slot; their seats are not given to others. Each must
	// be listed under users; unique; no more of them than Slots when
	// Slots is set.
	Reserved []string `yaml:"reserved"`
}

// User is a declarative user.
type User struct {
	// Login is the user name typed at the login page, and the sub claim.
	// Required, unique, no whitespace or control characters.
	Login string `yaml:"login"`

	// PasswordHash is an argon2id PHC string as `erpgate hash-password`
	// prints it: $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>. Required
	// for internal and community users; system users, which never sign in
	// at the login page, may leave it empty. The $ signs need no escaping
	// (only ${NAME} is expanded).
	PasswordHash string `yaml:"password_hash"`

	// Name is the display name (name claim). Optional.
	Name string `yaml:"name"`

	// Email is a bare address such as alice@example.com (email claim).
	// Optional.
	Email string `yaml:"email"`

	// EmailVerified says Email was verified (email_verified claim, sent
	// whenever Email is). Requires Email. Omitted: false.
	EmailVerified bool `yaml:"email_verified"`

	// MFARequired asks the user for a second factor at every sign-in,
	// whatever the app says; a user without one enrols at the next
	// sign-in. Omitted: false.
	MFARequired bool `yaml:"mfa_required"`

	// Locale is the user's language as a BCP 47 tag such as bg-BG or en
	// (locale claim; subtags separated by "-", not "_"). Optional.
	Locale string `yaml:"locale"`

	// Type is "internal" (an employee; the default when empty or
	// omitted), "community" (a customer or partner) or "system" (a
	// service identity that client-credentials tokens act as).
	Type string `yaml:"type"`

	// Admin marks an administrator (is_admin claim).
	Admin bool `yaml:"admin"`

	// Enabled set to false keeps the user but refuses them everywhere:
	// they cannot sign in, their tokens are refused at every door, their
	// sessions end and their refresh tokens are revoked (SPEC §5).
	// Omitted: true.
	Enabled *bool `yaml:"enabled"`
}

// Instance describes the ERP instance (ERP.net: the database a token
// is for).
type Instance struct {
	// Database is the instance's database name, such as E1_TESTDB: when
	// set, user tokens carry it as the db claim and client-credentials
	// tokens as client_db, as ERP.net issues them. Not empty when given,
	// no whitespace or control characters. Omitted: no such claims.
	Database *string `yaml:"database"`
}

// DatabaseName is Database, or "" when omitted.
func (i Instance) DatabaseName() string {
	if i.Database == nil {
		return ""
	}
	return *i.Database
}

// IsEnabled reports whether the user is enabled (the default).
func (u User) IsEnabled() bool { return u.Enabled == nil || *u.Enabled }

// App is a Trusted Application: an OAuth 2.0 client (SPEC §3). The
// admin API takes the same keys as JSON to create one at run time.
type App struct {
	// URI is the ApplicationUri, used as client_id. Required, unique
	// (compared exactly), no whitespace or control characters.
	URI string `yaml:"uri" json:"uri"`

	// Name is shown on the login and consent pages. Optional.
	Name string `yaml:"name" json:"name"`

	// Type is "confidential" (has a secret; the default when empty or
	// omitted) or "public" (a browser or native app without a secret).
	Type string `yaml:"type" json:"type"`

	// SecretHash is base64(sha256(secret)) in standard base64 with
	// padding, as `erpgate hash-secret` prints it. Required for
	// confidential apps, not allowed for public ones. Use ${VAR}.
	SecretHash string `yaml:"secret_hash" json:"secret_hash"`

	// SystemUser is the login of a user of type system. When set, the app
	// may use the client credentials grant and its tokens act as that
	// user. Confidential apps only.
	SystemUser string `yaml:"system_user" json:"system_user"`

	// Scope is the space-delimited list of scopes the app may be granted,
	// from read, update and sec (sec reaches the admin API). openid,
	// profile and offline_access are always allowed and may be listed too.
	// No duplicates.
	Scope string `yaml:"scope" json:"scope"`

	// RedirectURIs are the login redirect URIs, compared exactly (case
	// sensitive). Each is an absolute https URL, or http on a loopback
	// host (127.0.0.1, [::1], localhost; RFC 8252 §7.3), with no fragment,
	// no user information and no wildcard. Unique. Empty: the app cannot
	// use the authorization code flow.
	RedirectURIs []string `yaml:"redirect_uris" json:"redirect_uris"`

	// PostLogoutRedirectURIs are where endsession may send the browser
	// after logout; same rules as RedirectURIs.
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris" json:"post_logout_redirect_uris"`

	// AllowInternalUsers lets internal users sign in to the app.
	// Omitted: true.
	AllowInternalUsers *bool `yaml:"allow_internal_users" json:"allow_internal_users"`

	// AllowCommunityUsers lets community users sign in to the app.
	// Omitted: false.
	AllowCommunityUsers *bool `yaml:"allow_community_users" json:"allow_community_users"`

	// ReferenceTokens says who may get reference tokens (PAT/SAT, SPEC §6)
	// for the app: "none" (the default when empty or omitted),
	// "authenticated_users" or "administrators_only".
	ReferenceTokens string `yaml:"reference_tokens" json:"reference_tokens"`

	// Consent says whether users are asked before the app gets their
	// scopes (SPEC §3): "implicit" (the default when empty or omitted:
	// a Trusted App's registration is the consent) or "required" (a
	// consent page names the scopes in words; the answer is remembered
	// per user, app and scopes, and revocable on the account page).
	// prompt=consent asks in either case.
	Consent string `yaml:"consent" json:"consent"`

	// DPoP says whether the app's tokens must be bound to a key it holds
	// (RFC 9449): "optional" (the default when empty or omitted: a token
	// request with a DPoP proof gets bound tokens, one without gets bearer
	// tokens) or "required" (a token request without a proof is refused
	// with invalid_dpop_proof).
	DPoP string `yaml:"dpop" json:"dpop"`

	// MFA says whether the app's users need a second factor (TOTP, or a
	// recovery code): "optional" (the default when empty or omitted: a
	// user who enrolled one is asked for it) or "required" (every user
	// is, and one without a factor enrols at sign-in). A sign-in at an
	// external provider that asserted multi-factor (amr) counts as one.
	MFA string `yaml:"mfa" json:"mfa"`

	// BackchannelLogoutURI receives a signed logout token whenever a
	// session the app got tokens for ends (OpenID Connect Back-Channel
	// Logout 1.0): absolute https, or http on loopback; "" for none.
	BackchannelLogoutURI string `yaml:"backchannel_logout_uri" json:"backchannel_logout_uri"`
	// BackchannelLogoutSessionRequired puts the session id (sid) in every
	// logout token (Back-Channel Logout §2.2). Omitted: false; sid is sent
	// whenever the session has one anyway.
	BackchannelLogoutSessionRequired bool `yaml:"backchannel_logout_session_required" json:"backchannel_logout_session_required"`

	// TokenExchange lets the app exchange an erpgate access token for one
	// of narrower audience and scope (RFC 8693 token exchange at the token
	// endpoint). Omitted: false.
	TokenExchange bool `yaml:"token_exchange" json:"token_exchange"`

	// RequirePKCE requires PKCE (S256) in the authorization code flow.
	// Only a confidential app may set it to false. Omitted: true.
	RequirePKCE *bool `yaml:"require_pkce" json:"require_pkce"`

	// Enabled set to false refuses the app everywhere without removing it.
	// Omitted: true.
	Enabled *bool `yaml:"enabled" json:"enabled"`

	// IdentityProviders are the ids of the identity_providers the app's
	// login page offers, each as a button (LDAP providers check the
	// password form). Apps created at run time (admin API, console) set
	// them too.
	IdentityProviders []string `yaml:"identity_providers" json:"identity_providers"`
	// LocalPasswords lets the login form check erpgate's own users'
	// passwords. false needs identity_providers. Omitted: true.
	LocalPasswords *bool `yaml:"local_passwords" json:"local_passwords"`
}

// IsPublic reports whether the app is a public client.
func (a App) IsPublic() bool { return a.Type == AppPublic }

// PKCERequired reports whether the app must use PKCE; only a confidential
// app that sets require_pkce: false need not.
func (a App) PKCERequired() bool {
	return a.RequirePKCE == nil || *a.RequirePKCE || a.IsPublic()
}

// IsEnabled reports whether the app is enabled (the default).
func (a App) IsEnabled() bool { return a.Enabled == nil || *a.Enabled }

// InternalUsersAllowed reports whether internal users may sign in to the
// app (the default).
func (a App) InternalUsersAllowed() bool {
	return a.AllowInternalUsers == nil || *a.AllowInternalUsers
}

// CommunityUsersAllowed reports whether community users may sign in to the
// app (not the default).
func (a App) CommunityUsersAllowed() bool {
	return a.AllowCommunityUsers != nil && *a.AllowCommunityUsers
}

// Scopes returns Scope split on whitespace; nil when Scope is empty.
func (a App) Scopes() []string { return strings.Fields(a.Scope) }

// Route maps matching requests to an upstream and says what they require.
type Route struct {
	// Name identifies the route in logs, `policy explain` and the route
	// label of metrics. Required, unique, only a-z, 0-9, "-" and "_".
	Name string `yaml:"name"`

	// Match says which requests the route handles.
	Match Match `yaml:"match"`

	// Upstream is the base URL requests are forwarded to: an absolute
	// http or https URL with a host, optionally a path, and no query,
	// fragment or user information. Required.
	Upstream string `yaml:"upstream"`

	// Audience is the aud an access token must carry to use the route;
	// one of tokens.audiences. Required unless Public.
	Audience string `yaml:"audience"`

	// Scopes are the scopes a token must all carry, each one of read,
	// update and sec. Unique. Not allowed on a public route.
	Scopes []string `yaml:"scopes"`

	// Public routes are forwarded without any credentials check; they may
	// set neither Audience nor Scopes.
	Public bool `yaml:"public"`

	// OnMissingToken is what a request without credentials gets:
	// "unauthorized" (401; the default when empty or omitted) or "login"
	// (302 to the login page; needs gateway.client_id, and is not
	// allowed on a public route).
	OnMissingToken string `yaml:"on_missing_token"`

	// AllowCommunityUsers lets community (external) users' tokens use the
	// route. API routes refuse them by default (ERP.net: external users
	// get no access to the instance APIs). Not allowed on a public route.
	AllowCommunityUsers bool `yaml:"allow_community_users"`

	// Timeout bounds the upstream call. Positive. Omitted: 30s.
	Timeout Duration `yaml:"timeout"`

	// ClientIdleTimeout drops a client that sends nothing of its request
	// body for this long (408, connection closed). Bodies stream to the
	// upstream, so an upload may take as long as it keeps sending; a
	// client that declares a body and stalls is not held. Positive.
	// Omitted: 30s.
	ClientIdleTimeout Duration `yaml:"client_idle_timeout"`

	// StripAuthorization drops the Authorization header instead of
	// passing the bearer token upstream.
	StripAuthorization bool `yaml:"strip_authorization"`

	// UpstreamToken forwards, instead of the caller's token, one the
	// gateway exchanges for this upstream alone (upstream_token.go). Not
	// on a public route, nor with strip_authorization. Omitted: the
	// caller's token is forwarded.
	UpstreamToken *UpstreamToken `yaml:"upstream_token,omitempty"`

	// RequireAuth demands a stronger or more recent sign-in of the user
	// (require_auth.go, RFC 9470). Not on a public route. Omitted: any
	// sign-in.
	RequireAuth *RequireAuth `yaml:"require_auth,omitempty"`
}

// Match selects requests by path and method.
type Match struct {
	// Path matches a request whose path is exactly this (case sensitive).
	// Set exactly one of Path and PathPrefix. Starts with "/" and is
	// canonical: no "//", "." or ".." segments, no query, fragment,
	// backslash, whitespace or control characters.
	Path string `yaml:"path,omitempty"`

	// PathPrefix matches a request whose path begins with this prefix on
	// a segment boundary: "/api" matches "/api" and "/api/x" but never
	// "/apis"; "/api/" matches "/api/" and "/api/x" but not "/api". Same
	// rules as Path.
	PathPrefix string `yaml:"path_prefix,omitempty"`

	// Methods are the HTTP methods matched, uppercase (GET, HEAD, POST,
	// PUT, PATCH, DELETE, OPTIONS, TRACE, CONNECT); unique. Empty: every
	// method.
	Methods []string `yaml:"methods"`
}

// Log configures logging.
type Log struct {
	// Level is the minimum level of the process log: "debug", "info"
	// (the default when empty or omitted), "warn" or "error".
	Level string `yaml:"level"`

	// Format is "json" (the default when empty or omitted) or "text".
	Format string `yaml:"format"`

	// Audit is where audit events go (SPEC §8), one JSON line each:
	// "stderr" (the default when empty or omitted, beside the process
	// log), "stdout" (apart from the process log, which stays on stderr)
	// or the path of a file to append to, created 0600 and reopened on
	// SIGHUP so logrotate can move it away.
	Audit string `yaml:"audit"`

	// AccessLog logs one line per request on listen (proxied calls and
	// identity-server calls alike), without query strings or credentials.
	AccessLog bool `yaml:"access_log"`
}

// Issuer returns the OpenID issuer identifier, PublicURL + "/id" (SPEC §3).
func (f *File) Issuer() string { return f.PublicURL + "/id" }

// FindApp returns the app whose uri is exactly uri, or nil.
func (f *File) FindApp(uri string) *App {
	for i := range f.Apps {
		if f.Apps[i].URI == uri {
			return &f.Apps[i]
		}
	}
	return nil
}

// FindUser returns the user whose login is exactly login, or nil.
func (f *File) FindUser(login string) *User {
	for i := range f.Users {
		if f.Users[i].Login == login {
			return &f.Users[i]
		}
	}
	return nil
}

const msgCookieKey = "must be base64 of exactly 32 bytes (e.g. `openssl rand -base64 32`)"

// decodeKey decodes a cookie key in any of the four base64 variants.
func decodeKey(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.URLEncoding,
		base64.RawStdEncoding, base64.RawURLEncoding,
	} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, len(b) == 32
		}
	}
	return nil, false
}
