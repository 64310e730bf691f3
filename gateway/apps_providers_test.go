package gateway

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/erpgate/erpgate/config"
)

// withProviders adds identity_providers with the given ids to the
// config: LDAP directories, which nothing dials until someone signs in.
func withProviders(ids ...string) func(string) string {
	return func(yml string) string {
		yml = withAdminScope(yml) + "\nidentity_providers:\n"
		for _, id := range ids {
			yml += fmt.Sprintf("  - {id: %s, type: ldap, url: \"ldaps://127.0.0.1:636\", user_base: \"dc=example\"}\n", id)
		}
		return yml
	}
}

// problemsOf is the problems list of a refused admin call.
func problemsOf(body map[string]any) []string {
	var out []string
	ps, _ := body["problems"].([]any)
	for _, p := range ps {
		s, _ := p.(string)
		out = append(out, s)
	}
	return out
}

// idsOf is a JSON list of strings.
func idsOf(v any) []string {
	var out []string
	list, ok := v.([]any)
	if !ok {
		return []string{"<not a list>"}
	}
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// TestAdminAppIdentityProviders: an app created at run time chooses the
// identity providers its login page offers and whether it takes local
// passwords (SPEC §10), by the config file's rules: ids the file names,
// no app nobody can sign in to. The API shows both, the directory the
// login page reads has them, an edit that does not name them keeps
// them, and a reload changes which ids are accepted.
func TestAdminAppIdentityProviders(t *testing.T) {
	_, g, cfgPath := startWithEditedConfig(t, withProviders("corp-ad", "entra"))
	admin := mint(t, g, "admin", "sid-admin", true, "sec")
	const uri = "com.example/federated"
	path := "/admin/apps/" + url.PathEscape(uri)
	app := func(extra map[string]any) map[string]any {
		m := map[string]any{"type": "public", "scope": "read", "redirect_uris": []string{"https://app.example/cb"}}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}

	// Created with both providers, in the order given, and no passwords.
	code, body := adminDo(t, g, "POST", "/admin/apps", admin, app(map[string]any{
		"uri": uri, "identity_providers": []string{"entra", "corp-ad"}, "local_passwords": false,
	}))
	if code != 201 || !slices.Equal(idsOf(body["identity_providers"]), []string{"entra", "corp-ad"}) || body["local_passwords"] != false {
		t.Fatalf("create with providers: %d %v", code, body)
	}
	d := g.directory.App(uri)
	if d == nil || !slices.Equal(d.IdentityProviders, []string{"entra", "corp-ad"}) || !d.NoLocalPasswords {
		t.Fatalf("directory after create: %+v", d)
	}

	// Omitted: no providers, local passwords (as in the file).
	code, body = adminDo(t, g, "POST", "/admin/apps", admin, app(map[string]any{"uri": "com.example/plain"}))
	if code != 201 || len(idsOf(body["identity_providers"])) != 0 || body["local_passwords"] != true {
		t.Fatalf("create without: %d %v, want identity_providers [] and local_passwords true", code, body)
	}
	if d := g.directory.App("com.example/plain"); d == nil || d.NoLocalPasswords || len(d.IdentityProviders) != 0 {
		t.Fatalf("directory of the plain app: %+v", d)
	}

	// Refused by the file's rules, each problem naming its key.
	for _, tc := range []struct {
		name string
		in   map[string]any
		want string
	}{
		{"unknown id", map[string]any{"identity_providers": []string{"corp-ad", "okta"}},
			`app.identity_providers[1]: no identity_providers entry has id "okta"`},
		{"duplicate id", map[string]any{"identity_providers": []string{"entra", "entra"}},
			`app.identity_providers[1]: duplicate "entra"`},
		{"no way in", map[string]any{"local_passwords": false}, "app.local_passwords: false needs identity_providers"},
	} {
		tc.in["uri"] = "com.example/refused"
		code, body := adminDo(t, g, "POST", "/admin/apps", admin, app(tc.in))
		if probs := problemsOf(body); code != 400 || len(probs) != 1 || !strings.HasPrefix(probs[0], tc.want) {
			t.Errorf("create, %s: %d %v, want 400 %q", tc.name, code, body, tc.want)
		}
	}
	if g.directory.App("com.example/refused") != nil {
		t.Fatal("a refused app reached the directory")
	}

	// An edit that does not name them keeps them.
	if code, body := adminDo(t, g, "PATCH", path, admin, map[string]any{"scope": "read update"}); code != 200 ||
		!slices.Equal(idsOf(body["identity_providers"]), []string{"entra", "corp-ad"}) || body["local_passwords"] != false {
		t.Fatalf("edit of the scope: %d %v, want the providers kept", code, body)
	}
	// Taking every provider away from an app without passwords is
	// refused; so is an unknown id.
	for _, tc := range []struct {
		name string
		ch   map[string]any
		want string
	}{
		{"no way in", map[string]any{"identity_providers": []string{}}, "app.local_passwords: "},
		{"unknown id", map[string]any{"identity_providers": []string{"okta"}}, "app.identity_providers[0]: "},
	} {
		code, body := adminDo(t, g, "PATCH", path, admin, tc.ch)
		if probs := problemsOf(body); code != 400 || len(probs) != 1 || !strings.HasPrefix(probs[0], tc.want) {
			t.Errorf("edit, %s: %d %v, want 400 %s…", tc.name, code, body, tc.want)
		}
	}
	code, body = adminDo(t, g, "PATCH", path, admin, map[string]any{"identity_providers": []string{"corp-ad"}, "local_passwords": true})
	if code != 200 || !slices.Equal(idsOf(body["identity_providers"]), []string{"corp-ad"}) || body["local_passwords"] != true {
		t.Fatalf("edit of both: %d %v", code, body)
	}
	if d := g.directory.App(uri); d == nil || !slices.Equal(d.IdentityProviders, []string{"corp-ad"}) || d.NoLocalPasswords || !d.Grants("update") {
		t.Fatalf("directory after the edit: %+v", d)
	}
	// Read back as listed.
	_, body = adminDo(t, g, "GET", "/admin/apps", admin, nil)
	listed := map[string]map[string]any{}
	for _, a := range body["apps"].([]any) {
		a := a.(map[string]any)
		listed[a["uri"].(string)] = a
	}
	if a := listed[uri]; a == nil || !slices.Equal(idsOf(a["identity_providers"]), []string{"corp-ad"}) || a["local_passwords"] != true {
		t.Errorf("listed: %v", a)
	}
	if a := listed["com.example/nightly-sync"]; a == nil || len(idsOf(a["identity_providers"])) != 0 || a["local_passwords"] != true {
		t.Errorf("listed config app: %v, want identity_providers [] and local_passwords true", a)
	}

	// A reload that renames corp-ad: the new id is accepted at once, the
	// old one no longer, and the app naming it must be edited away from
	// it before anything else about it changes.
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	f, err := config.Parse([]byte(strings.Replace(string(raw), "{id: corp-ad,", "{id: ad,", 1)), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(context.Background(), f); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if code, body := adminDo(t, g, "PATCH", path, admin, map[string]any{"name": "Renamed"}); code != 400 ||
		!slices.Equal(problemsOf(body), []string{`app.identity_providers[0]: no identity_providers entry has id "corp-ad"`}) {
		t.Errorf("edit after the provider's rename: %d %v, want 400 naming corp-ad", code, body)
	}
	if code, body := adminDo(t, g, "PATCH", path, admin, map[string]any{"identity_providers": []string{"ad"}}); code != 200 ||
		!slices.Equal(idsOf(body["identity_providers"]), []string{"ad"}) {
		t.Errorf("edit to the new id after the reload: %d %v", code, body)
	}
}
