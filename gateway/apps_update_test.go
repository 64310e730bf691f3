package gateway

import (
	"net/url"
	"testing"
)

// TestAdminAppUpdate: PATCH /admin/apps/{uri} edits a run-time app by
// the rules of creation, keeps what it does not name (the kill switch,
// the secret), takes effect in the directory at once, and refuses config
// apps and invalid edits.
func TestAdminAppUpdate(t *testing.T) {
	_, g, _ := startWithEditedConfig(t, withAdminScope)
	admin := mint(t, g, "admin", "sid-admin", true, "sec")
	const uri = "com.example/editable"
	path := "/admin/apps/" + url.PathEscape(uri)
	if code, body := adminDo(t, g, "POST", "/admin/apps", admin, map[string]any{
		"uri": uri, "name": "Editable", "type": "public", "scope": "read", "redirect_uris": []string{"https://app.example/cb"},
	}); code != 201 {
		t.Fatalf("create: %d %v", code, body)
	}
	if code, _ := adminDo(t, g, "POST", path+"/disable", admin, nil); code != 200 {
		t.Fatalf("disable: %d", code)
	}
	code, body := adminDo(t, g, "PATCH", path, admin, map[string]any{
		"scope": "read update", "redirect_uris": []string{"https://app.example/cb", "https://app.example/cb2"},
		"allow_community_users": true, "consent": "required",
	})
	if code != 200 || body["scope"] != "read update" || len(body["redirect_uris"].([]any)) != 2 || body["consent"] != "required" ||
		body["allow_community_users"] != true || body["name"] != "Editable" || body["enabled"] != false {
		t.Fatalf("PATCH: %d %v", code, body)
	}
	d := g.directory.App(uri)
	if d == nil || !d.Grants("update") || !d.ConsentRequired || !d.AllowCommunityUsers || d.Enabled || !d.AllowInternalUsers {
		t.Fatalf("directory after PATCH: %+v", d)
	}
	for _, tc := range []struct {
		name, path string
		body       map[string]any
		want       int
	}{
		{"bad scope", path, map[string]any{"scope": "read nope"}, 400},
		{"bad redirect", path, map[string]any{"redirect_uris": []string{"http://evil.example/cb"}}, 400},
		{"bad policy", path, map[string]any{"reference_tokens": "everyone"}, 400},
		{"unknown key", path, map[string]any{"uri": "other"}, 400},
		{"config app", "/admin/apps/" + url.PathEscape("com.example/nightly-sync"), map[string]any{"scope": "read"}, 409},
		{"no such app", "/admin/apps/" + url.PathEscape("com.example/none"), map[string]any{"scope": "read"}, 404},
	} {
		if code, body := adminDo(t, g, "PATCH", tc.path, admin, tc.body); code != tc.want {
			t.Errorf("%s: %d %v, want %d", tc.name, code, body, tc.want)
		}
	}
	if d := g.directory.App(uri); d == nil || !d.Grants("update") {
		t.Errorf("a refused edit changed the app: %+v", d)
	}
}

// TestAdminAppDPoP: a run-time app keeps apps[].dpop through create,
// edits that do not name it, and an edit that does (RFC 9449); a bad
// value is refused.
func TestAdminAppDPoP(t *testing.T) {
	_, g, _ := startWithEditedConfig(t, withAdminScope)
	admin := mint(t, g, "admin", "sid-admin", true, "sec")
	const uri = "com.example/bound"
	path := "/admin/apps/" + url.PathEscape(uri)
	if code, body := adminDo(t, g, "POST", "/admin/apps", admin, map[string]any{
		"uri": uri, "type": "public", "scope": "read", "redirect_uris": []string{"https://app.example/cb"}, "dpop": "required",
	}); code != 201 || body["dpop"] != "required" {
		t.Fatalf("create: %d %v", code, body)
	}
	if code, body := adminDo(t, g, "PATCH", path, admin, map[string]any{"scope": "read update"}); code != 200 || body["dpop"] != "required" {
		t.Fatalf("an edit of the scope: %d %v, want dpop kept", code, body)
	}
	if d := g.directory.App(uri); d == nil || !d.DPoPRequired {
		t.Fatalf("directory: %+v", d)
	}
	if code, body := adminDo(t, g, "PATCH", path, admin, map[string]any{"dpop": "sometimes"}); code != 400 {
		t.Errorf("dpop sometimes: %d %v, want 400", code, body)
	}
	if code, body := adminDo(t, g, "PATCH", path, admin, map[string]any{"dpop": "optional"}); code != 200 || body["dpop"] != "optional" {
		t.Fatalf("dpop optional: %d %v", code, body)
	}
	if d := g.directory.App(uri); d == nil || d.DPoPRequired {
		t.Errorf("directory after optional: %+v", d)
	}
}
