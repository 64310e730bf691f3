package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/erpgate/erpgate/federation"
)

// Kinds of identity provider (identity_providers[].type).
const (
	ProviderOIDC = "oidc"
	ProviderLDAP = "ldap"
)

// Defaults of identity_providers[].
const (
	DefaultLDAPUserFilter  = "(uid={login})"
	DefaultLDAPGroupFilter = "(member={dn})"
)

// DefaultLDAPTimeout is identity_providers[].timeout of an LDAP provider.
var DefaultLDAPTimeout = Duration(5e9)

// IdentityProvider is an external identity provider people sign in
// through (SPEC §10): an OpenID Connect provider (generic, or the entra
// and google presets) or an LDAP / Active Directory directory. Apps list
// the ones their login page offers (apps[].identity_providers).
type IdentityProvider struct {
	// ID names the provider: lowercase letters, digits and "-", starting
	// with a letter or digit; unique. It is the tokens' idp claim and part
	// of the callback URL (public_url + /id/account/callback/<id>), so
	// changing it orphans the stored links to local users. Required.
	ID string `yaml:"id"`
	// Type is "oidc" or "ldap". Required.
	Type string `yaml:"type"`
	// Name is the login page's button label ("Sign in with <name>").
	// Omitted: the id.
	Name string `yaml:"name"`

	// OpenID Connect.

	// Preset is "" (a generic provider, by issuer), "entra" (Microsoft
	// Entra ID) or "google".
	Preset string `yaml:"preset"`
	// Issuer is the provider's issuer URL, where
	// /.well-known/openid-configuration is found; https, or http on
	// loopback. Required for a generic provider; a preset's own issuer
	// otherwise (setting it overrides the preset's).
	Issuer string `yaml:"issuer"`
	// Tenant (entra) is the directory (tenant) id, a GUID, or
	// organizations / common for a multi-tenant app. Required for entra.
	Tenant string `yaml:"tenant"`
	// Tenants (entra, multi-tenant) are the tenant ids allowed to sign in;
	// omitted: any.
	Tenants []string `yaml:"tenants"`
	// HostedDomain (google) admits only accounts of this Google Workspace
	// domain (the hd claim).
	HostedDomain string `yaml:"hosted_domain"`
	// ClientID and ClientSecret are erpgate's registration at the
	// provider; use ${VAR} for the secret. ClientID required.
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// Scopes requested. Omitted: [openid, profile, email]; openid is
	// required.
	Scopes []string `yaml:"scopes"`
	// Claims name the ID token claims mapped to the user. Omitted names:
	// preferred_username (google: email), name, email, email_verified,
	// groups.
	Claims ProviderClaims `yaml:"claims"`
	// EndSession sends the browser on to the provider's
	// end_session_endpoint after erpgate's logout (RP-Initiated Logout),
	// when its discovery document has one; register public_url +
	// /id/account/logout/federated as a post-logout redirect URI there.
	// Omitted: false.
	EndSession bool `yaml:"end_session"`
	// TrustEmail counts the provider's email claim as verified whatever
	// email_verified says. Entra ID asserts no email_verified and lets
	// tenant administrators set any address, so only set it for a tenant
	// you control. Omitted: false.
	TrustEmail bool `yaml:"trust_email"`

	// LDAP / Active Directory.

	// URL is ldap:// or ldaps:// host[:port]. Required for ldap.
	URL string `yaml:"url"`
	// StartTLS upgrades an ldap:// connection with StartTLS.
	StartTLS bool `yaml:"start_tls"`
	// CAFile is the PEM file of the roots that verify the directory's
	// certificate; omitted: the system roots.
	CAFile string `yaml:"ca_file"`
	// BindDN and BindPassword are the service account that searches for
	// the user (use ${VAR}); omitted: an anonymous search.
	BindDN       string `yaml:"bind_dn"`
	BindPassword string `yaml:"bind_password"`
	// UserBase is where users are searched. Required for ldap.
	UserBase string `yaml:"user_base"`
	// UserFilter finds the user; {login} is the escaped login typed.
	// Omitted: (uid={login}); Active Directory: (sAMAccountName={login}).
	UserFilter string `yaml:"user_filter"`
	// Attributes name the entry's attributes mapped to the user.
	Attributes LDAPAttributes `yaml:"attributes"`
	// GroupBase, when set, is where the user's groups are searched.
	GroupBase string `yaml:"group_base"`
	// GroupFilter finds the user's groups; {dn} is the user's escaped DN.
	// Omitted: (member={dn}).
	GroupFilter string `yaml:"group_filter"`
	// Timeout bounds each directory operation. Omitted: 5s.
	Timeout Duration `yaml:"timeout"`

	// Both kinds.

	// Domains: a login_hint (or a login typed, for ldap) whose domain is
	// listed picks this provider and skips the choice.
	Domains []string `yaml:"domains"`
	// Users are the rules for a person's first sign-in, when no stored
	// link names their local user yet.
	Users ProviderUsers `yaml:"users"`
}

// ProviderClaims name the ID token claims of identity_providers[].claims.
type ProviderClaims struct {
	Login         string `yaml:"login"`
	Name          string `yaml:"name"`
	Email         string `yaml:"email"`
	EmailVerified string `yaml:"email_verified"`
	Groups        string `yaml:"groups"`
}

// LDAPAttributes name the entry attributes of identity_providers[].attributes.
type LDAPAttributes struct {
	// Login omitted: uid; Name: cn; Email: mail.
	Login string `yaml:"login"`
	Name  string `yaml:"name"`
	Email string `yaml:"email"`
	// Subject is the stable id the link to the local user is keyed by;
	// omitted: the entry's DN (Active Directory: objectGUID survives a
	// rename).
	Subject string `yaml:"subject"`
}

// ProviderUsers are identity_providers[].users, the first-sign-in rules
// (federation.Rules).
type ProviderUsers struct {
	// InternalDomains: a verified email in one of these domains makes an
	// internal user.
	InternalDomains []string `yaml:"internal_domains"`
	// Others is community (everyone else becomes a community user) or
	// refuse. Omitted: refuse.
	Others string `yaml:"others"`
	// AdminGroups, InternalGroups and CommunityGroups: the provider's
	// groups (an LDAP group matches by DN or by its first RDN's value)
	// that make internal administrators, internal users and community
	// users, checked in that order before the domains.
	AdminGroups     []string `yaml:"admin_groups"`
	InternalGroups  []string `yaml:"internal_groups"`
	CommunityGroups []string `yaml:"community_groups"`
	// LinkExisting is never, or by_verified_email: a person whose
	// verified email is an existing user's email is linked to that user.
	// Omitted: never.
	LinkExisting string `yaml:"link_existing"`
}

// Rules is the federation.Rules of the provider.
func (p IdentityProvider) Rules() federation.Rules {
	u := p.Users
	return federation.Rules{InternalDomains: u.InternalDomains, Others: u.Others, AdminGroups: u.AdminGroups,
		InternalGroups: u.InternalGroups, CommunityGroups: u.CommunityGroups, LinkExisting: u.LinkExisting}
}

// Label is the button label: Name, or the id.
func (p IdentityProvider) Label() string {
	if p.Name != "" {
		return p.Name
	}
	return p.ID
}

// CallbackPath is where the provider sends the browser back, under
// public_url.
func (p IdentityProvider) CallbackPath() string { return "/id/account/callback/" + p.ID }

// FederatedLogoutPath is where a provider's logout sends the browser
// back, under public_url.
const FederatedLogoutPath = "/id/account/logout/federated"

// LocalPasswordsAllowed reports whether the app's login form takes local
// passwords (the default).
func (a App) LocalPasswordsAllowed() bool { return a.LocalPasswords == nil || *a.LocalPasswords }

var providerIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// providerDefaults fills what identity_providers[] omit; given are the
// keys the file set (an explicit timeout: 0s is an error, not omitted).
func providerDefaults(f *File, given map[string]bool) {
	for i := range f.IdentityProviders {
		p := &f.IdentityProviders[i]
		switch p.Type {
		case ProviderOIDC:
			if p.Scopes == nil {
				p.Scopes = []string{"openid", "profile", "email"}
			}
		case ProviderLDAP:
			if p.UserFilter == "" {
				p.UserFilter = DefaultLDAPUserFilter
			}
			if p.GroupFilter == "" {
				p.GroupFilter = DefaultLDAPGroupFilter
			}
			if !given[fmt.Sprintf("identity_providers[%d].timeout", i)] {
				p.Timeout = DefaultLDAPTimeout
			}
		}
		if p.Users.Others == "" {
			p.Users.Others = federation.OthersRefuse
		}
		if p.Users.LinkExisting == "" {
			p.Users.LinkExisting = federation.LinkNever
		}
	}
}

// identityProviders validates identity_providers and returns the index
// of each id.
func (v *validator) identityProviders() map[string]int {
	ids := map[string]int{}
	domains := map[string]string{}
	for i, p := range v.f.IdentityProviders {
		path := fmt.Sprintf("identity_providers[%d]", i)
		switch j, dup := ids[p.ID]; {
		case p.ID == "":
			v.add(path+".id", "required")
		case !providerIDRE.MatchString(p.ID) || len(p.ID) > 64:
			v.add(path+".id", "must be lowercase letters, digits and -, starting with a letter or digit (at most 64)")
		case dup:
			v.addf(path+".id", "duplicate provider id %q (also identity_providers[%d])", p.ID, j)
		default:
			ids[p.ID] = i
		}
		switch p.Type {
		case ProviderOIDC:
			v.oidcProvider(path, p)
		case ProviderLDAP:
			v.ldapProvider(path, p)
		case "":
			v.add(path+".type", "required: oidc or ldap")
		default:
			v.addf(path+".type", "must be oidc or ldap, not %q", p.Type)
		}
		for k, d := range p.Domains {
			d = strings.ToLower(d)
			switch other, dup := domains[d]; {
			case d == "" || strings.ContainsAny(d, "@/ ") || !strings.Contains(d, "."):
				v.addf(fmt.Sprintf("%s.domains[%d]", path, k), "must be a domain name such as example.com")
			case dup:
				v.addf(fmt.Sprintf("%s.domains[%d]", path, k), "domain %q is listed by provider %s too", d, other)
			default:
				domains[d] = p.ID
			}
		}
		v.oneOf(path+".users.others", p.Users.Others, federation.OthersCommunity, federation.OthersRefuse)
		v.oneOf(path+".users.link_existing", p.Users.LinkExisting, federation.LinkNever, federation.LinkByVerifiedEmail)
		for k, d := range p.Users.InternalDomains {
			if d == "" || strings.ContainsAny(d, "@/ ") {
				v.addf(fmt.Sprintf("%s.users.internal_domains[%d]", path, k), "must be a domain name such as example.com")
			}
		}
	}
	return ids
}

func (v *validator) oidcProvider(path string, p IdentityProvider) {
	switch p.Preset {
	case "":
		if p.Issuer == "" {
			v.add(path+".issuer", "required for a generic OpenID provider (or set preset: entra or google)")
		}
	case federation.PresetEntra:
		if p.Tenant == "" {
			v.add(path+".tenant", "required for entra: the tenant id, organizations or common")
		} else if msg := federation.CheckEntraTenant(p.Tenant); msg != "" {
			v.add(path+".tenant", msg)
		}
		if len(p.Tenants) > 0 && !federation.EntraMultiTenant(p.Tenant) {
			v.add(path+".tenants", "only for a multi-tenant app (tenant: organizations or common)")
		}
		for k, t := range p.Tenants {
			if federation.CheckEntraTenant(t) != "" || federation.EntraMultiTenant(t) {
				v.addf(fmt.Sprintf("%s.tenants[%d]", path, k), "must be a tenant id (a GUID)")
			}
		}
	case federation.PresetGoogle:
	default:
		v.addf(path+".preset", "must be entra or google, or omitted for a generic provider; not %q", p.Preset)
	}
	if p.Preset != federation.PresetEntra && (p.Tenant != "" || len(p.Tenants) > 0) {
		v.add(path+".tenant", "only for preset: entra")
	}
	if p.Preset != federation.PresetGoogle && p.HostedDomain != "" {
		v.add(path+".hosted_domain", "only for preset: google")
	}
	if p.Issuer != "" {
		if msg := checkProviderURL(p.Issuer); msg != "" {
			v.add(path+".issuer", msg)
		}
	}
	if p.ClientID == "" {
		v.add(path+".client_id", "required: erpgate's client id at the provider")
	}
	if !contains(p.Scopes, "openid") {
		v.add(path+".scopes", "must include openid")
	}
	for _, k := range []string{p.URL, p.BindDN, p.BindPassword, p.UserBase, p.CAFile, p.GroupBase} {
		if k != "" {
			v.add(path, "url, bind_dn, bind_password, user_base, ca_file and group_base are for type: ldap")
			break
		}
	}
}

func (v *validator) ldapProvider(path string, p IdentityProvider) {
	u, err := url.Parse(p.URL)
	switch {
	case p.URL == "":
		v.add(path+".url", "required: ldap://host[:port] or ldaps://host[:port]")
	case err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" || (u.Path != "" && u.Path != "/"):
		v.add(path+".url", "must be ldap://host[:port] or ldaps://host[:port]")
	case p.StartTLS && u.Scheme == "ldaps":
		v.add(path+".start_tls", "not with ldaps:// (already TLS)")
	case u.Scheme == "ldap" && !p.StartTLS && !isLoopbackHost(u.Hostname()):
		v.add(path+".url", "ldap:// sends passwords in clear: use ldaps:// or start_tls: true (plain ldap:// only on loopback)")
	}
	if p.UserBase == "" {
		v.add(path+".user_base", "required: where users are searched")
	}
	if !strings.Contains(p.UserFilter, "{login}") {
		v.add(path+".user_filter", "must contain {login}")
	}
	if p.GroupBase != "" && !strings.Contains(p.GroupFilter, "{dn}") && !strings.Contains(p.GroupFilter, "{login}") {
		v.add(path+".group_filter", "must contain {dn} or {login}")
	}
	if p.BindDN != "" && p.BindPassword == "" {
		v.add(path+".bind_password", "required with bind_dn")
	}
	if p.Timeout <= 0 {
		v.add(path+".timeout", "must be positive")
	}
	if p.Preset != "" || p.Issuer != "" || p.ClientID != "" || p.ClientSecret != "" || p.EndSession {
		v.add(path, "preset, issuer, client_id, client_secret and end_session are for type: oidc")
	}
}

// checkProviderURL says what is wrong with an issuer URL: https, or http
// on a loopback host (tests, a provider beside erpgate).
func checkProviderURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		return "must be an absolute https URL"
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return "must have no query, fragment or user information"
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return ""
	}
	return "must be https (http only on a loopback host)"
}

// appProviders validates apps[].identity_providers and local_passwords.
func (v *validator) appProviders(path string, a App, ids map[string]int) {
	seen := map[string]bool{}
	for k, id := range a.IdentityProviders {
		p := fmt.Sprintf("%s.identity_providers[%d]", path, k)
		switch _, ok := ids[id]; {
		case !ok:
			v.addf(p, "no identity_providers entry has id %q", id)
		case seen[id]:
			v.addf(p, "duplicate %q", id)
		}
		seen[id] = true
	}
	if !a.LocalPasswordsAllowed() && len(a.IdentityProviders) == 0 {
		v.add(path+".local_passwords", "false needs identity_providers: nobody could sign in to the app")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
