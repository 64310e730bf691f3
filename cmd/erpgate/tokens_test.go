package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

// allowRefTokens lets the sample service app have reference tokens and
// the admin scope.
func allowRefTokens(yml string) string {
	return strings.Replace(yml,
		"    system_user: svc-sync             # => client credentials allowed, acting as svc-sync\n    scope: read update\n",
		"    system_user: svc-sync\n    scope: read update sec\n    reference_tokens: authenticated_users\n", 1)
}

func getWith(t *testing.T, u string, hdr ...string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestTokensCLI: a SAT issued by the CLI works through the proxy in every
// accepted header, is listed without its value, and once revoked by the
// CLI is refused by the running gateway within two seconds.
func TestTokensCLI(t *testing.T) {
	front, g, cfg := startWithEditedConfig(t, allowRefTokens)
	code, out, errOut := runCmd(t, "tokens", "issue", "--config", cfg, "--type", "sat", "--app", "com.example/nightly-sync", "--scope", "read", "--expires", "1h",
		"--name", "Nightly export", "--description", "copies persons to the file server")
	if code != 0 {
		t.Fatalf("issue: %d %s", code, errOut)
	}
	value := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
	if !strings.HasPrefix(value, "enrt_") || len(value) != 69 {
		t.Fatalf("issued value %q", value)
	}
	persons := front.URL + "/api/domain/odata/General_Contacts_Persons"
	for _, h := range []string{"Authorization", "X-Api-Key", "Api-Key", "X-API-KEY"} {
		v := value
		if h == "Authorization" {
			v = "Bearer " + value
		}
		if c := getWith(t, persons, h, v); c != 200 {
			t.Fatalf("SAT in %s: %d", h, c)
		}
	}
	if c := getWith(t, persons, "Authorization", "Bearer "+value, "X-Api-Key", value); c != 400 {
		t.Fatalf("two credentials: %d, want 400", c)
	}
	if c := getWith(t, front.URL+"/api/domain/odata/x", "X-Api-Key", "enrt_"+strings.Repeat("A", 64)); c != 401 {
		t.Fatalf("unknown reference token: %d", c)
	}
	if a := introspectActive(t, front.URL, value); a["active"] != true || a["client_system_user"] != "svc-sync" || a["token_type"] != "reference_token" {
		t.Fatalf("introspection of a live SAT: %v", a)
	}
	// The token opened a session of its own, holding a license slot.
	_, sess, _ := runCmd(t, "sessions", "list", "--config", cfg)
	sid := regexp.MustCompile(`enrt-rt_[0-9a-f]+`).FindString(sess)
	if sid == "" || !strings.Contains(sess, "svc-sync") {
		t.Fatalf("no session for the reference token:\n%s", sess)
	}
	// An administrator ending that session frees the slot but does not end
	// the token: its next call opens a new session (SPEC §5).
	if code, out, errOut := runCmd(t, "sessions", "end", "--config", cfg, "--", sid); code != 0 {
		t.Fatalf("sessions end %s: %d %s %s", sid, code, out, errOut)
	}
	ended := sessionRecord(t, g, sid)
	if ended.Open() {
		t.Fatalf("session %s still open after `sessions end`", sid)
	}
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c := getWith(t, persons, "X-Api-Key", value); c != 200 {
			t.Fatalf("the SAT after an administrator ended its session: %d, want 200 (a new session)", c)
		}
		if s := sessionRecord(t, g, sid); s.Open() && s.OpenedAt.After(ended.EndedAt.Add(-time.Millisecond)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the SAT's calls opened no new session within 3s of `sessions end`: %+v", sessionRecord(t, g, sid))
		}
	}
	_, out, _ = runCmd(t, "tokens", "list", "--config", cfg)
	if strings.Contains(out, value) || !strings.Contains(out, "sat") || !strings.Contains(out, "active") ||
		!strings.Contains(out, "NAME") || !strings.Contains(out, "Nightly export") {
		t.Fatalf("list:\n%s", out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if code, _, errOut := runCmd(t, "tokens", "revoke", "--config", cfg, id); code != 0 {
		t.Fatalf("revoke: %s", errOut)
	}
	deadline := time.Now().Add(2 * time.Second)
	for getWith(t, persons, "X-Api-Key", value) != 401 {
		if time.Now().After(deadline) {
			t.Fatal("revoked reference token still accepted after 2s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if a := introspectActive(t, front.URL, value); a["active"] != false {
		t.Fatalf("introspection of a revoked SAT: %v", a)
	}
	if code, _, _ := runCmd(t, "tokens", "issue", "--config", cfg, "--type", "sat", "--app", "com.example/reporting", "--expires", "1h"); code == 0 {
		t.Fatal("issued a token for an app whose policy is none")
	}
}

func adminDo(t *testing.T, g *gateway, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, "http://admin"+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	g.admin.ServeHTTP(rec, req)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m
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

// sessionRecord is the store's record of session sid.
func sessionRecord(t *testing.T, g *gateway, sid string) store.Session {
	t.Helper()
	s, err := g.store.Session(context.Background(), sid)
	if err != nil {
		t.Fatalf("session %s: %v", sid, err)
	}
	return s
}

func introspectActive(t *testing.T, base, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/id/connect/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape("com.example/nightly-sync"), "demo-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return m
}
