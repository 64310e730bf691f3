package gateway

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/federation"
	"github.com/erpgate/erpgate/issuer"
	"github.com/erpgate/erpgate/store"
)

// Sign-in through external identity providers (SPEC §10): the issuer's
// providers are built from identity_providers at every reload. A
// provider whose entry did not change is kept, with what it discovered,
// so a reload neither repeats discovery nor forgets a provider that was
// down.

// providerCache keeps the providers of the last reload by their entry.
type providerCache struct {
	mu   sync.Mutex
	byID map[string]cachedProvider
}

type cachedProvider struct {
	entry    string // the entry as built, secrets included (memory only)
	provider issuer.Provider
}

// federationClient makes every call to OpenID providers: each wait
// bounded (dial, TLS, headers, the whole request), redirects not
// followed (discovery, keys and tokens are never redirected for us).
func federationClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 10 * time.Second,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// identityProviders builds the issuer's providers of f.
func (g *Gateway) identityProviders(f *config.File) ([]issuer.Provider, error) {
	g.providers.mu.Lock()
	defer g.providers.mu.Unlock()
	next := make(map[string]cachedProvider, len(f.IdentityProviders))
	var out []issuer.Provider
	for i, e := range f.IdentityProviders {
		entry := fmt.Sprintf("%#v", e)
		if c, ok := g.providers.byID[e.ID]; ok && c.entry == entry {
			next[e.ID] = c
			out = append(out, c.provider)
			continue
		}
		p, err := g.buildProvider(f, e)
		if err != nil {
			return nil, fmt.Errorf("identity_providers[%d]: %w", i, err)
		}
		next[e.ID] = cachedProvider{entry: entry, provider: p}
		out = append(out, p)
	}
	g.providers.byID = next
	return out, nil
}

func (g *Gateway) buildProvider(f *config.File, e config.IdentityProvider) (issuer.Provider, error) {
	p := issuer.Provider{ID: e.ID, Name: e.Label(), Domains: e.Domains, Rules: e.Rules()}
	switch e.Type {
	case config.ProviderOIDC:
		cfg := federation.OIDCConfig{
			ID: e.ID, Issuer: e.Issuer, Tenants: e.Tenants, HostedDomain: e.HostedDomain,
			ClientID: e.ClientID, ClientSecret: e.ClientSecret, RedirectURL: f.PublicURL + e.CallbackPath(),
			Scopes: e.Scopes, TrustEmail: e.TrustEmail, EndSession: e.EndSession,
			Claims: federation.ClaimNames{Login: e.Claims.Login, Name: e.Claims.Name, Email: e.Claims.Email,
				EmailVerified: e.Claims.EmailVerified, Groups: e.Claims.Groups},
			HTTPClient: g.federationHTTP, Clock: g.clock,
		}
		var err error
		switch e.Preset {
		case federation.PresetEntra:
			cfg, err = federation.Entra(cfg, e.Tenant)
		case federation.PresetGoogle:
			cfg = federation.Google(cfg)
		}
		if err != nil {
			return p, err
		}
		op, err := federation.NewOIDC(cfg)
		if err != nil {
			return p, err
		}
		p.Redirect = op
	case config.ProviderLDAP:
		var roots *x509.CertPool
		if e.CAFile != "" {
			pem, err := g.readFile(e.CAFile)
			if err != nil {
				return p, fmt.Errorf("ca_file: %w", err)
			}
			roots = x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pem) {
				return p, fmt.Errorf("ca_file: %s holds no PEM certificate", e.CAFile)
			}
		}
		dir, err := federation.NewLDAP(federation.LDAPConfig{
			ID: e.ID, URL: e.URL, StartTLS: e.StartTLS, RootCAs: roots, BindDN: e.BindDN, BindPassword: e.BindPassword,
			UserBase: e.UserBase, UserFilter: e.UserFilter,
			LoginAttribute: e.Attributes.Login, NameAttribute: e.Attributes.Name, EmailAttribute: e.Attributes.Email,
			SubjectAttribute: e.Attributes.Subject, GroupBase: e.GroupBase, GroupFilter: e.GroupFilter,
			Timeout: e.Timeout.D(), Logger: g.logger,
		})
		if err != nil {
			return p, err
		}
		p.Password = dir
	default:
		return p, fmt.Errorf("type %q", e.Type)
	}
	return p, nil
}

var _ issuer.FederatedUsers = (*Users)(nil)

// CreateFederatedUser stores a user a provider's rules admit on their
// first sign-in, as the admin API creates one (no password), and makes
// the directory have it at once.
func (u *Users) CreateFederatedUser(ctx context.Context, in directory.User) error {
	now := u.clock().Truncate(time.Millisecond)
	rec := directory.User{Login: in.Login, ID: newUserID(), Name: in.Name, Email: in.Email, EmailVerified: in.EmailVerified,
		Type: in.Type, Admin: in.Admin, CreatedAt: now, UpdatedAt: now}
	// What a provider says of a person is not ours to refuse them over:
	// a name too long is cut, an address the registry would not take is
	// left out. The login is what it is; a bad one refuses the sign-in.
	rec.Name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, rec.Name)
	if r := []rune(rec.Name); len(r) > maxNameLength {
		rec.Name = string(r[:maxNameLength])
	}
	if p := CheckUser(directory.User{Login: rec.Login, Email: rec.Email, Type: rec.Type}); slices.ContainsFunc(p, func(s string) bool {
		return strings.HasPrefix(s, "user.email:")
	}) {
		rec.Email, rec.EmailVerified = "", false
	}
	if probs := CheckUser(rec); len(probs) > 0 {
		return fmt.Errorf("%w: %s", issuer.ErrUserInvalid, strings.Join(probs, "; "))
	}
	if u.directory.ConfigUser(rec.Login) != nil {
		return store.ErrConflict
	}
	if err := u.store.CreateUser(ctx, rec); err != nil {
		return err
	}
	return u.directory.Sync(ctx)
}

// EmailOwner is the login of the one enabled person (not a system user)
// whose email is email, ignoring case, among the file's users and the
// stored ones; "" for none or several.
func (u *Users) EmailOwner(ctx context.Context, email string) (string, error) {
	found := map[string]bool{}
	for _, f := range u.directory.ConfigUsers() {
		if strings.EqualFold(f.Email, email) && f.Type != directory.TypeSystem && u.directory.User(f.Login) != nil {
			found[f.Login] = true
		}
	}
	stored, err := u.store.Users(ctx)
	if err != nil {
		return "", err
	}
	for _, s := range stored {
		if strings.EqualFold(s.Email, email) && s.Type != directory.TypeSystem && u.directory.User(s.Login) != nil {
			found[s.Login] = true
		}
	}
	if len(found) != 1 {
		return "", nil
	}
	for login := range found {
		return login, nil
	}
	return "", nil
}
