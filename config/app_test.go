package config

import "testing"

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
