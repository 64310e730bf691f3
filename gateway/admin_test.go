package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/erpgate/erpgate/sampleapi"
)

// The admin API (SPEC §7) through the real wiring: its authentication,
// sessions and license, and run-time apps and reference tokens.

// TestAdminAPIWiring: /admin/ on the admin listener needs a token with
// sec from an administrator; ending a session there refuses its tokens.
func TestAdminAPIWiring(t *testing.T) {
	front, g, _ := startWithEditedConfig(t, withAdminScope)
	admin := httptest.NewServer(g.admin)
	defer admin.Close()

	alice := mint(t, g, "alice", "sid-api-alice", false, "read")
	if code, body := call(t, "GET", front.URL+sampleapi.PersonsPath, alice); code != 200 {
		t.Fatalf("alice: %d %s", code, body)
	}
	resp, err := http.Get(admin.URL + "/admin/sessions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="erpgate"` {
		t.Fatalf("GET /admin/sessions without a token: %d", resp.StatusCode)
	}
	if code, _ := call(t, "GET", admin.URL+"/admin/sessions", mint(t, g, "alice", "sid-x", false, "sec")); code != 403 {
		t.Errorf("non-admin with sec: %d, want 403", code)
	}

	adminTok := mint(t, g, "admin", "sid-api-admin", true, "sec")
	code, body := call(t, "GET", admin.URL+"/admin/license", adminTok)
	var lic struct{ Used, Total, Reserved, Free int }
	if err := json.Unmarshal([]byte(body), &lic); code != 200 || err != nil || lic.Used != 1 || lic.Total != 10 || lic.Reserved != 1 || lic.Free != 9 {
		t.Fatalf("GET /admin/license: %d %s", code, body)
	}
	if code, body := call(t, "DELETE", admin.URL+"/admin/sessions/sid-api-alice", adminTok); code != 200 {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if code, _ := call(t, "GET", front.URL+sampleapi.PersonsPath, alice); code != 401 {
		t.Fatalf("alice after the admin ended her session: %d, want 401", code)
	}
}

// TestAdminAppsAndTokens: an administrator creates an app (its secret
// shown once), which can then get tokens; disables it, and it cannot;
// issues and revokes a reference token through the API.
func TestAdminAppsAndTokens(t *testing.T) {
	front, g, _ := startWithEditedConfig(t, func(yml string) string { return withAdminScope(allowRefTokens(yml)) })
	admin := mint(t, g, "admin", "sid-admin", true, "sec")
	code, body := adminDo(t, g, "POST", "/admin/apps", admin, map[string]any{
		"uri": "com.example/new-sync", "name": "New sync", "system_user": "svc-sync", "scope": "read",
		"reference_tokens": "administrators_only",
	})
	secret, _ := body["client_secret"].(string)
	if code != 201 || secret == "" || body["source"] != "store" {
		t.Fatalf("create app: %d %v", code, body)
	}
	token := func() int {
		resp, err := http.PostForm(front.URL+"/id/connect/token", url.Values{"grant_type": {"client_credentials"},
			"client_id": {"com.example/new-sync"}, "client_secret": {secret}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := token(); c != 200 {
		t.Fatalf("token for the new app: %d", c)
	}
	if code, body := adminDo(t, g, "POST", "/admin/apps", admin, map[string]any{"uri": "com.example/new-sync", "scope": "read"}); code != 409 {
		t.Fatalf("duplicate app: %d %v", code, body)
	}
	if code, body := adminDo(t, g, "POST", "/admin/apps", admin, map[string]any{"uri": "x", "scope": "read nope", "redirect_uris": []string{"http://evil.example/cb"}}); code != 400 || len(body["problems"].([]any)) != 2 {
		t.Fatalf("invalid app: %d %v", code, body)
	}
	if code, _ := adminDo(t, g, "POST", "/admin/apps/"+url.PathEscape("com.example/nightly-sync")+"/disable", admin, nil); code != 409 {
		t.Fatalf("disable a config app: %d, want 409", code)
	}
	code, body = adminDo(t, g, "POST", "/admin/apps/"+url.PathEscape("com.example/new-sync")+"/secret", admin, nil)
	if code != 200 || body["client_secret"] == secret {
		t.Fatalf("rotate secret: %d %v", code, body)
	}
	if c := token(); c != 401 {
		t.Fatalf("old secret after rotation: %d, want 401", c)
	}
	secret = body["client_secret"].(string)
	if c := token(); c != 200 {
		t.Fatalf("new secret: %d", c)
	}

	code, body = adminDo(t, g, "POST", "/admin/tokens", admin, map[string]any{"type": "sat", "app": "com.example/new-sync", "expires_in": "1h",
		"name": "Sync job", "description": "runs at night"})
	value, _ := body["token"].(string)
	if code != 201 || !strings.HasPrefix(value, "enrt_") || body["name"] != "Sync job" || body["description"] != "runs at night" {
		t.Fatalf("issue token: %d %v", code, body)
	}
	if code, body := adminDo(t, g, "POST", "/admin/tokens", admin, map[string]any{"type": "sat", "app": "com.example/new-sync", "expires_in": "1h",
		"name": strings.Repeat("n", 65)}); code != 400 {
		t.Fatalf("issue a token with a 65-character name: %d %v, want 400", code, body)
	}
	persons := front.URL + "/api/domain/odata/General_Contacts_Persons"
	if c := getWith(t, persons, "X-Api-Key", value); c != 200 {
		t.Fatalf("SAT via the API: %d", c)
	}
	code, body = adminDo(t, g, "GET", "/admin/tokens", admin, nil)
	if raw, _ := json.Marshal(body); code != 200 || strings.Contains(string(raw), value) {
		t.Fatalf("list tokens: %d (value must not be listed)", code)
	}
	if listed := body["tokens"].([]any)[0].(map[string]any); listed["name"] != "Sync job" || listed["description"] != "runs at night" {
		t.Errorf("listed token: %v, want its name and description", listed)
	}
	if code, _ := adminDo(t, g, "DELETE", "/admin/tokens/"+body["tokens"].([]any)[0].(map[string]any)["id"].(string), admin, nil); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if c := getWith(t, persons, "X-Api-Key", value); c != 401 {
		t.Fatalf("revoked token (same process): %d, want 401 at once", c)
	}
	if code, _ := adminDo(t, g, "POST", "/admin/apps/"+url.PathEscape("com.example/new-sync")+"/disable", admin, nil); code != 200 {
		t.Fatalf("disable: %d", code)
	}
	if c := token(); c != 401 {
		t.Fatalf("token for a disabled app: %d, want 401", c)
	}
}

// TestAdminAppConsent: an app created through the admin API keeps
// consent: required (SPEC §3) in the store: the API shows it, and the
// directory, which the authorization endpoint reads, has it; the
// default stays implicit.
func TestAdminAppConsent(t *testing.T) {
	_, g, _ := startWithEditedConfig(t, withAdminScope)
	admin := mint(t, g, "admin", "sid-admin", true, "sec")
	for _, tc := range []struct {
		uri, consent, want string
	}{
		{"com.example/asks", "required", "required"},
		{"com.example/implicit", "implicit", "implicit"},
		{"com.example/default", "", "implicit"},
	} {
		in := map[string]any{"uri": tc.uri, "type": "public", "scope": "read", "redirect_uris": []string{"https://app.example/cb"}}
		if tc.consent != "" {
			in["consent"] = tc.consent
		}
		code, body := adminDo(t, g, "POST", "/admin/apps", admin, in)
		if code != 201 || body["consent"] != tc.want {
			t.Fatalf("create %s with consent %q: %d %v, want consent %q", tc.uri, tc.consent, code, body, tc.want)
		}
		stored, err := g.store.App(context.Background(), tc.uri)
		if err != nil || stored.ConsentRequired != (tc.want == "required") {
			t.Errorf("stored %s: ConsentRequired %v (%v), want %v", tc.uri, stored.ConsentRequired, err, tc.want == "required")
		}
		if a := g.directory.App(tc.uri); a == nil || a.ConsentRequired != (tc.want == "required") {
			t.Errorf("directory's %s: %+v, want ConsentRequired %v", tc.uri, a, tc.want == "required")
		}
	}
	code, body := adminDo(t, g, "GET", "/admin/apps", admin, nil)
	if code != 200 {
		t.Fatalf("list apps: %d", code)
	}
	for _, a := range body["apps"].([]any) {
		if m := a.(map[string]any); m["uri"] == "com.example/asks" && m["consent"] != "required" {
			t.Errorf("listed com.example/asks: %v, want consent required", m)
		}
	}
	if code, body := adminDo(t, g, "POST", "/admin/apps", admin, map[string]any{"uri": "com.example/bad", "type": "public", "scope": "read",
		"redirect_uris": []string{"https://app.example/cb"}, "consent": "sometimes"}); code != 400 {
		t.Errorf("consent: sometimes: %d %v, want 400", code, body)
	}
}
