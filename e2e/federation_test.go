package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/internal/testldap"
	"github.com/erpgate/erpgate/sampleapi"
)

// Federated sign-in against the built binary (issue 19): people sign in
// with the company's directory or OpenID provider — Debian's slapd and
// the npm oidc-provider, servers this project does not write — and call
// an ERP API through the gateway as the user the provider's rules made.

// withProviders adds identity_providers (YAML list items) to the config
// and lets the gateway's own app (browser login) offer ids.
func withProviders(t *testing.T, providers string, ids ...string) func(string) string {
	return func(cfg string) string {
		const app = "  - uri: erpgate                      # the gateway itself: browser login (gateway:)\n"
		i := strings.Index(cfg, app)
		if i < 0 {
			t.Fatal("config.example.yaml has no erpgate app entry; update e2e/federation_test.go")
		}
		cfg = cfg[:i+len(app)] + "    identity_providers: [" + strings.Join(ids, ", ") + "]\n" + cfg[i+len(app):]
		return cfg + "\nidentity_providers:\n" + providers
	}
}

// publicURL is the public_url the config text sets.
func publicURL(t *testing.T, cfg string) string {
	m := regexp.MustCompile(`(?m)^public_url: (\S+)`).FindStringSubmatch(cfg)
	if m == nil {
		t.Fatal("the config has no public_url")
	}
	return m[1]
}

// TestLDAPSignIn signs in at the gateway's login page with a directory
// account over StartTLS: the first sign-in creates the user by the
// provider's rules (a member of the admins group is an administrator),
// the API call through the gateway carries the mapped identity and idp,
// and a wrong password or an unknown login get the same page.
func TestLDAPSignIn(t *testing.T) {
	t.Parallel()
	dir := testldap.Start(t, testldap.Options{
		Users: []testldap.User{
			{UID: "ivan", Name: "Ivan Petrov", Email: "ivan@corp.example", Password: "ivan-ldap-pw"},
			{UID: "olga", Name: "Olga Admin", Email: "olga@corp.example", Password: "olga-ldap-pw"},
		},
		Groups: []testldap.Group{{CN: "staff", Members: []string{"ivan", "olga"}}, {CN: "erp-admins", Members: []string{"olga"}}},
	})
	providers := fmt.Sprintf(`  - id: corp-ad
    type: ldap
    name: Corporate account
    url: %s
    start_tls: true
    ca_file: %s
    bind_dn: %s
    bind_password: %s
    user_base: %s
    group_base: %s
    users:
      internal_groups: [staff]
      admin_groups: [erp-admins]
`, dir.URL(), dir.CAFile(), dir.BindDN(), dir.BindPassword(), testldap.PeopleDN, testldap.GroupsDN)
	g := startGateway(t, gatewayOptions{Edit: withProviders(t, providers, "corp-ad")})
	page := g.PublicURL + "/api/domain/html/ldap"

	// Wrong password and unknown login: the same answer.
	wrong := newHTTPBrowser(t)
	_, wrongBody := wrong.signIn(g, page, "ivan", "not-the-password")
	_, unknownBody := newHTTPBrowser(t).signIn(g, page, "nobody", "not-the-password")
	for name, body := range map[string]string{"wrong password": wrongBody, "unknown login": unknownBody} {
		if !strings.Contains(body, `id="error"`) || strings.Contains(body, `id="subject"`) {
			t.Errorf("%s: not refused on the login page:\n%s", name, body)
		}
	}
	if errorText(wrongBody) != errorText(unknownBody) {
		t.Errorf("wrong password says %q, unknown login %q: the page tells them apart", errorText(wrongBody), errorText(unknownBody))
	}

	b := newHTTPBrowser(t)
	resp, body := b.signIn(g, page, "olga", "olga-ldap-pw")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != page {
		t.Fatalf("sign-in with the directory's password: %d at %s, want %s:\n%s", resp.StatusCode, resp.Request.URL, page, body)
	}
	m := subjectRe.FindStringSubmatch(body)
	if m == nil || m[1] != "olga" {
		t.Fatalf("the page names %v, want olga:\n%s", m, body)
	}
	// The user the rules made: internal, an administrator.
	ops := g.token(t, adminCLIClient, adminCLISecret)
	r := adminCall(t, g, http.MethodGet, "/admin/users/olga", ops, "")
	var user struct {
		Type   string `json:"type"`
		Admin  bool   `json:"admin"`
		Source string `json:"source"`
	}
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &user) != nil || user.Type != "internal" || !user.Admin {
		t.Errorf("admin API on the user the first sign-in made: %s, want an internal administrator", r)
	}
	// Userinfo names the provider (idp); the API gets her as an
	// internal user.
	resp, body = b.do(http.MethodGet, g.PublicURL+"/oauth2/userinfo", nil)
	var ui map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &ui) != nil || ui["sub"] != "olga" || ui["idp"] != "corp-ad" {
		t.Errorf("userinfo: %d %s, want sub olga, idp corp-ad", resp.StatusCode, body)
	}
	resp, body = b.do(http.MethodGet, g.PublicURL+"/api/domain/odata/federation_echo", nil)
	echo, err := sampleapi.DecodeEcho(strings.NewReader(body))
	if resp.StatusCode != http.StatusOK || err != nil || echo.Auth.Subject != "olga" || echo.Auth.UserType != directory.ClaimInternalUser {
		t.Errorf("API call through the gateway: %d %v %+v", resp.StatusCode, err, echo.Auth)
	}
}

// errorText is the login page's error message.
func errorText(page string) string {
	m := regexp.MustCompile(`(?s)id="error"[^>]*>(.*?)</`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return strings.TrimSpace(m[1])
}
