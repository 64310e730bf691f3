package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/password"
	"github.com/erpgate/erpgate/sampleapi"
	"github.com/erpgate/erpgate/store"
)

// TestAdminUsersAPI: through the real wiring, an administrator creates a
// user (password argon2id), who acts at once; lists users of both
// sources; edits, disables (refused at once, sessions ended) and deletes
// stored users; file users are read-only, their logins taken; bad input
// is a 400 listing every problem.
func TestAdminUsersAPI(t *testing.T) {
	front, g, _ := startWithEditedConfig(t, withAdminScope)
	admin := mint(t, g, "admin", "sid-admin", true, "sec")
	ctx := context.Background()

	code, body := adminDo(t, g, "POST", "/admin/users", admin, map[string]any{
		"login": "bob", "name": "Bob", "email": "bob@example.com", "locale": "de-DE", "type": "internal",
		"password": "bob-long-password",
	})
	if code != 201 || body["source"] != "store" || body["login"] != "bob" || body["created_at"] == nil {
		t.Fatalf("create bob: %d %v", code, body)
	}
	if _, ok := body["password_hash"]; ok {
		t.Errorf("the answer shows a password hash: %v", body)
	}
	s, err := g.store.User(ctx, "bob")
	if err != nil || !strings.HasPrefix(s.PasswordHash, "$argon2id$") {
		t.Fatalf("stored bob: %+v %v", s, err)
	}
	if ok, _ := password.Verify(s.PasswordHash, "bob-long-password"); !ok {
		t.Errorf("bob's stored hash does not verify his password")
	}
	if u := g.directory.User("bob"); u == nil || u.Locale != "de-DE" {
		t.Fatalf("directory's bob at once: %+v", u)
	}
	bob := mint(t, g, "bob", "sid-bob", false, "read")
	if code, body := call(t, "GET", front.URL+sampleapi.PersonsPath, bob); code != 200 {
		t.Fatalf("bob through the proxy: %d %s", code, body)
	}

	code, body = adminDo(t, g, "GET", "/admin/users", admin, nil)
	sources := map[string]any{}
	for _, u := range body["users"].([]any) {
		m := u.(map[string]any)
		sources[m["login"].(string)] = m["source"]
	}
	if code != 200 || sources["alice"] != "config" || sources["bob"] != "store" {
		t.Errorf("list users: %d %v", code, sources)
	}
	if code, body := adminDo(t, g, "GET", "/admin/users/alice", admin, nil); code != 200 || body["source"] != "config" {
		t.Errorf("get alice: %d %v", code, body)
	}

	// File users are read-only, and their logins are theirs.
	for _, tc := range []struct{ method, path string }{
		{"PATCH", "/admin/users/alice"}, {"POST", "/admin/users/alice/disable"}, {"DELETE", "/admin/users/alice"},
		{"POST", "/admin/users/alice/reset-link"},
	} {
		if code, body := adminDo(t, g, tc.method, tc.path, admin, map[string]any{}); code != 409 || body["error"] != "config_user" {
			t.Errorf("%s %s: %d %v, want 409 config_user", tc.method, tc.path, code, body)
		}
	}
	if code, body := adminDo(t, g, "POST", "/admin/users", admin, map[string]any{"login": "alice", "type": "internal"}); code != 409 {
		t.Errorf("create a login of the file: %d %v, want 409", code, body)
	}
	if code, _ := adminDo(t, g, "POST", "/admin/users", admin, map[string]any{"login": "bob", "type": "internal"}); code != 409 {
		t.Errorf("create bob twice: %d, want 409", code)
	}
	code, body = adminDo(t, g, "POST", "/admin/users", admin, map[string]any{
		"login": "x y", "email": "not-an-email", "email_verified": false, "locale": "bg_BG", "type": "root", "password": "short",
	})
	if probs, _ := body["problems"].([]any); code != 400 || len(probs) != 5 {
		t.Errorf("invalid user: %d %v, want 400 with 5 problems (login, email, locale, type, password)", code, body)
	}
	if code, body := adminDo(t, g, "POST", "/admin/users/bob/password", admin, map[string]any{"password": "bob"}); code != 400 {
		t.Errorf("a short password: %d %v", code, body)
	}

	code, body = adminDo(t, g, "PATCH", "/admin/users/bob", admin, map[string]any{"name": "Bob B", "admin": true})
	if code != 200 || body["name"] != "Bob B" || body["admin"] != true || body["email"] != "bob@example.com" {
		t.Errorf("patch bob: %d %v (unchanged fields must stay)", code, body)
	}
	if u := g.directory.User("bob"); u == nil || !u.Admin {
		t.Errorf("directory's bob after patch: %+v, want admin", u)
	}

	code, body = adminDo(t, g, "POST", "/admin/users/bob/disable", admin, nil)
	if code != 200 || body["disabled"] != true {
		t.Fatalf("disable bob: %d %v", code, body)
	}
	if code, _ := call(t, "GET", front.URL+sampleapi.PersonsPath, bob); code != 401 {
		t.Errorf("bob after disable: %d, want 401 at once", code)
	}
	if s := sessionRecord(t, g, "sid-bob"); s.EndReason != store.EndAdmin {
		t.Errorf("bob's session after disable: %+v, want ended (admin)", s)
	}
	code, body = adminDo(t, g, "POST", "/admin/users/bob/reset-link", admin, nil)
	if code != 400 {
		t.Errorf("reset link of a disabled user: %d %v, want 400", code, body)
	}
	if code, _ := adminDo(t, g, "POST", "/admin/users/bob/enable", admin, nil); code != 200 {
		t.Fatalf("enable bob: %d", code)
	}
	code, body = adminDo(t, g, "POST", "/admin/users/bob/reset-link", admin, nil)
	link, _ := body["link"].(string)
	if code != 201 || !regexp.MustCompile(`^`+regexp.QuoteMeta(g.file.PublicURL)+`/id/account/reset\?token=[A-Za-z0-9_-]{43}$`).MatchString(link) {
		t.Errorf("reset link: %d %v", code, body)
	}
	token := strings.TrimPrefix(link, g.file.PublicURL+"/id/account/reset?token=")
	if r, err := g.store.PasswordReset(ctx, resetHash(token)); err != nil || r.CreatedBy != "admin" || r.Login != "bob" {
		t.Errorf("the stored reset of the link: %+v %v; want bob's, created by admin", r, err)
	}
	if exp, err := time.Parse(time.RFC3339, body["expires_at"].(string)); err != nil || time.Until(exp) < 23*time.Hour || time.Until(exp) > ResetLinkTTL {
		t.Errorf("reset link expires_at %v (%v), want in 24h", body["expires_at"], err)
	}

	if code, _ := adminDo(t, g, "DELETE", "/admin/users/bob", admin, nil); code != 204 {
		t.Fatalf("delete bob: %d", code)
	}
	if g.directory.User("bob") != nil {
		t.Errorf("directory still has bob after delete")
	}
	if code, _ := adminDo(t, g, "GET", "/admin/users/bob", admin, nil); code != 404 {
		t.Errorf("get bob after delete: %d, want 404", code)
	}
	if code, _ := adminDo(t, g, "DELETE", "/admin/users/bob", admin, nil); code != 404 {
		t.Errorf("delete bob again: %d, want 404", code)
	}
	// The login may be taken again, by a new person with a new id.
	if code, body := adminDo(t, g, "POST", "/admin/users", admin, map[string]any{"login": "bob", "type": "community"}); code != 201 || body["id"] == s.ID {
		t.Errorf("re-create bob: %d %v (old id %s)", code, body, s.ID)
	}
}

// storedUser is the stored internal administrator the stored-user door
// rules are about; dora's twin, created through the admin API.
const storedUser = "erin"

// useStoredUser creates erin on w's changing gateway through the admin
// API (as the ops app) and makes erin the credUser and credPAT of w: a
// code-flow sign-in and a PAT, each with a session opened by a proxied
// call to the replica the doors are asked at.
func (w *doorsWorld) useStoredUser(t *testing.T) {
	t.Helper()
	ops := w.clientToken(t, opsApp, opsSecret)
	if status, body := postJSON(t, w.admin.URL+"/admin/users", ops, map[string]any{
		"login": storedUser, "name": "Erin Admin", "email": "erin@example.com", "type": "internal", "admin": true,
		"password": doorsPassword,
	}); status != http.StatusCreated {
		t.Fatalf("create %s: %d %s", storedUser, status, body)
	}
	w.creds[credUser] = w.signIn(t, storedUser)
	w.creds[credPAT] = w.reference(t, store.PersonalAccessToken, storedUser)
	for _, k := range []string{credUser, credPAT} {
		c := w.creds[k]
		// The doors' replica learns of erin by its directory sync.
		deadline := time.Now().Add(5 * time.Second)
		status, body := w.proxyGet(t, c.token)
		for ; status != http.StatusOK && time.Now().Before(deadline); status, body = w.proxyGet(t, c.token) {
			time.Sleep(20 * time.Millisecond)
		}
		if status != http.StatusOK {
			t.Fatalf("%s of %s: first proxied call %d %s", k, storedUser, status, body)
		}
		c.sid = sessionOf(t, body)
	}
}

// userAction sends method (with body as JSON, if any) to
// /admin/users/erin… of the changing gateway, as the ops app.
func (w *doorsWorld) userAction(t *testing.T, method, suffix string, body any) {
	t.Helper()
	ops := w.clientToken(t, opsApp, opsSecret)
	var status int
	var answer string
	if body != nil || method == http.MethodPost {
		status, answer = sendJSON(t, method, w.admin.URL+"/admin/users/"+storedUser+suffix, ops, body)
	} else {
		status, answer = call(t, method, w.admin.URL+"/admin/users/"+storedUser+suffix, ops)
	}
	if status/100 != 2 {
		t.Fatalf("%s /admin/users/%s%s: %d %s", method, storedUser, suffix, status, answer)
	}
}

// storedUserRules are the door rules of a stored user changed through
// the admin API: every door refuses what the change takes away, and
// keeps refusing it when the user is enabled again (sessions ended,
// refresh tokens and the PAT revoked, the sign-in ended).
var storedUserRules = []rule{
	{name: "stored user: nothing changed", change: func(*testing.T, *doorsWorld) {}, accept: baseline},
	{
		name:   "stored user disabled through the admin API",
		change: func(t *testing.T, w *doorsWorld) { w.userAction(t, http.MethodPost, "/disable", nil) },
		accept: except(credUser, credPAT),
	},
	{
		name: "stored user disabled, then enabled again",
		change: func(t *testing.T, w *doorsWorld) {
			w.userAction(t, http.MethodPost, "/disable", nil)
			w.userAction(t, http.MethodPost, "/enable", nil)
		},
		accept: except(credUser, credPAT),
	},
	{
		name:   "stored user deleted through the admin API",
		change: func(t *testing.T, w *doorsWorld) { w.userAction(t, http.MethodDelete, "", nil) },
		accept: except(credUser, credPAT),
	},
	{
		name: "stored user's type changed through the admin API",
		change: func(t *testing.T, w *doorsWorld) {
			w.userAction(t, http.MethodPatch, "", map[string]any{"type": "community"})
		},
		// What the user holds was granted to another type: sessions,
		// refresh tokens, the sign-in and the PAT end.
		accept: except(credUser, credPAT),
	},
	{
		name: "stored user's password set by an administrator",
		change: func(t *testing.T, w *doorsWorld) {
			w.userAction(t, http.MethodPost, "/password", map[string]any{"password": "a-new-long-password"})
		},
		// As a password change in the file: the refresh tokens and the
		// sign-in end, a PAT is a credential of its own and stays.
		accept: except(credUser),
	},
}

// TestStoredUserAtEveryDoor: the stored-user rules on one gateway, where
// they hold at once.
func TestStoredUserAtEveryDoor(t *testing.T) {
	for _, r := range storedUserRules {
		t.Run(r.name, func(t *testing.T) {
			w := newDoorsWorld(t)
			w.useStoredUser(t)
			r.change(t, w)
			for _, msg := range w.wrongAnswers(t, r) {
				t.Error(msg)
			}
		})
	}
}

// TestStoredUserAtEveryDoorAcrossReplicas: the stored-user rules made on
// replica A hold at every door of replica B within propagationBound
// (NOTIFY users, or B's directory poll).
func TestStoredUserAtEveryDoorAcrossReplicas(t *testing.T) {
	for _, r := range storedUserRules {
		t.Run(r.name, func(t *testing.T) {
			w := newReplicaDoorsWorld(t)
			w.useStoredUser(t)
			r.change(t, w)
			changed := time.Now()
			for {
				wrong := w.wrongAnswers(t, r)
				if len(wrong) == 0 {
					t.Logf("every door of replica B answered by the rule %s after the change on A", time.Since(changed).Round(time.Millisecond))
					return
				}
				if time.Since(changed) > propagationBound {
					for _, msg := range wrong {
						t.Error(msg)
					}
					t.Fatalf("replica B still answered %d times against the rule %s after the change on A", len(wrong), time.Since(changed).Round(time.Millisecond))
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestStoredUserTokensRevoked: disabling a stored user revokes their
// reference tokens in the store and their refresh tokens, so enabling
// them again does not bring either back; a user of the file is not
// touched.
func TestStoredUserTokensRevoked(t *testing.T) {
	w := newDoorsWorld(t)
	w.useStoredUser(t)
	w.userAction(t, http.MethodPost, "/disable", nil)
	ctx := context.Background()
	toks, err := w.g.store.ReferenceTokens(ctx, storedUser)
	if err != nil || len(toks) != 1 || toks[0].RevokedAt.IsZero() {
		t.Fatalf("erin's reference tokens after disable: %+v %v; want one, revoked", toks, err)
	}
	w.userAction(t, http.MethodPost, "/enable", nil)
	if tr := w.tokenRequest(t, map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {w.creds[credUser].refresh}}); tr.status != http.StatusBadRequest {
		t.Errorf("erin's refresh token after disable and enable: %d %+v, want invalid_grant", tr.status, tr)
	}
	if u := w.g.directory.User(storedUser); u == nil || u.Type != directory.TypeInternal {
		t.Errorf("erin enabled again: %+v", u)
	}
	if dora, _ := w.g.store.ReferenceTokens(ctx, "dora"); len(dora) != 1 || !dora[0].RevokedAt.IsZero() {
		t.Errorf("dora's PAT: %+v, want untouched", dora)
	}
}

// postJSON posts body as JSON with a bearer token.
func postJSON(t *testing.T, u, tok string, body any) (int, string) {
	t.Helper()
	return sendJSON(t, http.MethodPost, u, tok, body)
}

// sendJSON sends body as JSON with a bearer token.
func sendJSON(t *testing.T, method, u, tok string, body any) (int, string) {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sessionOf is the session the sample API saw in a proxied answer.
func sessionOf(t *testing.T, body string) string {
	t.Helper()
	var p sampleapi.Persons
	if err := json.Unmarshal([]byte(body), &p); err != nil || p.Auth.Session == "" {
		t.Fatalf("upstream saw no session: %s", body)
	}
	return p.Auth.Session
}

// resetLink issues erin's reset link on w's changing gateway.
func (w *doorsWorld) resetLink(t *testing.T) string {
	t.Helper()
	status, body := postJSON(t, w.admin.URL+"/admin/users/"+storedUser+"/reset-link", w.clientToken(t, opsApp, opsSecret), nil)
	var out struct {
		Link string `json:"link"`
	}
	if err := json.Unmarshal([]byte(body), &out); status != http.StatusCreated || err != nil || out.Link == "" {
		t.Fatalf("reset link: %d %s", status, body)
	}
	return out.Link
}

// useResetLink opens link in a fresh browser and submits pw; it returns
// the answer's status and page.
func useResetLink(t *testing.T, link, pw string) (int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := b.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, string(page)
	}
	form := hiddenFields(string(page))
	form.Set("new_password", pw)
	form.Set("new_password_again", pw)
	// Where the page's form posts, as a browser would.
	m := regexp.MustCompile(`<form method="post" action="([^"]+)" id="reset-form"`).FindStringSubmatch(string(page))
	if m == nil {
		t.Fatalf("no reset form on the page:\n%s", page)
	}
	u, _ := url.Parse(link)
	action, err := u.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = b.PostForm(action.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(page)
}

// TestResetLinkFlow: a stored user's reset link, issued by an operator,
// sets the new password once and ends what a password change ends: the
// refresh tokens (and access tokens issued from them) and the sign-in on
// every browser. A used link, an expired one and one issued before the
// login was deleted and created again do not work.
func TestResetLinkFlow(t *testing.T) {
	w := newDoorsWorld(t)
	w.useStoredUser(t)
	link := w.resetLink(t)
	const next = "erin's brand-new passphrase"
	status, page := useResetLink(t, link, next)
	if status != http.StatusOK || !strings.Contains(page, "Your new password is set") {
		t.Fatalf("reset: %d\n%s", status, page)
	}
	s, err := w.g.store.User(context.Background(), storedUser)
	if ok, _ := password.Verify(s.PasswordHash, next); err != nil || !ok {
		t.Errorf("erin's stored hash after the reset does not verify the new password (%v)", err)
	}
	if tr := w.tokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {w.creds[credUser].refresh}}); tr.status != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Errorf("erin's refresh token after the reset: %d %+v, want invalid_grant", tr.status, tr)
	}
	if code, _ := w.proxyGet(t, w.creds[credUser].token); code != http.StatusUnauthorized {
		t.Errorf("erin's access token (issued from the revoked refresh token) after the reset: %d, want 401", code)
	}
	if v, _ := doorNamed("account page").ask(t, w, w.creds[credUser]); v.accepted {
		t.Errorf("erin's browser sign-in survived the reset: %s", v)
	}
	if code, _ := w.proxyGet(t, w.creds[credPAT].token); code != http.StatusOK {
		t.Errorf("erin's PAT after the reset: %d; a PAT is a credential of its own", code)
	}
	if status, page := useResetLink(t, link, next+" again"); status != http.StatusGone || !strings.Contains(page, "was used already") {
		t.Errorf("the link used again: %d\n%s", status, page)
	}

	// Expired: a link whose time is up (the store's record, as it would
	// be a day later).
	now := time.Now().Truncate(time.Millisecond)
	if err := w.g.store.SavePasswordReset(context.Background(), store.PasswordReset{Hash: resetHash("expired-token"), Login: storedUser,
		CreatedAt: now.Add(-25 * time.Hour), ExpiresAt: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	base, _, _ := strings.Cut(link, "?")
	if status, page := useResetLink(t, base+"?token=expired-token", next); status != http.StatusGone || !strings.Contains(page, "has expired") {
		t.Errorf("an expired link: %d\n%s", status, page)
	}

	// A link of the user before the login was deleted and created again.
	old := w.resetLink(t)
	w.userAction(t, http.MethodDelete, "", nil)
	if status, body := postJSON(t, w.admin.URL+"/admin/users", w.clientToken(t, opsApp, opsSecret),
		map[string]any{"login": storedUser, "type": "internal"}); status != http.StatusCreated {
		t.Fatalf("re-create erin: %d %s", status, body)
	}
	if status, _ := useResetLink(t, old, next); status != http.StatusNotFound {
		t.Errorf("the old erin's link for the new erin: %d, want 404", status)
	}
}

// doorNamed is the door called name.
func doorNamed(name string) door {
	for _, d := range doors {
		if d.name == name {
			return d
		}
	}
	panic("no door " + name)
}

// TestResetLinkNotLogged: with the access log on, opening and using a
// reset link logs its path, never its token.
func TestResetLinkNotLogged(t *testing.T) {
	var logs syncBuffer
	front, g := startLoggedGateway(t, &logs, "log: {access_log: true}\n")
	admin := mint(t, g, "admin", "sid-admin", true, "sec")
	if code, body := adminDo(t, g, "POST", "/admin/users", admin, map[string]any{"login": "bob", "type": "internal"}); code != 201 {
		t.Fatalf("create bob: %d %v", code, body)
	}
	_, body := adminDo(t, g, "POST", "/admin/users/bob/reset-link", admin, nil)
	link := body["link"].(string)
	if !strings.HasPrefix(link, front.URL+"/id/account/reset?token=") {
		t.Fatalf("link %q", link)
	}
	if status, page := useResetLink(t, link, "bob's first real passphrase"); status != http.StatusOK {
		t.Fatalf("reset: %d\n%s", status, page)
	}
	token := strings.TrimPrefix(link, front.URL+"/id/account/reset?token=")
	out := logs.String()
	if !strings.Contains(out, `"path":"/id/account/reset"`) {
		t.Fatalf("no access line of the reset page; the test sees no logs:\n%s", out)
	}
	if strings.Contains(out, token) || strings.Contains(out, url.QueryEscape(token)) {
		t.Errorf("the reset token is in the logs:\n%s", out)
	}
}

// syncBuffer is a bytes.Buffer safe for the gateway's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startLoggedGateway runs the example config (the admin scope given to
// mintApp, extra appended) with its process, access and audit log on
// logs.
func startLoggedGateway(t *testing.T, logs io.Writer, extra string) (*httptest.Server, *Gateway) {
	t.Helper()
	up := httptest.NewServer(sampleapi.New())
	t.Cleanup(up.Close)
	front := httptest.NewUnstartedServer(nil)
	raw, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yml := withAdminScope(strings.NewReplacer(
		"http://localhost:8080", "http://"+front.Listener.Addr().String(),
		"http://127.0.0.1:8081", up.URL,
		"data/erpgate.db", filepath.Join(t.TempDir(), "erpgate.db"),
	).Replace(string(raw))) + "\n" + extra
	f, err := config.Parse([]byte(yml), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	g, err := newGateway(context.Background(), f, logs)
	if err != nil {
		t.Fatal(err)
	}
	front.Config.Handler = g.handler
	front.Start()
	t.Cleanup(func() { front.Close(); g.Close() })
	return front, g
}
