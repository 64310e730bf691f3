package issuer

import (
	"html"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/federation"
	"github.com/erpgate/erpgate/internal/testldap"
)

// enrolAtSecondStep enrols on a second-step page, goes on through the
// recovery codes and returns the answer to the app.
func enrolAtSecondStep(t *testing.T, ts *testServer, b *browser, page string) *http.Response {
	t.Helper()
	resp, page := b.submitCode(page, totpCode(t, pageSecret(t, page), *ts.now))
	next := nextOnPage.FindStringSubmatch(page)
	if resp.StatusCode != 200 || next == nil {
		t.Fatalf("enrolment: %d\n%s", resp.StatusCode, page)
	}
	pageRecovery(t, page)
	resp, _ = b.get(ts.URL + html.UnescapeString(next[1]))
	return resp
}

// A sign-in through an OpenID provider ends where a password's does:
// an app with mfa: required asks for the second step (the provider
// asserted one factor only).
func TestMFAFederatedSignIn(t *testing.T) {
	fs := newFedServer(t, "", func(tc *testConfig, _ *Provider) { requireMFAApp(tc.Apps) })
	b := newBrowser(t, fs.testServer)
	p := newPKCE()
	resp, _ := fs.signIn(t, b, authzQuery(webID, webRedirect, "openid read", p), "sub-ann")
	page := b.secondStep(resp)
	resp = enrolAtSecondStep(t, fs.testServer, b, page)
	at := fs.accessClaims(t, finishAuthorization(t, fs.testServer, resp, p).body["access_token"].(string))
	if at.Subject != "ann" || at.IdentityProvider != "corp" || at.ACR != "mfa" || !slices.Equal(at.AuthMethods, []string{"pwd", "otp", "mfa"}) {
		t.Errorf("federated second step: sub %q idp %q acr %q amr %v", at.Subject, at.IdentityProvider, at.ACR, at.AuthMethods)
	}
}

// A provider that asserted multi-factor passes for two factors.
func TestMFAProviderAsserted(t *testing.T) {
	for _, tt := range []struct {
		amr  []string
		want bool
	}{
		{[]string{"mfa"}, true}, {[]string{"pwd", "otp"}, true}, {[]string{"hwk", "pin"}, true},
		{[]string{"pwd"}, false}, {[]string{"otp"}, false}, {nil, false},
	} {
		if got := providerMFA(tt.amr); got != tt.want {
			t.Errorf("providerMFA(%v) = %v, want %v", tt.amr, got, tt.want)
		}
	}
}

// An LDAP bind is a first factor like any other.
func TestMFADirectorySignIn(t *testing.T) {
	dir := testldap.Start(t, testldap.Options{
		Users: []testldap.User{{UID: "dana", Name: "Dana Directory", Email: "dana@example.com", Password: "dana-pw"}},
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
				tc.Apps[i].MFARequired = true
			}
		}
		tc.FederatedLinks = tc.store
		tc.FederatedUsers = fedUsers{st: tc.store, dir: tc.Directory.(*directory.Table)}
		tc.Providers = []Provider{{ID: "corp-ad", Name: "Corp AD", Password: ldap, Rules: federation.Rules{InternalDomains: []string{"example.com"}}}}
	})
	b := newBrowser(t, ts)
	p := newPKCE()
	page := b.secondStep(b.passwordStep(authzQuery(webID, webRedirect, "openid read", p), "dana", "dana-pw"))
	resp := enrolAtSecondStep(t, ts, b, page)
	at := ts.accessClaims(t, finishAuthorization(t, ts, resp, p).body["access_token"].(string))
	if at.Subject != "dana" || at.IdentityProvider != "corp-ad" || at.ACR != "mfa" || !slices.Equal(at.AuthMethods, []string{"pwd", "otp", "mfa"}) {
		t.Errorf("directory second step: sub %q idp %q acr %q amr %v", at.Subject, at.IdentityProvider, at.ACR, at.AuthMethods)
	}
}
