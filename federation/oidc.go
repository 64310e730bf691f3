package federation

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Errors of an OpenID Connect sign-in, besides ErrUnavailable. Each is
// what the person is told and what the audit log records (their
// reason), so they name the step that failed.
var (
	// ErrWrongIssuer: the provider's discovery document or ID token names
	// another issuer than the one configured (OIDC Discovery §4.3, OIDC
	// Core §3.1.3.7 step 2), or an Entra ID token's issuer is not its
	// tenant's, or its tenant is not allowed.
	ErrWrongIssuer = errors.New("federation: the identity provider's issuer is not the configured one")
	// ErrTokenInvalid: the code exchange gave no ID token, or one whose
	// signature, audience, expiry or required claims are wrong.
	ErrTokenInvalid = errors.New("federation: the identity provider's ID token is not valid")
	// ErrNonceMismatch: the ID token's nonce is not the one sent with
	// the authorization request (OIDC Core §3.1.3.7 step 11): a replayed
	// or injected token.
	ErrNonceMismatch = errors.New("federation: the ID token's nonce does not match the sign-in")
	// ErrWrongDomain: a Google account outside the configured hosted
	// domain (the hd claim).
	ErrWrongDomain = errors.New("federation: the account is not in the required domain")
)

// ClaimNames say which ID token claims carry what erpgate maps into an
// Identity (config identity_providers[].claims). Empty names take the
// defaults of DefaultClaimNames.
type ClaimNames struct {
	Login, Name, Email, EmailVerified, Groups string
}

// DefaultClaimNames are the standard claims of OIDC Core §5.1, and the
// groups claim Entra ID and most providers use.
var DefaultClaimNames = ClaimNames{Login: "preferred_username", Name: "name", Email: "email",
	EmailVerified: "email_verified", Groups: "groups"}

// withDefaults fills the empty names.
func (c ClaimNames) withDefaults() ClaimNames {
	d := DefaultClaimNames
	if c.Login != "" {
		d.Login = c.Login
	}
	if c.Name != "" {
		d.Name = c.Name
	}
	if c.Email != "" {
		d.Email = c.Email
	}
	if c.EmailVerified != "" {
		d.EmailVerified = c.EmailVerified
	}
	if c.Groups != "" {
		d.Groups = c.Groups
	}
	return d
}

// OIDCConfig is one OpenID Connect provider (config identity_providers[]
// with type oidc, after its preset is applied: Entra and Google below).
type OIDCConfig struct {
	ID string // identity_providers[].id: the idp claim and the URLs' name
	// Issuer is the discovery base: its /.well-known/openid-configuration
	// must name this issuer (OIDC Discovery §4.3).
	Issuer string
	// TenantIssuer, when set, is the issuer a multi-tenant Entra ID
	// discovery document names, with "{tenantid}" in it; the ID token's
	// iss must be it with the token's tid in place of "{tenantid}".
	TenantIssuer string
	// Tenants, when set, are the tid values allowed (a multi-tenant
	// application limited to some tenants).
	Tenants []string
	// TenantClaim names the claim kept as Identity.Tenant ("tid" for
	// Entra ID); "" keeps none.
	TenantClaim string
	// HostedDomain, when set, is the hd claim every ID token must carry
	// (Google Workspace); it is sent as the hd parameter too.
	HostedDomain string

	ClientID, ClientSecret string
	// RedirectURL is erpgate's callback for this provider: public_url +
	// "/id/account/callback/" + ID.
	RedirectURL string
	Scopes      []string // default openid, profile, email
	Claims      ClaimNames
	// TrustEmail treats the email claim as verified whatever the
	// email_verified claim says: for providers that vouch for their
	// users' addresses without saying so (an organisation's own Entra
	// tenant).
	TrustEmail bool
	// EndSession sends the browser to the provider's
	// end_session_endpoint at logout (RP-Initiated Logout 1.0), when its
	// discovery document has one.
	EndSession bool

	// HTTPClient makes every call to the provider (discovery, keys, code
	// exchange); it must have a Timeout.
	HTTPClient *http.Client
	// DiscoveryTimeout bounds one discovery attempt; 0: 10s.
	DiscoveryTimeout time.Duration
	// RetryAfter is how long a failed discovery is remembered before the
	// next sign-in tries again; 0: 10s.
	RetryAfter time.Duration
	Clock      func() time.Time // nil: time.Now
}

// OIDC is an OpenID Connect provider erpgate signs people in through:
// the authorization code flow with PKCE S256, state and nonce (OIDC Core
// §3.1, RFC 7636, RFC 9700 §2.1). Discovery happens at the first sign-in
// and is retried while it fails, so a provider that is down when erpgate
// starts does not stop erpgate; only its sign-ins fail until it is back.
type OIDC struct {
	cfg OIDCConfig

	mu       sync.Mutex
	disc     *discovered
	failedAt time.Time // of the last failed discovery; zero after a success
	failure  error
}

// discovered is what the discovery document gave.
type discovered struct {
	provider   *oidc.Provider
	verifier   *oidc.IDTokenVerifier
	oauth      oauth2.Config
	endSession string // end_session_endpoint; "" when it has none
}

// NewOIDC checks cfg and returns the provider; it makes no request.
func NewOIDC(cfg OIDCConfig) (*OIDC, error) {
	switch {
	case cfg.ID == "":
		return nil, errors.New("federation: an OpenID provider needs an id")
	case cfg.Issuer == "":
		return nil, fmt.Errorf("federation: provider %s: issuer is required", cfg.ID)
	case cfg.ClientID == "":
		return nil, fmt.Errorf("federation: provider %s: client_id is required", cfg.ID)
	case cfg.RedirectURL == "":
		return nil, fmt.Errorf("federation: provider %s: the redirect URL is required", cfg.ID)
	case cfg.HTTPClient == nil || cfg.HTTPClient.Timeout <= 0:
		return nil, fmt.Errorf("federation: provider %s: an HTTP client with a timeout is required", cfg.ID)
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "profile", "email"}
	}
	cfg.Claims = cfg.Claims.withDefaults()
	if cfg.DiscoveryTimeout <= 0 {
		cfg.DiscoveryTimeout = 10 * time.Second
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 10 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &OIDC{cfg: cfg}, nil
}

// ID is the provider's id.
func (p *OIDC) ID() string { return p.cfg.ID }

// discover returns the discovery result, fetching it when there is none
// yet; a failure is remembered for RetryAfter, so a dead provider costs
// one bounded attempt per interval, not one per sign-in.
func (p *OIDC) discover(ctx context.Context) (*discovered, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.disc != nil {
		return p.disc, nil
	}
	now := p.cfg.Clock()
	if !p.failedAt.IsZero() && now.Sub(p.failedAt) < p.cfg.RetryAfter {
		return nil, p.failure
	}
	d, err := p.fetch(ctx)
	if err != nil {
		p.failedAt, p.failure = now, err
		return nil, err
	}
	p.disc, p.failedAt, p.failure = d, time.Time{}, nil
	return d, nil
}

func (p *OIDC) fetch(ctx context.Context) (*discovered, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.DiscoveryTimeout)
	defer cancel()
	ctx = oidc.ClientContext(ctx, p.cfg.HTTPClient)
	if p.cfg.TenantIssuer != "" {
		// A multi-tenant Entra ID document names the {tenantid}
		// template, not the URL it is served at; each token's issuer is
		// checked against its own tenant instead (tenantIssuerOK).
		ctx = oidc.InsecureIssuerURLContext(ctx, p.cfg.TenantIssuer)
	}
	prov, err := oidc.NewProvider(ctx, p.cfg.Issuer)
	if err != nil {
		var mismatch *oidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return nil, fmt.Errorf("%w: discovery at %s names %q", ErrWrongIssuer, p.cfg.Issuer, mismatch.Discovered)
		}
		return nil, fmt.Errorf("%w: %s: discovery: %v", ErrUnavailable, p.cfg.ID, err)
	}
	if p.cfg.TenantIssuer != "" {
		var doc struct {
			Issuer string `json:"issuer"`
		}
		if err := prov.Claims(&doc); err != nil || doc.Issuer != p.cfg.TenantIssuer {
			return nil, fmt.Errorf("%w: discovery at %s names %q, not %q", ErrWrongIssuer, p.cfg.Issuer, doc.Issuer, p.cfg.TenantIssuer)
		}
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = prov.Claims(&meta) // NewProvider decoded the same document
	return &discovered{
		provider: prov,
		verifier: prov.Verifier(&oidc.Config{ // its keys are fetched with HTTPClient, which NewProvider took from ctx
			ClientID: p.cfg.ClientID, Now: p.cfg.Clock,
			SkipIssuerCheck: p.cfg.TenantIssuer != "", // checked per tenant (tenantIssuerOK)
		}),
		oauth: oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret,
			Endpoint: prov.Endpoint(), RedirectURL: p.cfg.RedirectURL, Scopes: p.cfg.Scopes},
		endSession: meta.EndSession,
	}, nil
}

// AuthRequest is one authorization request at a provider.
type AuthRequest struct {
	State, Nonce string
	Verifier     string // the PKCE code_verifier; its S256 challenge is sent
	LoginHint    string // passed on when set (OIDC Core §3.1.2.1)
	// ForceLogin asks the provider to authenticate the person again
	// (prompt=login): the app asked erpgate for a fresh sign-in (prompt
	// login or max_age), which a silent single sign-on at the provider
	// would not be.
	ForceLogin bool
}

// AuthCodeURL is where the browser signs in at the provider: the
// authorization request with state, nonce and the S256 challenge of the
// verifier (RFC 7636 §4.2). ErrUnavailable or ErrWrongIssuer (wrapped)
// when discovery fails.
func (p *OIDC) AuthCodeURL(ctx context.Context, r AuthRequest) (string, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(r.Nonce), oauth2.S256ChallengeOption(r.Verifier)}
	if r.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", r.LoginHint))
	}
	if r.ForceLogin {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
	}
	if p.cfg.HostedDomain != "" {
		opts = append(opts, oauth2.SetAuthURLParam("hd", p.cfg.HostedDomain))
	}
	return d.oauth.AuthCodeURL(r.State, opts...), nil
}

// Exchange redeems code with verifier (RFC 7636 §4.5), verifies the ID
// token (signature, issuer, audience = client_id, expiry; OIDC Core
// §3.1.3.7) and that its nonce is nonce, and maps its claims to an
// Identity. The claims come from the ID token alone: it is signed, the
// userinfo answer is not.
func (p *OIDC) Exchange(ctx context.Context, code, verifier, nonce string) (Identity, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	ctx = oidc.ClientContext(ctx, p.cfg.HTTPClient)
	tok, err := d.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			// The provider answered, and refused: a stale or forged code.
			return Identity{}, fmt.Errorf("%w: code exchange: %s", ErrTokenInvalid, re.ErrorCode)
		}
		return Identity{}, fmt.Errorf("%w: %s: code exchange: %v", ErrUnavailable, p.cfg.ID, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, fmt.Errorf("%w: the token response has no id_token", ErrTokenInvalid)
	}
	idt, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		var bad *oidc.TokenExpiredError
		switch {
		case errors.As(err, &bad):
			return Identity{}, fmt.Errorf("%w: %v", ErrTokenInvalid, err)
		case strings.Contains(err.Error(), "id token issued by a different provider"):
			return Identity{}, fmt.Errorf("%w: %v", ErrWrongIssuer, err)
		case strings.Contains(err.Error(), "fetching keys"):
			return Identity{}, fmt.Errorf("%w: %s: %v", ErrUnavailable, p.cfg.ID, err)
		}
		return Identity{}, fmt.Errorf("%w: %v", ErrTokenInvalid, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 || nonce == "" {
		return Identity{}, ErrNonceMismatch
	}
	var all map[string]any
	if err := idt.Claims(&all); err != nil {
		return Identity{}, fmt.Errorf("%w: claims: %v", ErrTokenInvalid, err)
	}
	return p.identity(idt.Issuer, idt.Subject, all)
}

// identity maps verified claims to an Identity, after the checks the
// presets add (tenant issuer, hosted domain).
func (p *OIDC) identity(iss, sub string, all map[string]any) (Identity, error) {
	c := p.cfg.Claims
	id := Identity{Provider: p.cfg.ID, Subject: sub,
		Login: str(all[c.Login]), Name: str(all[c.Name]), Email: str(all[c.Email]),
		Groups: strs(all[c.Groups]), Methods: strs(all["amr"])}
	if sub == "" {
		return Identity{}, fmt.Errorf("%w: no sub", ErrTokenInvalid)
	}
	if p.cfg.TenantClaim != "" {
		id.Tenant = str(all[p.cfg.TenantClaim])
	}
	if p.cfg.TenantIssuer != "" && !tenantIssuerOK(p.cfg.TenantIssuer, iss, id.Tenant, p.cfg.Tenants) {
		return Identity{}, fmt.Errorf("%w: %q for tenant %q", ErrWrongIssuer, iss, id.Tenant)
	}
	if p.cfg.TenantIssuer == "" && len(p.cfg.Tenants) > 0 && !contains(p.cfg.Tenants, id.Tenant) {
		return Identity{}, fmt.Errorf("%w: tenant %q is not allowed", ErrWrongIssuer, id.Tenant)
	}
	if p.cfg.HostedDomain != "" && !strings.EqualFold(str(all["hd"]), p.cfg.HostedDomain) {
		return Identity{}, ErrWrongDomain
	}
	// email_verified is a boolean (OIDC Core §5.1); some providers send
	// the string "true".
	switch v := all[c.EmailVerified].(type) {
	case bool:
		id.EmailVerified = v
	case string:
		id.EmailVerified = v == "true"
	}
	if p.cfg.TrustEmail {
		id.EmailVerified = true
	}
	id.EmailVerified = id.EmailVerified && id.Email != ""
	if id.Login == "" {
		id.Login = id.Email
	}
	return id, nil
}

// tenantIssuerOK is the multi-tenant Entra ID issuer check: iss must be
// template with tid in place of "{tenantid}", for a tid that is set and,
// when allowed lists any, one of them. Entra's own guidance for
// multi-tenant apps (its discovery document names the template, each
// token its tenant).
func tenantIssuerOK(template, iss, tid string, allowed []string) bool {
	if tid == "" || strings.ContainsAny(tid, "/{}") {
		return false
	}
	if len(allowed) > 0 && !contains(allowed, tid) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(iss), []byte(strings.ReplaceAll(template, "{tenantid}", tid))) == 1
}

// EndSessionURL is where the browser ends its session at the provider
// (RP-Initiated Logout 1.0 §2), coming back to postLogout with state;
// ok false when the provider is not set to end sessions, has no
// end_session_endpoint, or cannot be discovered now.
func (p *OIDC) EndSessionURL(ctx context.Context, postLogout, state string) (string, bool) {
	if !p.cfg.EndSession {
		return "", false
	}
	d, err := p.discover(ctx)
	if err != nil || d.endSession == "" {
		return "", false
	}
	u, err := url.Parse(d.endSession)
	if err != nil {
		return "", false
	}
	q := u.Query()
	q.Set("client_id", p.cfg.ClientID)
	q.Set("post_logout_redirect_uri", postLogout)
	q.Set("state", state)
	u.RawQuery = q.Encode()
	return u.String(), true
}

// GenerateVerifier is a PKCE code verifier (RFC 7636 §4.1): 32 random
// bytes, base64url.
func GenerateVerifier() string { return oauth2.GenerateVerifier() }

func str(v any) string {
	s, _ := v.(string)
	return s
}

// strs reads a claim that is a list of strings, or one string.
func strs(v any) []string {
	switch v := v.(type) {
	case string:
		if v == "" {
			return nil
		}
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func contains(list []string, v string) bool {
	for _, e := range list {
		if strings.EqualFold(e, v) {
			return true
		}
	}
	return false
}
