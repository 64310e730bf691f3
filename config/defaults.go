package config

import (
	"fmt"
	"strings"
	"time"
)

// Defaults. Strings default when empty or omitted; durations and lists
// only when omitted (or null), because an explicit zero or empty list can
// be meant (refresh_reuse_grace: 0s) or is an error worth reporting.
const (
	DefaultPublicURL             = "http://localhost:8080"
	DefaultListen                = "127.0.0.1:8080"
	DefaultAdminListen           = "127.0.0.1:9090"
	DefaultSQLiteDSN             = "data/erpgate.db"
	DefaultStoreTimeout          = 2 * time.Second
	DefaultRotateEvery           = 720 * time.Hour
	DefaultAccessTokenTTL        = time.Hour
	DefaultRefreshTokenTTL       = 720 * time.Hour
	DefaultPublicRefreshTokenTTL = 24 * time.Hour
	DefaultCodeTTL               = 60 * time.Second
	DefaultRefreshReuseGrace     = 2 * time.Second
	DefaultIdleTimeout           = 20 * time.Minute
	DefaultServiceMaxLifetime    = time.Hour
	DefaultRouteTimeout          = 30 * time.Second
	DefaultClientIdleTimeout     = 30 * time.Second
	DefaultTokenRequestsPerSec   = 50
	DefaultTokenBurst            = 100
	DefaultLoginFailuresPerPair  = 5
	DefaultLoginFailuresPerAddr  = 50
	DefaultLoginFailureWindow    = 15 * time.Minute
	DefaultLoginDelayAfter       = 10
	DefaultLoginDelayBase        = 250 * time.Millisecond
	DefaultLoginDelayMax         = 4 * time.Second
)

// Client authentication throttle and form read timeout (issuer).
const (
	DefaultClientAuthFailuresPerPair   = 10
	DefaultClientAuthFailuresPerAddr   = 30
	DefaultClientAuthFailuresPerClient = 100
	DefaultClientAuthFailureWindow     = 15 * time.Minute
	DefaultFormReadTimeout             = 5 * time.Second
)

// applyDefaults fills what the file left out; given holds the paths that
// had a value.
func applyDefaults(f *File, given map[string]bool) {
	str := func(p *string, def string) {
		if *p == "" {
			*p = def
		}
	}
	dur := func(path string, p *Duration, def time.Duration) {
		if !given[path] {
			*p = Duration(def)
		}
	}
	boolean := func(p **bool, def bool) {
		if *p == nil {
			*p = &def
		}
	}

	str(&f.PublicURL, DefaultPublicURL)
	f.PublicURL = strings.TrimRight(f.PublicURL, "/")
	str(&f.Listen, DefaultListen)
	str(&f.AdminListen, DefaultAdminListen)

	str(&f.Store.Driver, DriverSQLite)
	if f.Store.Driver == DriverSQLite {
		str(&f.Store.DSN, DefaultSQLiteDSN)
	}
	dur("store.timeout", &f.Store.Timeout, DefaultStoreTimeout)

	str(&f.Signing.Algorithm, AlgRS256)
	dur("signing.rotate_every", &f.Signing.RotateEvery, DefaultRotateEvery)

	dur("tokens.access_token_ttl", &f.Tokens.AccessTokenTTL, DefaultAccessTokenTTL)
	dur("tokens.refresh_token_ttl", &f.Tokens.RefreshTokenTTL, DefaultRefreshTokenTTL)
	dur("tokens.public_refresh_token_ttl", &f.Tokens.PublicRefreshTokenTTL, DefaultPublicRefreshTokenTTL)
	dur("tokens.code_ttl", &f.Tokens.CodeTTL, DefaultCodeTTL)
	if !given["tokens.audiences"] {
		f.Tokens.Audiences = []string{AudienceDomainAPI, AudienceTableAPI}
	}
	dur("tokens.refresh_reuse_grace", &f.Tokens.RefreshReuseGrace, DefaultRefreshReuseGrace)
	str(&f.Tokens.ScopeFormat, ScopeFormatArray)

	dur("sessions.idle_timeout", &f.Sessions.IdleTimeout, DefaultIdleTimeout)
	dur("sessions.service_max_lifetime", &f.Sessions.ServiceMaxLifetime, DefaultServiceMaxLifetime)

	integer := func(path string, p *int, def int) {
		if !given[path] {
			*p = def
		}
	}
	integer("limits.token_requests_per_second", &f.Limits.TokenRequestsPerSecond, DefaultTokenRequestsPerSec)
	integer("limits.token_burst", &f.Limits.TokenBurst, DefaultTokenBurst)
	integer("limits.client_auth_failures_per_client_address", &f.Limits.ClientAuthFailuresPerClientAddress, DefaultClientAuthFailuresPerPair)
	integer("limits.client_auth_failures_per_address", &f.Limits.ClientAuthFailuresPerAddress, DefaultClientAuthFailuresPerAddr)
	integer("limits.client_auth_failures_per_client", &f.Limits.ClientAuthFailuresPerClient, DefaultClientAuthFailuresPerClient)
	dur("limits.client_auth_failure_window", &f.Limits.ClientAuthFailureWindow, DefaultClientAuthFailureWindow)
	dur("limits.form_read_timeout", &f.Limits.FormReadTimeout, DefaultFormReadTimeout)
	integer("limits.login_failures_per_account_address", &f.Limits.LoginFailuresPerAccountAddress, DefaultLoginFailuresPerPair)
	integer("limits.login_failures_per_address", &f.Limits.LoginFailuresPerAddress, DefaultLoginFailuresPerAddr)
	dur("limits.login_failure_window", &f.Limits.LoginFailureWindow, DefaultLoginFailureWindow)
	integer("limits.login_delay_after", &f.Limits.LoginDelayAfter, DefaultLoginDelayAfter)
	dur("limits.login_delay_base", &f.Limits.LoginDelayBase, DefaultLoginDelayBase)
	dur("limits.login_delay_max", &f.Limits.LoginDelayMax, DefaultLoginDelayMax)

	for i := range f.Users {
		str(&f.Users[i].Type, UserInternal)
		boolean(&f.Users[i].Enabled, true)
	}
	for i := range f.Apps {
		a := &f.Apps[i]
		str(&a.Type, AppConfidential)
		boolean(&a.AllowInternalUsers, true)
		boolean(&a.AllowCommunityUsers, false)
		str(&a.ReferenceTokens, ReferenceTokensNone)
		str(&a.Consent, ConsentImplicit)
		str(&a.DPoP, DPoPOptional)
		str(&a.MFA, MFAOptional)
		boolean(&a.RequirePKCE, true)
		boolean(&a.Enabled, true)
		boolean(&a.LocalPasswords, true)
	}
	providerDefaults(f, given) // identity_providers.go
	for i := range f.Routes {
		r := &f.Routes[i]
		str(&r.OnMissingToken, OnMissingTokenUnauthorized)
		dur(fmt.Sprintf("routes[%d].timeout", i), &r.Timeout, DefaultRouteTimeout)
		dur(fmt.Sprintf("routes[%d].client_idle_timeout", i), &r.ClientIdleTimeout, DefaultClientIdleTimeout)
	}

	str(&f.Log.Level, LogInfo)
	str(&f.Log.Format, LogJSON)
	str(&f.Log.Audit, AuditStderr)
}
