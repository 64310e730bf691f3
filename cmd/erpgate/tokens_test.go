package main

import (
	"context"
	"encoding/json"
	"net/http"
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
	base, g, cfg := startWithEditedConfig(t, allowRefTokens)
	code, out, errOut := runCmd(t, "tokens", "issue", "--config", cfg, "--type", "sat", "--app", "com.example/nightly-sync", "--scope", "read", "--expires", "1h",
		"--name", "Nightly export", "--description", "copies persons to the file server")
	if code != 0 {
		t.Fatalf("issue: %d %s", code, errOut)
	}
	value := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
	if !strings.HasPrefix(value, "enrt_") || len(value) != 69 {
		t.Fatalf("issued value %q", value)
	}
	persons := base + "/api/domain/odata/General_Contacts_Persons"
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
	if c := getWith(t, base+"/api/domain/odata/x", "X-Api-Key", "enrt_"+strings.Repeat("A", 64)); c != 401 {
		t.Fatalf("unknown reference token: %d", c)
	}
	if a := introspectActive(t, base, value); a["active"] != true || a["client_system_user"] != "svc-sync" || a["token_type"] != "reference_token" {
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
	if a := introspectActive(t, base, value); a["active"] != false {
		t.Fatalf("introspection of a revoked SAT: %v", a)
	}
	if code, _, _ := runCmd(t, "tokens", "issue", "--config", cfg, "--type", "sat", "--app", "com.example/reporting", "--expires", "1h"); code == 0 {
		t.Fatal("issued a token for an app whose policy is none")
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
