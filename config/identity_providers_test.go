package config

import (
	"errors"
	"strings"
	"testing"
)

const providersYAML = `
identity_providers:
  - {id: entra, type: oidc, preset: entra, tenant: organizations, tenants: [72f988bf-86f1-41af-91ab-2d7cd011db47],
     client_id: erp-app, client_secret: "${ENTRA_SECRET}", domains: [example.com], end_session: true,
     users: {internal_domains: [example.com], others: community, link_existing: by_verified_email}}
  - {id: google, type: oidc, preset: google, name: Google, client_id: g, hosted_domain: example.org}
  - {id: corp, type: oidc, issuer: "http://127.0.0.1:5556/dex", client_id: c, claims: {login: email}}
  - {id: corp-ad, type: ldap, url: "ldaps://dc.example.com", user_base: "dc=example,dc=com", bind_dn: "cn=svc", bind_password: pw,
     users: {admin_groups: [erp-admins]}}
apps:
  - {uri: urn:web, secret_hash: 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=, redirect_uris: ["https://web.example/cb"],
     identity_providers: [entra, corp-ad], local_passwords: false}
  - {uri: urn:other, secret_hash: 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=}
`

func TestIdentityProviders(t *testing.T) {
	f, err := Parse([]byte(providersYAML), func(k string) (string, bool) { return "s3cret", k == "ENTRA_SECRET" })
	if err != nil {
		t.Fatal(err)
	}
	entra, google, corp, ad := f.IdentityProviders[0], f.IdentityProviders[1], f.IdentityProviders[2], f.IdentityProviders[3]
	if entra.ClientSecret != "s3cret" || entra.Label() != "entra" || strings.Join(entra.Scopes, " ") != "openid profile email" ||
		entra.Users.Others != "community" || entra.CallbackPath() != "/id/account/callback/entra" {
		t.Errorf("entra = %+v", entra)
	}
	if google.Label() != "Google" || google.Users.Others != "refuse" || google.Users.LinkExisting != "never" {
		t.Errorf("google = %+v", google)
	}
	if corp.Claims.Login != "email" {
		t.Errorf("corp = %+v", corp)
	}
	if ad.UserFilter != DefaultLDAPUserFilter || ad.GroupFilter != DefaultLDAPGroupFilter || ad.Timeout != DefaultLDAPTimeout {
		t.Errorf("ldap defaults = %+v", ad)
	}
	web, err := f.Apps[0].Record()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(web.IdentityProviders, ",") != "entra,corp-ad" || !web.NoLocalPasswords {
		t.Errorf("web = %+v", web)
	}
	other, _ := f.Apps[1].Record()
	if other.NoLocalPasswords || len(other.IdentityProviders) != 0 {
		t.Errorf("app without providers = %+v, want local passwords", other)
	}
}

func TestIdentityProviderErrors(t *testing.T) {
	app := func(extra string) string {
		return "apps: [{uri: urn:a, secret_hash: 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=, " + extra + "}]\n"
	}
	for _, tc := range []struct{ name, yaml, path, msg string }{
		{"no id", "identity_providers: [{type: oidc, issuer: \"https://op.example\", client_id: c}]", "identity_providers[0].id", "required"},
		{"bad id", "identity_providers: [{id: Entra, type: oidc, issuer: \"https://op.example\", client_id: c}]", "identity_providers[0].id", "lowercase"},
		{"duplicate id", "identity_providers: [{id: a, type: oidc, issuer: \"https://op.example\", client_id: c}, {id: a, type: oidc, issuer: \"https://op.example\", client_id: c}]",
			"identity_providers[1].id", `duplicate provider id "a"`},
		{"no type", "identity_providers: [{id: a}]", "identity_providers[0].type", "required"},
		{"bad type", "identity_providers: [{id: a, type: saml}]", "identity_providers[0].type", "must be oidc or ldap"},
		{"generic without issuer", "identity_providers: [{id: a, type: oidc, client_id: c}]", "identity_providers[0].issuer", "required"},
		{"http issuer", "identity_providers: [{id: a, type: oidc, issuer: \"http://op.example\", client_id: c}]", "identity_providers[0].issuer", "must be https"},
		{"no client id", "identity_providers: [{id: a, type: oidc, issuer: \"https://op.example\"}]", "identity_providers[0].client_id", "required"},
		{"no openid scope", "identity_providers: [{id: a, type: oidc, issuer: \"https://op.example\", client_id: c, scopes: [profile]}]", "identity_providers[0].scopes", "must include openid"},
		{"bad preset", "identity_providers: [{id: a, type: oidc, preset: okta, client_id: c}]", "identity_providers[0].preset", "must be entra or google"},
		{"entra without tenant", "identity_providers: [{id: a, type: oidc, preset: entra, client_id: c}]", "identity_providers[0].tenant", "required"},
		{"entra tenant as domain", "identity_providers: [{id: a, type: oidc, preset: entra, tenant: contoso.com, client_id: c}]", "identity_providers[0].tenant", "GUID"},
		{"tenants for one tenant", "identity_providers: [{id: a, type: oidc, preset: entra, tenant: 72f988bf-86f1-41af-91ab-2d7cd011db47, tenants: [72f988bf-86f1-41af-91ab-2d7cd011db47], client_id: c}]",
			"identity_providers[0].tenants", "multi-tenant"},
		{"hosted domain outside google", "identity_providers: [{id: a, type: oidc, issuer: \"https://op.example\", client_id: c, hosted_domain: x.com}]", "identity_providers[0].hosted_domain", "only for preset: google"},
		{"ldap keys on oidc", "identity_providers: [{id: a, type: oidc, issuer: \"https://op.example\", client_id: c, url: \"ldap://x\"}]", "identity_providers[0]", "for type: ldap"},
		{"ldap without url", "identity_providers: [{id: a, type: ldap, user_base: dc=x}]", "identity_providers[0].url", "required"},
		{"ldap bad url", "identity_providers: [{id: a, type: ldap, url: \"https://dc\", user_base: dc=x}]", "identity_providers[0].url", "ldap://host"},
		{"ldap starttls on ldaps", "identity_providers: [{id: a, type: ldap, url: \"ldaps://dc\", start_tls: true, user_base: dc=x}]", "identity_providers[0].start_tls", "already TLS"},
		{"ldap in clear", "identity_providers: [{id: a, type: ldap, url: \"ldap://dc.example.com\", user_base: dc=x}]", "identity_providers[0].url", "in clear"},
		{"ldap filter", "identity_providers: [{id: a, type: ldap, url: \"ldap://dc\", user_base: dc=x, user_filter: \"(uid=x)\"}]", "identity_providers[0].user_filter", "{login}"},
		{"ldap zero timeout", "identity_providers: [{id: a, type: ldap, url: \"ldap://dc\", user_base: dc=x, timeout: 0s}]", "identity_providers[0].timeout", "positive"},
		{"ldap bind without password", "identity_providers: [{id: a, type: ldap, url: \"ldap://dc\", user_base: dc=x, bind_dn: cn=svc}]", "identity_providers[0].bind_password", "required"},
		{"oidc keys on ldap", "identity_providers: [{id: a, type: ldap, url: \"ldap://dc\", user_base: dc=x, client_id: c}]", "identity_providers[0]", "for type: oidc"},
		{"domain twice", "identity_providers: [{id: a, type: oidc, issuer: \"https://op.example\", client_id: c, domains: [x.com]}, {id: b, type: oidc, issuer: \"https://op.example\", client_id: c, domains: [X.com]}]",
			"identity_providers[1].domains[0]", "listed by provider a"},
		{"bad others", "identity_providers: [{id: a, type: oidc, issuer: \"https://op.example\", client_id: c, users: {others: internal}}]", "identity_providers[0].users.others", "must be one of"},
		{"bad link", "identity_providers: [{id: a, type: oidc, issuer: \"https://op.example\", client_id: c, users: {link_existing: always}}]", "identity_providers[0].users.link_existing", "must be one of"},
		{"app names an unknown provider", app("identity_providers: [nope]"), "apps[0].identity_providers[0]", `no identity_providers entry has id "nope"`},
		{"app without any way in", app("local_passwords: false"), "apps[0].local_passwords", "needs identity_providers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), nil)
			var probs Problems
			if !errors.As(err, &probs) {
				t.Fatalf("Parse: %v, want problems", err)
			}
			for _, p := range probs {
				if p.Path == tc.path && strings.Contains(p.Message, tc.msg) {
					return
				}
			}
			t.Errorf("problems %v, want %s: %q", probs, tc.path, tc.msg)
		})
	}
}
