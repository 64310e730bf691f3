package issuer

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/federation"
	"github.com/erpgate/erpgate/internal/testldap"
)

// TestDirectorySignIn: the password form of an app offering an LDAP
// provider checks the directory (slapd, internal/testldap) for logins
// that are not local users with a password; the first sign-in creates
// the user by the rules (an admin group here), and tokens say idp and
// amr pwd. Local users keep their local password.
func TestDirectorySignIn(t *testing.T) {
	dir := testldap.Start(t, testldap.Options{
		Users: []testldap.User{
			{UID: "dana", Name: "Dana Directory", Email: "dana@example.com", Password: "dana-pw"},
			{UID: "alice", Name: "Alice in LDAP", Email: "alice@example.com", Password: "ldap-alice-pw"},
		},
		Groups: []testldap.Group{{CN: "erp-admins", Members: []string{"dana"}}},
	})
	ldap, err := federation.NewLDAP(federation.LDAPConfig{
		ID: "corp-ad", URL: dir.URL(), StartTLS: true, RootCAs: dir.RootCAs(),
		BindDN: dir.BindDN(), BindPassword: dir.BindPassword(),
		UserBase: testldap.PeopleDN, GroupBase: testldap.GroupsDN, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, func(tc *testConfig) {
		for i := range tc.Apps {
			if tc.Apps[i].ID == webID {
				tc.Apps[i].IdentityProviders = []string{"corp-ad"}
			}
		}
		tc.FederatedLinks = tc.store
		tc.FederatedUsers = fedUsers{st: tc.store, dir: tc.Directory.(*directory.Table)}
		tc.Providers = []Provider{{ID: "corp-ad", Name: "Corp AD", Password: ldap,
			Rules: federation.Rules{AdminGroups: []string{"erp-admins"}}}}
	})
	// The page has the password form and no button for an LDAP provider.
	b := newBrowser(t, ts)
	resp, page := b.get(ts.issuer + "/account/login?" + authzQuery(webID, webRedirect, "openid read", newPKCE()).Encode())
	if resp.StatusCode != 200 || !strings.Contains(page, `id="password"`) || strings.Contains(page, `id="provider-`) {
		t.Fatalf("login page: %d\n%s", resp.StatusCode, page)
	}

	p := newPKCE()
	q := b.login(authzQuery(webID, webRedirect, "openid read", p), "dana", "dana-pw")
	tok := ts.exchange(t, webID, webSecret, codeForm(q.Get("code"), webRedirect, p.verifier))
	c := ts.accessClaims(t, tok.body["access_token"].(string))
	if c.Subject != "dana" || c.IdentityProvider != "corp-ad" || !slices.Equal(c.AuthMethods, []string{"pwd"}) || c.IsAdmin == nil || !*c.IsAdmin {
		t.Errorf("directory sign-in claims %+v", c)
	}
	if u := ts.directory.User("dana"); u == nil || u.Type != directory.TypeInternal || !u.Admin || u.PasswordHash != "" {
		t.Errorf("created user %+v", u)
	}

	// A wrong directory password: the same message as a wrong local one.
	f := formFields(page)
	f.Set("login", "dana")
	f.Set("password", "wrong")
	if r, page := b.post(ts.issuer+"/account/login", f); r.StatusCode != http.StatusOK || !strings.Contains(page, "Wrong login or password.") {
		t.Errorf("wrong directory password: %d", r.StatusCode)
	}
	// alice is a local user with a password: hers is checked here, the
	// directory's is not.
	pa := newPKCE()
	q = newBrowser(t, ts).login(authzQuery(webID, webRedirect, "openid read", pa), "alice", "alice-pw")
	tok = ts.exchange(t, webID, webSecret, codeForm(q.Get("code"), webRedirect, pa.verifier))
	if c := ts.accessClaims(t, tok.body["access_token"].(string)); c.Subject != "alice" || c.IdentityProvider != "" {
		t.Errorf("local user's claims %+v", c)
	}
	f.Set("login", "alice")
	f.Set("password", "ldap-alice-pw")
	if r, page := b.post(ts.issuer+"/account/login", f); r.StatusCode != http.StatusOK || !strings.Contains(page, "Wrong login or password.") {
		t.Errorf("the directory's password for a local user: %d, want the wrong-password page", r.StatusCode)
	}
}
