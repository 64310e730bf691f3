package federation

import (
	"fmt"
	"regexp"
	"strings"
)

// Presets fill an OIDCConfig for a well-known provider; what the operator
// set (issuer, claim names) wins, so tests can point a preset at a local
// provider.
const (
	PresetEntra  = "entra"
	PresetGoogle = "google"
)

// Entra ID's authority and the issuer template its multi-tenant
// discovery documents name.
const (
	entraAuthority      = "https://login.microsoftonline.com/"
	entraTenantTemplate = entraAuthority + "{tenantid}/v2.0"
	googleIssuer        = "https://accounts.google.com"
)

// EntraMultiTenant reports whether tenant names Entra ID's multi-tenant
// endpoints (any work or school account; "common" adds personal
// Microsoft accounts) rather than one tenant.
func EntraMultiTenant(tenant string) bool {
	t := strings.ToLower(tenant)
	return t == "organizations" || t == "common"
}

var tenantIDRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// CheckEntraTenant says what is wrong with a tenant value, "" if nothing:
// a tenant id (a GUID; a domain name would discover an issuer in the
// GUID's form, which then does not match), "organizations" or "common".
func CheckEntraTenant(tenant string) string {
	if tenantIDRE.MatchString(tenant) || EntraMultiTenant(tenant) {
		return ""
	}
	return "must be the tenant id (a GUID), organizations or common"
}

// Entra sets cfg up for Microsoft Entra ID (v2.0 endpoints):
//
//   - one tenant: discovery at login.microsoftonline.com/{tenant}/v2.0,
//     whose issuer the ID tokens carry;
//   - organizations or common: the discovery document names the issuer
//     template ".../{tenantid}/v2.0"; each ID token's iss must be the
//     template filled with the token's own tid, which Tenants may limit.
//
// tid becomes Identity.Tenant (the tid claim). The email claim counts as
// verified only with TrustEmail: Entra ID lets tenant administrators set
// any address on a user and asserts no email_verified, so an unchecked
// address would let one tenant's user take over another's account by
// email.
func Entra(cfg OIDCConfig, tenant string) (OIDCConfig, error) {
	if p := CheckEntraTenant(tenant); p != "" {
		return cfg, fmt.Errorf("federation: provider %s: tenant %q %s", cfg.ID, tenant, p)
	}
	if cfg.Issuer == "" {
		cfg.Issuer = entraAuthority + tenant + "/v2.0"
	}
	if EntraMultiTenant(tenant) && cfg.TenantIssuer == "" {
		cfg.TenantIssuer = entraTenantTemplate
	}
	cfg.TenantClaim = "tid"
	return cfg, nil
}

// Google sets cfg up for Google accounts: issuer accounts.google.com,
// the email as login (Google has no preferred_username), email_verified
// as Google asserts it; with HostedDomain, only that Workspace domain's
// accounts (the hd claim).
func Google(cfg OIDCConfig) OIDCConfig {
	if cfg.Issuer == "" {
		cfg.Issuer = googleIssuer
	}
	if cfg.Claims.Login == "" {
		cfg.Claims.Login = "email"
	}
	return cfg
}
