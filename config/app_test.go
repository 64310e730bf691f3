package config

import (
	"strings"
	"testing"
)

func TestCheckApp(t *testing.T) {
	f := &File{Users: []User{{Login: "svc", Type: UserSystem}, {Login: "alice", Type: UserInternal}}}
	good := App{URI: "com.example/new", SecretHash: "zVd/4lYev/I1BdsLsAYwDHzey9RrwOA8RJr6+sosJb8=", SystemUser: "svc", Scope: "read",
		RedirectURIs: []string{"https://app.example.com/cb"}}
	if p := CheckApp(f, &good); len(p) != 0 {
		t.Fatalf("valid app: %v", p)
	}
	if good.Type != AppConfidential || !good.IsEnabled() || !good.PKCERequired() {
		t.Fatalf("defaults not applied: %+v", good)
	}
	bad := App{URI: "com.example/bad", Type: AppPublic, SecretHash: "x", SystemUser: "alice", Scope: "read admin",
		RedirectURIs: []string{"http://evil.example.com/cb", "https://a.example.com/*"}, DPoP: "sometimes",
		BackchannelLogoutURI: "http://rp.example.com/logout"}
	p := CheckApp(f, &bad)
	want := []string{"app.secret_hash", "app.system_user", "app.scope", "app.redirect_uris[0]", "app.redirect_uris[1]",
		"app.dpop", "app.backchannel_logout_uri"}
	if len(p) != len(want) {
		t.Fatalf("problems = %v, want paths %v", p, want)
	}
	for i, w := range want {
		if p[i].Path != w {
			t.Errorf("problem %d at %s, want %s (%v)", i, p[i].Path, w, p)
		}
	}
}

// TestCheckAppProviders: an app created at run time names the file's
// identity providers by the config file's rules (appProviders), and
// checking it leaves the file's providers as they were.
func TestCheckAppProviders(t *testing.T) {
	f := &File{IdentityProviders: []IdentityProvider{
		{ID: "entra", Type: ProviderOIDC, Preset: "entra", Tenant: "organizations", ClientID: "c"},
		{ID: "corp-ad", Type: ProviderLDAP, URL: "ldaps://dc.example:636", UserBase: "dc=example", Timeout: Duration(2e9)},
	}}
	no := false
	for _, tc := range []struct {
		name string
		app  App
		want map[string]string // path -> a word of the message
	}{
		{"providers and local passwords", App{IdentityProviders: []string{"corp-ad", "entra"}}, nil},
		{"providers only", App{IdentityProviders: []string{"entra"}, LocalPasswords: &no}, nil},
		{"unknown id", App{IdentityProviders: []string{"entra", "okta"}},
			map[string]string{"app.identity_providers[1]": `"okta"`}},
		{"duplicate id", App{IdentityProviders: []string{"entra", "entra"}},
			map[string]string{"app.identity_providers[1]": "duplicate"}},
		{"no way in", App{LocalPasswords: &no},
			map[string]string{"app.local_passwords": "identity_providers"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.app
			a.URI, a.Type, a.Scope, a.RedirectURIs = "com.example/new", AppPublic, "read", []string{"https://app.example.com/cb"}
			got := map[string]string{}
			for _, p := range CheckApp(f, &a) {
				got[p.Path] = p.Message
			}
			if len(got) != len(tc.want) {
				t.Fatalf("problems = %v, want %v", got, tc.want)
			}
			for path, word := range tc.want {
				if !strings.Contains(got[path], word) {
					t.Errorf("%s: %q, want it to say %s", path, got[path], word)
				}
			}
			if tc.app.LocalPasswords == nil && (a.LocalPasswords == nil || !*a.LocalPasswords) {
				t.Errorf("local_passwords: want the default true applied, got %v", a.LocalPasswords)
			}
		})
	}
	if f.IdentityProviders[1].Timeout != Duration(2e9) || f.IdentityProviders[0].Scopes != nil {
		t.Errorf("CheckApp wrote into the file's providers: %+v", f.IdentityProviders)
	}
}
