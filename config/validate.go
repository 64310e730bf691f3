package config

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/erpgate/erpgate/hostcheck"
)

// validator checks a defaulted File. It only reads the File and adds
// problems to the collector.
type validator struct {
	f *File
	c *collector
	// quiet are paths that already have a decode problem; validation
	// adds nothing at or under them.
	quiet []string
}

func (v *validator) add(path, msg string) {
	for _, q := range v.quiet {
		if within(path, q) {
			return
		}
	}
	v.c.add(path, msg)
}

func (v *validator) addf(path, format string, args ...any) {
	v.add(path, fmt.Sprintf(format, args...))
}

// oneOf checks an enumerated value.
func (v *validator) oneOf(path, val string, allowed ...string) bool {
	if slices.Contains(allowed, val) {
		return true
	}
	v.addf(path, "must be one of %s; got %q", strings.Join(allowed, ", "), val)
	return false
}

func (v *validator) positive(path string, d Duration) {
	if d <= 0 {
		v.add(path, "must be positive")
	}
}

func (v *validator) between(path string, d Duration, lo, hi time.Duration) {
	if d.D() < lo || d.D() > hi {
		v.addf(path, "must be between %s and %s", Duration(lo), Duration(hi))
	}
}

func (v *validator) validate() {
	f := v.f
	v.publicURL()
	v.listeners()
	v.tls()
	v.adminListeners() // listeners.go
	v.store()

	v.oneOf("signing.algorithm", f.Signing.Algorithm, AlgRS256, AlgES256, AlgEdDSA)
	if f.Signing.RotateEvery.D() < time.Hour {
		v.add("signing.rotate_every", "must be at least 1h")
	}

	v.tokens()
	v.positive("sessions.idle_timeout", f.Sessions.IdleTimeout)
	v.positive("sessions.service_max_lifetime", f.Sessions.ServiceMaxLifetime)

	v.limits()
	v.instance()
	v.ui()

	users := v.users()
	v.identityProviders() // identity_providers.go
	apps := v.apps(users)
	v.gateway(apps)
	v.license(users)
	v.routes()
	v.trustedProxies()
	v.allowedHosts()
	v.tracing() // tracing.go
	v.dpop()    // dpop.go
	v.adminUI() // adminui.go

	v.oneOf("log.level", f.Log.Level, LogDebug, LogInfo, LogWarn, LogError)
	v.oneOf("log.format", f.Log.Format, LogJSON, LogText)
	if a := f.Log.Audit; strings.ContainsAny(a, "\x00\r\n") || strings.HasSuffix(a, "/") {
		v.add("log.audit", "must be stderr, stdout or the path of a file")
	}
}

func (v *validator) publicURL() {
	s := v.f.PublicURL
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Opaque != "" || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		v.add("public_url", "must be an absolute http or https URL, such as https://gateway.example.com")
	case hasSpace(s):
		v.add("public_url", "must not contain whitespace")
	case u.User != nil:
		v.add("public_url", "must not contain user information")
	case u.RawQuery != "" || u.ForceQuery:
		v.add("public_url", "must not have a query")
	case strings.Contains(s, "#"):
		v.add("public_url", "must not have a fragment")
	}
}

func (v *validator) listeners() {
	f := v.f
	ok := true
	for _, l := range []struct{ path, addr string }{
		{"listen", f.Listen},
		{"admin_listen", f.AdminListen},
	} {
		if msg := checkHostPort(l.addr); msg != "" {
			v.add(l.path, msg)
			ok = false
		}
	}
	if ok && f.Listen == f.AdminListen && !strings.HasSuffix(f.Listen, ":0") {
		v.add("admin_listen", "must differ from listen")
	}
}

func checkHostPort(s string) string {
	const msg = "must be host:port, such as 127.0.0.1:8080 or :8080"
	host, port, err := net.SplitHostPort(s)
	if err != nil || hasSpace(host) {
		return msg
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "port must be a number from 0 to 65535"
	}
	return ""
}

func (v *validator) tls() {
	t := v.f.TLS
	if t.CertFile != "" && t.KeyFile == "" {
		v.add("tls.key_file", "required when tls.cert_file is set")
	}
	if t.KeyFile != "" && t.CertFile == "" {
		v.add("tls.cert_file", "required when tls.key_file is set")
	}
}

func (v *validator) store() {
	s := v.f.Store
	// Long enough for a busy database, short enough that a request does
	// not hang on one that stopped answering.
	v.between("store.timeout", s.Timeout, 10*time.Millisecond, time.Minute)
	if !v.oneOf("store.driver", s.Driver, DriverSQLite, DriverPostgres, DriverMemory) {
		return
	}
	switch {
	case s.Driver == DriverPostgres && s.DSN == "":
		v.add("store.dsn", "required for the postgres driver")
	case s.Driver == DriverMemory && s.DSN != "":
		v.add("store.dsn", "must be empty for the memory driver")
	}
}

func (v *validator) tokens() {
	t := v.f.Tokens
	v.positive("tokens.access_token_ttl", t.AccessTokenTTL)
	v.positive("tokens.refresh_token_ttl", t.RefreshTokenTTL)
	v.positive("tokens.public_refresh_token_ttl", t.PublicRefreshTokenTTL)
	// RFC 6749 §4.1.2: "The authorization code MUST expire shortly after it
	// is issued"; erpgate keeps it under a minute.
	v.between("tokens.code_ttl", t.CodeTTL, time.Second, time.Minute)
	v.between("tokens.refresh_reuse_grace", t.RefreshReuseGrace, 0, time.Minute)
	v.oneOf("tokens.scope_format", t.ScopeFormat, ScopeFormatArray, ScopeFormatString)

	if len(t.Audiences) == 0 {
		v.add("tokens.audiences", "must list at least one audience")
	}
	seen := map[string]bool{}
	for i, a := range t.Audiences {
		p := fmt.Sprintf("tokens.audiences[%d]", i)
		switch {
		case a == "":
			v.add(p, "must not be empty")
		case hasSpace(a):
			v.add(p, "must not contain whitespace")
		case seen[a]:
			v.addf(p, "duplicate audience %q", a)
		}
		seen[a] = true
	}
}

// users checks users and returns the index of each login.
func (v *validator) users() map[string]int {
	logins := map[string]int{}
	for i, u := range v.f.Users {
		p := fmt.Sprintf("users[%d]", i)
		switch j, dup := logins[u.Login]; {
		case u.Login == "":
			v.add(p+".login", "required")
		case hasSpace(u.Login):
			v.add(p+".login", "must not contain whitespace or control characters")
		case dup:
			v.addf(p+".login", "duplicate login %q (also users[%d])", u.Login, j)
		default:
			logins[u.Login] = i
		}
		validType := v.oneOf(p+".type", u.Type, UserInternal, UserCommunity, UserSystem)
		switch {
		case u.PasswordHash != "":
			if msg := checkArgon2id(u.PasswordHash); msg != "" {
				v.add(p+".password_hash", msg)
			}
		case validType && u.Type != UserSystem:
			v.addf(p+".password_hash", "required for %s users (only system users may have none); see `erpgate hash-password`", u.Type)
		}
		if u.Email != "" {
			if a, err := mail.ParseAddress(u.Email); err != nil || a.Name != "" || a.Address != u.Email {
				v.add(p+".email", "must be a bare email address such as alice@example.com")
			}
		}
		if u.EmailVerified && u.Email == "" {
			v.add(p+".email_verified", "must not be true without an email")
		}
		switch {
		case u.Locale == "":
		case strings.Contains(u.Locale, "_"):
			v.addf(p+".locale", "must be a BCP 47 language tag, subtags separated by \"-\": %s", strings.ReplaceAll(u.Locale, "_", "-"))
		case !validLanguageTag(u.Locale):
			v.add(p+".locale", "must be a BCP 47 language tag such as bg-BG or en")
		}
	}
	return logins
}

// validLanguageTag reports whether s is a well-formed BCP 47 language tag
// (RFC 5646 §2.1, the langtag production): language (2-3 letters, or
// 5-8), up to three extlangs, script, region, variants, extensions and a
// private-use part, subtags separated by "-", letters in any case.
// Grandfathered tags and tags that are only private use are refused: a
// user's locale names a language.
func validLanguageTag(s string) bool {
	sub := strings.Split(s, "-")
	for _, t := range sub {
		if len(t) < 1 || len(t) > 8 || !isAlnum(t) {
			return false
		}
	}
	lang := sub[0]
	if !isAlpha(lang) || len(lang) < 2 || len(lang) == 4 {
		return false
	}
	i := 1
	// take consumes the subtags that match, at most n of them.
	take := func(n int, ok func(string) bool) int {
		k := 0
		for ; k < n && i < len(sub) && ok(sub[i]); k++ {
			i++
		}
		return k
	}
	if len(lang) <= 3 {
		take(3, func(t string) bool { return len(t) == 3 && isAlpha(t) }) // extlang
	}
	take(1, func(t string) bool { return len(t) == 4 && isAlpha(t) })                               // script
	take(1, func(t string) bool { return len(t) == 2 && isAlpha(t) || len(t) == 3 && isDigits(t) }) // region
	take(len(sub), func(t string) bool { return len(t) >= 5 || len(t) == 4 && isDigits(t[:1]) })    // variants
	for i < len(sub) && len(sub[i]) == 1 && !strings.EqualFold(sub[i], "x") {                       // extensions
		i++
		if take(len(sub), func(t string) bool { return len(t) >= 2 }) == 0 {
			return false
		}
	}
	if i < len(sub) && strings.EqualFold(sub[i], "x") { // private use
		return i+1 < len(sub)
	}
	return i == len(sub)
}

func isAlnum(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') })
}

func isAlpha(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') })
}

func isDigits(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return !('0' <= r && r <= '9') })
}

func (v *validator) instance() {
	db := v.f.Instance.Database
	switch {
	case db == nil:
	case *db == "":
		v.add("instance.database", "must not be empty; leave instance.database out for tokens without db and client_db")
	case hasSpace(*db):
		v.add("instance.database", "must not contain whitespace or control characters")
	}
}

// checkArgon2id checks the shape of a PHC string
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>, salt and hash
// in unpadded standard base64. The bounds are the ones package password
// accepts at login (they keep a hostile hash from making each login take
// minutes), so a hash that passes here can be checked there.
func checkArgon2id(s string) string {
	const msg = "must be an argon2id PHC string such as `erpgate hash-password` prints: $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>"
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return msg
	}
	if parts[2] != "v=19" {
		return "must be an argon2id hash of version 19 (v=19)"
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return msg
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		num, ok := strings.CutPrefix(params[i], name)
		n, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil {
			return msg
		}
		vals[i] = n
	}
	m, t, p := vals[0], vals[1], vals[2]
	if m < 8*p || m > 4<<20 || t < 1 || t > 16 || p < 1 || p > 255 {
		return "has argon2id parameters out of range (8*p <= m <= 4194304, 1 <= t <= 16, 1 <= p <= 255)"
	}
	salt, err1 := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	hash, err2 := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(hash) < 16 {
		return "must have an unpadded base64 salt of at least 8 bytes and hash of at least 16 bytes"
	}
	return ""
}

var (
	appScopes   = []string{ScopeRead, ScopeUpdate, ScopeSec, ScopeOpenID, ScopeProfile, ScopeOfflineAccess}
	routeScopes = []string{ScopeRead, ScopeUpdate, ScopeSec}
)

// apps checks apps and returns the index of each uri.
func (v *validator) apps(users map[string]int) map[string]int {
	uris := map[string]int{}
	providerIDs := map[string]int{} // identity_providers validates them
	for i, p := range v.f.IdentityProviders {
		providerIDs[p.ID] = i
	}
	for i, a := range v.f.Apps {
		p := fmt.Sprintf("apps[%d]", i)
		switch j, dup := uris[a.URI]; {
		case a.URI == "":
			v.add(p+".uri", "required")
		case hasSpace(a.URI):
			v.add(p+".uri", "must not contain whitespace or control characters")
		case dup:
			v.addf(p+".uri", "duplicate app uri %q (also apps[%d])", a.URI, j)
		default:
			uris[a.URI] = i
		}
		v.oneOf(p+".type", a.Type, AppConfidential, AppPublic)
		confidential, public := a.Type == AppConfidential, a.Type == AppPublic

		switch {
		case public && a.SecretHash != "":
			v.add(p+".secret_hash", "not allowed for public apps")
		case confidential && a.SecretHash == "":
			v.add(p+".secret_hash", "required for confidential apps; see `erpgate hash-secret`")
		case confidential && !validSecretHash(a.SecretHash):
			v.add(p+".secret_hash", "must be base64 of a SHA-256 digest (44 characters), as `erpgate hash-secret` prints it")
		}

		if a.SystemUser != "" {
			j, ok := users[a.SystemUser]
			switch {
			case public:
				v.add(p+".system_user", "only confidential apps may have a system user")
			case !ok:
				v.addf(p+".system_user", "no user %q under users", a.SystemUser)
			case v.f.Users[j].Type != UserSystem:
				v.addf(p+".system_user", "users[%d] (%q) has type %s; a system_user must have type system", j, a.SystemUser, v.f.Users[j].Type)
			}
		}

		seen := map[string]bool{}
		for _, s := range a.Scopes() {
			switch {
			case !slices.Contains(appScopes, s):
				v.addf(p+".scope", "unknown scope %q; allowed: %s", s, strings.Join(appScopes, ", "))
			case seen[s]:
				v.addf(p+".scope", "duplicate scope %q", s)
			}
			seen[s] = true
		}

		v.redirectURIs(p+".redirect_uris", a.RedirectURIs)
		v.redirectURIs(p+".post_logout_redirect_uris", a.PostLogoutRedirectURIs)
		v.oneOf(p+".reference_tokens", a.ReferenceTokens,
			ReferenceTokensNone, ReferenceTokensAuthenticatedUsers, ReferenceTokensAdministratorsOnly)
		v.oneOf(p+".consent", a.Consent, ConsentImplicit, ConsentRequired)
		v.oneOf(p+".dpop", a.DPoP, DPoPOptional, DPoPRequired)
		v.oneOf(p+".mfa", a.MFA, MFAOptional, MFARequired)
		if a.BackchannelLogoutURI != "" {
			if msg := checkRedirectURI(a.BackchannelLogoutURI); msg != "" {
				v.add(p+".backchannel_logout_uri", msg)
			}
		}
		if public && a.RequirePKCE != nil && !*a.RequirePKCE {
			v.add(p+".require_pkce", "public apps must use PKCE; only confidential apps may set false")
		}
		v.appProviders(p, a, providerIDs) // identity_providers.go
	}
	return uris
}

func validSecretHash(s string) bool {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

const msgRedirectURI = "must be an absolute https URL, or http on loopback"

func (v *validator) redirectURIs(path string, uris []string) {
	seen := map[string]int{}
	for i, s := range uris {
		p := fmt.Sprintf("%s[%d]", path, i)
		if j, dup := seen[s]; dup {
			v.addf(p, "duplicate (also %s[%d])", path, j)
			continue
		}
		seen[s] = i
		if msg := checkRedirectURI(s); msg != "" {
			v.add(p, msg)
		}
	}
}

// checkRedirectURI applies SPEC §3: absolute https, or http on a loopback
// host (RFC 8252 §7.3); no fragment (RFC 6749 §3.1.2); no wildcard, since
// matching is exact; no user information.
func checkRedirectURI(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Opaque != "" || u.Host == "":
		return msgRedirectURI
	case hasSpace(s):
		return "must not contain whitespace"
	case strings.Contains(s, "*"):
		return "must not contain a wildcard (*): redirect URIs are matched exactly"
	case strings.Contains(s, "#"):
		return "must not contain a fragment (RFC 6749 §3.1.2)"
	case u.User != nil:
		return "must not contain user information"
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return ""
	default:
		return msgRedirectURI
	}
}

// isLoopbackHost reports whether host (without port or brackets) is one of
// the loopback names SPEC §3 allows for http redirect URIs.
func isLoopbackHost(host string) bool {
	return host == "127.0.0.1" || host == "::1" || host == "localhost"
}

func (v *validator) gateway(apps map[string]int) {
	f := v.f
	g := f.Gateway
	seen := map[string]int{}
	for i, k := range g.CookieKeys {
		p := fmt.Sprintf("gateway.cookie_keys[%d]", i)
		if j, dup := seen[k]; dup {
			v.addf(p, "duplicate (also gateway.cookie_keys[%d])", j)
			continue
		}
		seen[k] = i
		if _, ok := decodeKey(k); !ok {
			v.add(p, msgCookieKey)
		}
	}
	if g.ClientID == "" {
		return
	}
	if g.ClientSecret == "" {
		v.add("gateway.client_secret", "required when gateway.client_id is set")
	}
	if len(g.CookieKeys) == 0 {
		v.add("gateway.cookie_keys", "at least one key is required when gateway.client_id is set")
	}
	i, ok := apps[g.ClientID]
	if !ok {
		v.addf("gateway.client_id", "no app with uri %q under apps", g.ClientID)
		return
	}
	a := f.Apps[i]
	switch {
	case a.Type != AppConfidential:
		v.addf("gateway.client_id", "apps[%d] is a %s app; the gateway's app must be confidential", i, a.Type)
	case !a.IsEnabled():
		v.addf("gateway.client_id", "apps[%d] is disabled", i)
	case len(a.RedirectURIs) == 0:
		v.addf("gateway.client_id", "apps[%d] has no redirect_uris; add %s/oauth2/callback", i, f.PublicURL)
	}
	if g.ClientSecret != "" && a.Type == AppConfidential && validSecretHash(a.SecretHash) {
		sum := sha256.Sum256([]byte(g.ClientSecret))
		want := base64.StdEncoding.EncodeToString(sum[:])
		if subtle.ConstantTimeCompare([]byte(want), []byte(a.SecretHash)) != 1 {
			v.addf("gateway.client_secret", "does not match apps[%d].secret_hash", i)
		}
	}
}

func (v *validator) license(users map[string]int) {
	l := v.f.License
	if l.Slots < 0 {
		v.add("license.slots", "must not be negative (0 means unlimited)")
	}
	seen := map[string]int{}
	for i, login := range l.Reserved {
		p := fmt.Sprintf("license.reserved[%d]", i)
		if j, dup := seen[login]; dup {
			v.addf(p, "duplicate (also license.reserved[%d])", j)
			continue
		}
		seen[login] = i
		if _, ok := users[login]; !ok {
			v.addf(p, "no user %q under users", login)
		}
	}
	if l.Slots > 0 && len(l.Reserved) > l.Slots {
		v.addf("license.reserved", "reserves %d slots but license.slots is %d", len(l.Reserved), l.Slots)
	}
}

var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}

func (v *validator) routes() {
	f := v.f
	names := map[string]int{}
	for i, r := range f.Routes {
		p := fmt.Sprintf("routes[%d]", i)
		switch j, dup := names[r.Name]; {
		case r.Name == "":
			v.add(p+".name", "required")
		case !validRouteName(r.Name):
			v.add(p+".name", "must use only a-z, 0-9, - and _")
		case dup:
			v.addf(p+".name", "duplicate route name %q (also routes[%d])", r.Name, j)
		default:
			names[r.Name] = i
		}

		switch m := r.Match; {
		case m.Path == "" && m.PathPrefix == "":
			v.add(p+".match", "set one of path and path_prefix")
		case m.Path != "" && m.PathPrefix != "":
			v.add(p+".match", "set only one of path and path_prefix")
		case m.Path != "":
			if msg := checkRoutePath(m.Path); msg != "" {
				v.add(p+".match.path", msg)
			}
		default:
			if msg := checkRoutePath(m.PathPrefix); msg != "" {
				v.add(p+".match.path_prefix", msg)
			}
		}
		seen := map[string]bool{}
		for j, m := range r.Match.Methods {
			mp := fmt.Sprintf("%s.match.methods[%d]", p, j)
			switch {
			case slices.Contains(httpMethods, strings.ToUpper(m)) && m != strings.ToUpper(m):
				v.addf(mp, "must be uppercase: %s", strings.ToUpper(m))
			case !slices.Contains(httpMethods, m):
				v.addf(mp, "must be one of %s", strings.Join(httpMethods, ", "))
			case seen[m]:
				v.addf(mp, "duplicate method %s", m)
			}
			seen[m] = true
		}

		if r.Upstream == "" {
			v.add(p+".upstream", "required")
		} else if msg := checkUpstream(r.Upstream); msg != "" {
			v.add(p+".upstream", msg)
		}

		if r.Public {
			if r.Audience != "" {
				v.add(p+".audience", "not allowed on a public route")
			}
			if len(r.Scopes) > 0 {
				v.add(p+".scopes", "not allowed on a public route")
			}
			if r.OnMissingToken == OnMissingTokenLogin {
				v.add(p+".on_missing_token", "login is not allowed on a public route, which never asks for credentials")
			}
			if r.AllowCommunityUsers {
				v.add(p+".allow_community_users", "not allowed on a public route, which lets everyone in")
			}
		} else {
			switch {
			case r.Audience == "":
				v.add(p+".audience", "required unless the route is public")
			case !slices.Contains(f.Tokens.Audiences, r.Audience):
				v.addf(p+".audience", "must be one of tokens.audiences (%s); got %q", strings.Join(f.Tokens.Audiences, ", "), r.Audience)
			}
			v.routeScopes(p+".scopes", r.Scopes)
		}

		if v.oneOf(p+".on_missing_token", r.OnMissingToken, OnMissingTokenUnauthorized, OnMissingTokenLogin) &&
			r.OnMissingToken == OnMissingTokenLogin && !r.Public && f.Gateway.ClientID == "" {
			v.add(p+".on_missing_token", "login needs browser login at the proxy: set gateway.client_id")
		}
		v.positive(p+".timeout", r.Timeout)
		v.positive(p+".client_idle_timeout", r.ClientIdleTimeout)
		v.upstreamToken(i, r) // upstream_token.go
		v.requireAuth(i, r)   // require_auth.go
	}
}

func validRouteName(s string) bool {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// checkRoutePath checks a match path or prefix: absolute and canonical
// (the proxy matches only canonical request paths, so anything else could
// never match), without query, fragment, backslash or control characters.
func checkRoutePath(s string) string {
	switch {
	case !strings.HasPrefix(s, "/"):
		return `must start with "/"`
	case hasSpace(s):
		return "must not contain whitespace"
	case strings.ContainsAny(s, "?#"):
		return "must be a path only, without query or fragment"
	case strings.Contains(s, `\`):
		return "must not contain a backslash"
	}
	clean := path.Clean(s)
	if clean != s && clean+"/" != s {
		return fmt.Sprintf("must be a clean path (no //, . or .. segments): %s", clean)
	}
	return ""
}

func checkUpstream(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Opaque != "" || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return "must be an absolute http or https URL, such as http://127.0.0.1:8081"
	case hasSpace(s):
		return "must not contain whitespace"
	case u.User != nil:
		return "must not contain user information"
	case u.RawQuery != "" || u.ForceQuery:
		return "must not have a query"
	case strings.Contains(s, "#"):
		return "must not have a fragment"
	}
	return ""
}

// allowedHosts checks allowed_hosts with the parser the host check uses.
func (v *validator) allowedHosts() {
	seen := map[string]int{}
	for i, s := range v.f.AllowedHosts {
		p := fmt.Sprintf("allowed_hosts[%d]", i)
		h, err := hostcheck.Parse(s)
		if err != nil {
			v.add(p, err.Error())
			continue
		}
		if j, dup := seen[h.String()]; dup {
			v.addf(p, "duplicate (also allowed_hosts[%d])", j)
			continue
		}
		seen[h.String()] = i
	}
}

func (v *validator) trustedProxies() {
	const msg = "must be an IP address or a CIDR prefix, such as 10.0.0.7 or 10.0.0.0/8"
	seen := map[string]int{}
	for i, s := range v.f.TrustedProxies {
		p := fmt.Sprintf("trusted_proxies[%d]", i)
		if j, dup := seen[s]; dup {
			v.addf(p, "duplicate (also trusted_proxies[%d])", j)
			continue
		}
		seen[s] = i
		if strings.Contains(s, "/") {
			pfx, err := netip.ParsePrefix(s)
			switch {
			case err != nil:
				v.add(p, msg)
			case pfx != pfx.Masked():
				v.addf(p, "has host bits set; write %s", pfx.Masked())
			}
			continue
		}
		if _, err := netip.ParseAddr(s); err != nil {
			v.add(p, msg)
		}
	}
}

// hasSpace reports whether s contains whitespace or a control character.
func hasSpace(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	})
}

func (v *validator) limits() {
	l := v.f.Limits
	if l.TokenRequestsPerSecond < 0 {
		v.add("limits.token_requests_per_second", "must not be negative (0 turns the limit off)")
	}
	if l.TokenRequestsPerSecond > 0 && l.TokenBurst < 1 {
		v.add("limits.token_burst", "must be at least 1")
	}
	for _, c := range []struct {
		path string
		n    int
	}{
		{"limits.client_auth_failures_per_client_address", l.ClientAuthFailuresPerClientAddress},
		{"limits.client_auth_failures_per_address", l.ClientAuthFailuresPerAddress},
		{"limits.client_auth_failures_per_client", l.ClientAuthFailuresPerClient},
	} {
		if c.n < 1 {
			v.add(c.path, "must be at least 1")
		}
	}
	v.positive("limits.client_auth_failure_window", l.ClientAuthFailureWindow)
	v.between("limits.form_read_timeout", l.FormReadTimeout, time.Second, time.Minute)
	if l.LoginFailuresPerAccountAddress < 1 {
		v.add("limits.login_failures_per_account_address", "must be at least 1")
	}
	if l.LoginFailuresPerAddress < 1 {
		v.add("limits.login_failures_per_address", "must be at least 1")
	}
	v.positive("limits.login_failure_window", l.LoginFailureWindow)
	if l.LoginDelayAfter < 1 {
		v.add("limits.login_delay_after", "must be at least 1")
	}
	v.positive("limits.login_delay_base", l.LoginDelayBase)
	// A delay, not a lockout: at most half a minute.
	v.between("limits.login_delay_max", l.LoginDelayMax, max(l.LoginDelayBase.D(), 0), 30*time.Second)
}

// routeScopes checks scopes, the list at path: each one of routeScopes,
// none twice.
func (v *validator) routeScopes(path string, scopes []string) {
	seen := map[string]bool{}
	for j, s := range scopes {
		sp := fmt.Sprintf("%s[%d]", path, j)
		switch {
		case !slices.Contains(routeScopes, s):
			v.addf(sp, "must be one of %s; got %q", strings.Join(routeScopes, ", "), s)
		case seen[s]:
			v.addf(sp, "duplicate scope %q", s)
		}
		seen[s] = true
	}
}
