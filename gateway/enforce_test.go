package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/sampleapi"
	"github.com/erpgate/erpgate/store"
)

// enforce.go through the real wiring: a directory change — a config
// reload, or the admin API changing a stored app — ends what it takes
// away (SPEC §5): the kill switch ends the app's sessions (reason
// app_disabled) and its tokens are refused; a password change revokes
// the user's refresh tokens and ends their identity sessions (no more
// silent SSO); a removed user's sessions end.

// enforceApp is a Trusted App users sign in to (code flow) and that has
// client credentials, acting as svc-sync.
const (
	enforceApp      = "com.example/enforce"
	enforceSecret   = "enforce-secret"
	enforceRedirect = "http://127.0.0.1:9/enforce/callback" // never contacted: the code is read from the redirect
)

// The example config's demo passwords.
var enforcePasswords = map[string]string{"alice": "alice-demo-password", "admin": "admin-demo-password"}

// enforceConfig adds enforceApp to the example config.
func enforceConfig(yml string) string {
	if !strings.Contains(yml, "\napps:") {
		panic("config.example.yaml changed shape: no apps")
	}
	return strings.Replace(yml, "\napps:", "\napps:\n"+
		"  - uri: "+enforceApp+"\n"+
		"    name: Enforce\n"+
		"    secret_hash: "+SecretHash(enforceSecret)+"\n"+
		"    system_user: svc-sync\n"+
		"    scope: read update\n"+
		"    redirect_uris: ["+enforceRedirect+"]", 1)
}

// enforceWorld is a gateway with enforceApp whose config file can be
// edited and reloaded as SIGHUP does.
type enforceWorld struct {
	front   *httptest.Server
	g       *Gateway
	cfgPath string
	yml     string // the config as running
}

func startEnforceWorld(t *testing.T, edit func(string) string) *enforceWorld {
	t.Helper()
	front, g, cfgPath := startWithEditedConfig(t, func(yml string) string {
		yml = enforceConfig(yml)
		if edit != nil {
			yml = edit(yml)
		}
		return yml
	})
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	return &enforceWorld{front: front, g: g, cfgPath: cfgPath, yml: string(raw)}
}

// reload applies edit to the config file and reloads it, as SIGHUP does.
func (w *enforceWorld) reload(t *testing.T, edit func(string) string) {
	t.Helper()
	next := edit(w.yml)
	if next == w.yml {
		t.Fatal("reload: the edit changed nothing")
	}
	if err := os.WriteFile(w.cfgPath, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	err := w.g.reloadFrom(context.Background(), func() (*config.File, error) { return loadFile(w.cfgPath) })
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	w.yml = next
}

// setAppEnabled rewrites enforceApp's entry with enabled: on.
func setAppEnabled(on bool) func(string) string {
	return func(yml string) string {
		re := regexp.MustCompile(`(?m)^(    redirect_uris: \[` + regexp.QuoteMeta(enforceRedirect) + `\])(\n    enabled: \w+)?`)
		v := "false"
		if on {
			v = "true"
		}
		return re.ReplaceAllString(yml, "${1}\n    enabled: "+v)
	}
}

// userBlock matches a user's entry in the example config.
func userBlock(login string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^  - login: ` + regexp.QuoteMeta(login) + `\b.*\n(?:    .*\n)*`)
}

// removeUser deletes a user's entry.
func removeUser(login string) func(string) string {
	return func(yml string) string { return userBlock(login).ReplaceAllString(yml, "") }
}

// changePassword gives login the password hash of other (as if the user
// had chosen other's password).
func changePassword(login, other string) func(string) string {
	hashLine := regexp.MustCompile(`(?m)^    password_hash: (\S+)`)
	return func(yml string) string {
		theirs := hashLine.FindStringSubmatch(userBlock(other).FindString(yml))
		mine := userBlock(login).FindString(yml)
		if theirs == nil || mine == "" {
			panic("config.example.yaml changed shape: no password_hash for " + login + " or " + other)
		}
		return strings.Replace(yml, mine, hashLine.ReplaceAllLiteralString(mine, "    password_hash: "+theirs[1]), 1)
	}
}

// enforceLogin is a user signed in to enforceApp through the code flow.
type enforceLogin struct {
	login   string
	browser *http.Client // holds the identity (SSO) cookie
	access  string
	refresh string
}

// signIn plays a browser through the authorization code flow with PKCE
// and the login form, then exchanges the code as enforceApp.
func (w *enforceWorld) signIn(t *testing.T, login string) *enforceLogin {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	code, verifier, page := w.authorize(t, browser, login)
	if code == "" {
		form := url.Values{}
		for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`).FindAllStringSubmatch(page, -1) {
			form.Set(m[1], html.UnescapeString(m[2]))
		}
		form.Set("login", login)
		form.Set("password", enforcePasswords[login])
		resp, err := browser.PostForm(w.front.URL+"/id/account/login", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		code = w.followToCode(t, browser, resp)
	}
	if code == "" {
		t.Fatalf("sign-in of %s gave no code", login)
	}
	status, tr := w.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {enforceRedirect}, "code_verifier": {verifier}})
	if status != http.StatusOK || tr.AccessToken == "" || tr.RefreshToken == "" {
		t.Fatalf("code exchange for %s: %d %+v", login, status, tr)
	}
	return &enforceLogin{login: login, browser: browser, access: tr.AccessToken, refresh: tr.RefreshToken}
}

// authorize starts the code flow with browser's cookies. With a live
// identity session it ends at the callback with a code (silent SSO);
// otherwise code is "" and page is the login form.
func (w *enforceWorld) authorize(t *testing.T, browser *http.Client, state string) (code, verifier, page string) {
	t.Helper()
	verifier = strings.Repeat("v", 20) + state + strings.Repeat("x", 30) + time.Now().Format("150405.000000000")
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {enforceApp}, "redirect_uri": {enforceRedirect}, "response_type": {"code"},
		"scope": {"openid profile offline_access read"}, "state": {"st-" + state}, "nonce": {"n-" + state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	next := w.front.URL + "/id/connect/authorize?" + q.Encode()
	for hop := 0; hop < 6; hop++ {
		resp, err := browser.Get(next)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if !strings.Contains(string(body), `name="password"`) {
				t.Fatalf("authorize for %s: a page that is not the login form: %s", state, body)
			}
			return "", verifier, string(body)
		}
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("authorize for %s: %d without a redirect: %s", state, resp.StatusCode, body)
		}
		if strings.HasPrefix(loc.String(), enforceRedirect) {
			if loc.Query().Get("code") == "" {
				t.Fatalf("authorize for %s: %s", state, loc)
			}
			return loc.Query().Get("code"), verifier, ""
		}
		next = loc.String()
	}
	t.Fatalf("authorize for %s: too many redirects", state)
	return "", "", ""
}

// followToCode follows the login form's answer to the callback's code.
func (w *enforceWorld) followToCode(t *testing.T, browser *http.Client, resp *http.Response) string {
	t.Helper()
	for hop := 0; hop < 6; hop++ {
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("after the login form: %d without a redirect", resp.StatusCode)
		}
		if strings.HasPrefix(loc.String(), enforceRedirect) {
			return loc.Query().Get("code")
		}
		if resp, err = browser.Get(loc.String()); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	t.Fatal("after the login form: too many redirects")
	return ""
}

type enforceTokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
}

// token posts form to the token endpoint as enforceApp.
func (w *enforceWorld) token(t *testing.T, form url.Values) (int, enforceTokenResponse) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.front.URL+"/id/connect/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(enforceApp), url.QueryEscape(enforceSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr enforceTokenResponse
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	return resp.StatusCode, tr
}

// clientCredentials gets a client-credentials token of id, or "" and
// the status.
func (w *enforceWorld) clientCredentials(t *testing.T, id, secret string) (string, int) {
	t.Helper()
	resp, err := http.PostForm(w.front.URL+"/id/connect/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr enforceTokenResponse
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	return tr.AccessToken, resp.StatusCode
}

// proxied makes one proxied call with tok (a bearer JWT, or a reference
// token) and returns the status and the session the upstream saw.
func (w *enforceWorld) proxied(t *testing.T, tok string) (int, string, string) {
	t.Helper()
	code, body := call(t, http.MethodGet, w.front.URL+sampleapi.PersonsPath, tok)
	var p sampleapi.Persons
	if code == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatalf("proxied call: %v: %s", err, body)
		}
	}
	return code, p.Auth.Session, body
}

// mustOpen makes a proxied call with tok that must succeed, and returns
// the session it opened.
func (w *enforceWorld) mustOpen(t *testing.T, what, tok string) string {
	t.Helper()
	code, sid, body := w.proxied(t, tok)
	if code != http.StatusOK || sid == "" {
		t.Fatalf("%s: first proxied call %d %s", what, code, body)
	}
	return sid
}

// mustRefuse: a proxied call with tok is 401 invalid_token (RFC 6750 §3.1).
func (w *enforceWorld) mustRefuse(t *testing.T, what, tok string) {
	t.Helper()
	if code, _, body := w.proxied(t, tok); code != http.StatusUnauthorized || !strings.Contains(body, "invalid_token") {
		t.Errorf("%s at the proxy: %d %s, want 401 invalid_token", what, code, body)
	}
}

// openIDs are the ids of the sessions g.sessions.List says are open.
func (w *enforceWorld) openIDs(t *testing.T) map[string]bool {
	t.Helper()
	infos, err := w.g.sessions.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, i := range infos {
		ids[i.ID] = true
	}
	return ids
}

// stored is a session's record in the store.
func (w *enforceWorld) stored(t *testing.T, sid string) store.Session {
	t.Helper()
	return sessionRecord(t, w.g, sid)
}

// mustBeEnded: sid is no longer listed as open and its record says it
// ended for reason ("" for any reason).
func (w *enforceWorld) mustBeEnded(t *testing.T, what, sid, reason string) {
	t.Helper()
	if w.openIDs(t)[sid] {
		t.Errorf("%s: session %s is still listed as open", what, sid)
	}
	s := w.stored(t, sid)
	if s.Open() || reason != "" && s.EndReason != reason {
		t.Errorf("%s: session %s ended at %v, reason %q; want ended, reason %q", what, sid, s.EndedAt, s.EndReason, reason)
	}
}

// mustBeOpen: sid is listed as open.
func (w *enforceWorld) mustBeOpen(t *testing.T, what, sid string) {
	t.Helper()
	if !w.openIDs(t)[sid] {
		s := w.stored(t, sid)
		t.Errorf("%s: session %s is not open (ended %v, %q)", what, sid, s.EndedAt, s.EndReason)
	}
}

// TestEnforceAppDisabledByReload: a reload that sets a config app
// enabled: false ends its sessions — user and service — with reason
// app_disabled, and refuses its tokens at the proxy and the token
// endpoint; other apps' sessions stay. Enabling it again lets it get new
// tokens, but the ended sessions stay ended (SPEC §5).
func TestEnforceAppDisabledByReload(t *testing.T) {
	w := startEnforceWorld(t, nil)
	cc, status := w.clientCredentials(t, enforceApp, enforceSecret)
	if cc == "" {
		t.Fatalf("client credentials: %d", status)
	}
	ccSID := w.mustOpen(t, "client-credentials token", cc)
	alice := w.signIn(t, "alice")
	aliceSID := w.mustOpen(t, "alice's token", alice.access)
	other, status := w.clientCredentials(t, "com.example/nightly-sync", demoSecret)
	if other == "" {
		t.Fatalf("client credentials of another app: %d", status)
	}
	otherSID := w.mustOpen(t, "another app's token", other)

	w.reload(t, setAppEnabled(false))

	w.mustBeEnded(t, "the disabled app's service session", ccSID, store.EndAppDisabled)
	w.mustBeEnded(t, "the disabled app's user session", aliceSID, store.EndAppDisabled)
	w.mustBeOpen(t, "another app's session", otherSID)
	w.mustRefuse(t, "the disabled app's client-credentials token", cc)
	w.mustRefuse(t, "the disabled app's user token", alice.access)
	if code, _, body := w.proxied(t, other); code != http.StatusOK {
		t.Errorf("another app's token after the kill switch: %d %s", code, body)
	}
	if tok, status := w.clientCredentials(t, enforceApp, enforceSecret); status != http.StatusUnauthorized || tok != "" {
		t.Errorf("client credentials of a disabled app: %d, want 401 invalid_client", status)
	}
	if status, tr := w.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {alice.refresh}}); status/100 == 2 {
		t.Errorf("refresh at a disabled app: %d %+v", status, tr)
	}

	// Enabled again: new tokens work, the ended sessions do not come back.
	w.reload(t, setAppEnabled(true))
	w.mustRefuse(t, "a token of an ended session, after the app is enabled again", cc)
	w.mustBeEnded(t, "the ended service session, after the app is enabled again", ccSID, store.EndAppDisabled)
	fresh, status := w.clientCredentials(t, enforceApp, enforceSecret)
	if fresh == "" {
		t.Fatalf("client credentials after the app is enabled again: %d", status)
	}
	if sid := w.mustOpen(t, "a new token after the app is enabled again", fresh); sid == ccSID {
		t.Errorf("the new token reopened the ended session %s", sid)
	}
}

// TestEnforcePasswordChangeByReload: after a reload that changes a
// user's password_hash, their refresh token is refused (invalid_grant),
// the access tokens issued from it too, and their identity session
// cookie no longer signs them in silently; another user keeps both.
func TestEnforcePasswordChangeByReload(t *testing.T) {
	w := startEnforceWorld(t, nil)
	alice := w.signIn(t, "alice")
	admin := w.signIn(t, "admin")
	w.mustOpen(t, "alice's token", alice.access)
	// The identity session gives silent SSO.
	if code, _, _ := w.authorize(t, alice.browser, "alice-sso"); code == "" {
		t.Fatal("before the password change, alice's identity session gives no silent SSO")
	}

	w.reload(t, changePassword("alice", "admin"))

	status, tr := w.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {alice.refresh}})
	if status != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Errorf("alice's refresh token after her password changed: %d %+v, want 400 invalid_grant", status, tr)
	}
	if code, _, _ := w.authorize(t, alice.browser, "alice-after"); code != "" {
		t.Error("after the password change, alice's identity session cookie still signs her in silently")
	}
	w.mustRefuse(t, "alice's access token after her password changed", alice.access)

	// Nothing of admin's is taken away.
	if status, tr := w.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {admin.refresh}}); status != http.StatusOK || tr.AccessToken == "" {
		t.Errorf("admin's refresh token after alice's password changed: %d %+v", status, tr)
	}
	if code, _, _ := w.authorize(t, admin.browser, "admin-after"); code == "" {
		t.Error("after alice's password change, admin's identity session gives no silent SSO")
	}
}

// TestEnforceUserRemovedByReload: a reload that removes a user ends
// their sessions (a code-flow token's and a PAT's) and refuses their
// tokens; another user's session stays.
func TestEnforceUserRemovedByReload(t *testing.T) {
	w := startEnforceWorld(t, func(yml string) string {
		return strings.Replace(yml, "    redirect_uris: ["+enforceRedirect+"]",
			"    redirect_uris: ["+enforceRedirect+"]\n    reference_tokens: authenticated_users", 1)
	})
	alice := w.signIn(t, "alice")
	aliceSID := w.mustOpen(t, "alice's token", alice.access)
	admin := w.signIn(t, "admin")
	adminSID := w.mustOpen(t, "admin's token", admin.access)
	// As `erpgate tokens issue --type pat --user alice` does (an operator).
	issued, err := w.g.reftokens.Issue(context.Background(), reftoken.IssueRequest{
		Type: store.PersonalAccessToken, ClientID: enforceApp, Subject: "alice", Scopes: []string{"read"}, ExpiresIn: time.Hour,
	})
	if err != nil {
		t.Fatalf("issue a PAT: %v", err)
	}
	pat := issued.Value
	patSID := w.mustOpen(t, "alice's PAT", pat)

	w.reload(t, removeUser("alice"))

	w.mustBeEnded(t, "the removed user's session", aliceSID, "")
	w.mustBeEnded(t, "the removed user's PAT session", patSID, "")
	w.mustBeOpen(t, "another user's session", adminSID)
	w.mustRefuse(t, "the removed user's access token", alice.access)
	w.mustRefuse(t, "the removed user's PAT", pat)
	if status, tr := w.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {alice.refresh}}); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Errorf("the removed user's refresh token: %d %+v, want 400 invalid_grant", status, tr)
	}
	if code, _, body := w.proxied(t, admin.access); code != http.StatusOK {
		t.Errorf("another user's token: %d %s", code, body)
	}
}

// TestEnforceStoredAppKillSwitch: through the admin API, disabling a
// stored (run-time) app ends its sessions (reason app_disabled) and its
// SAT and client-credentials token get 401; enabling it again makes the
// same SAT work again, in a session opened anew, while the
// client-credentials token's ended session stays ended.
func TestEnforceStoredAppKillSwitch(t *testing.T) {
	w := startEnforceWorld(t, withAdminScope)
	adminTok := mint(t, w.g, "admin", "sid-enforce-admin", true, "sec")
	const uri = "com.example/stored-enforce"
	code, body := adminDo(t, w.g, "POST", "/admin/apps", adminTok, map[string]any{
		"uri": uri, "name": "Stored", "system_user": "svc-sync", "scope": "read",
		"reference_tokens": "authenticated_users",
	})
	secret, _ := body["client_secret"].(string)
	if code != http.StatusCreated || secret == "" {
		t.Fatalf("create app: %d %v", code, body)
	}
	code, body = adminDo(t, w.g, "POST", "/admin/tokens", adminTok, map[string]any{"type": "sat", "app": uri, "expires_in": "1h"})
	sat, _ := body["token"].(string)
	if code != http.StatusCreated || sat == "" {
		t.Fatalf("issue SAT: %d %v", code, body)
	}
	cc, status := w.clientCredentials(t, uri, secret)
	if cc == "" {
		t.Fatalf("client credentials of the stored app: %d", status)
	}
	satSID := w.mustOpen(t, "the SAT", sat)
	ccSID := w.mustOpen(t, "the client-credentials token", cc)
	other, _ := w.clientCredentials(t, enforceApp, enforceSecret)
	otherSID := w.mustOpen(t, "another app's token", other)

	disabledAt := time.Now()
	if code, body := adminDo(t, w.g, "POST", "/admin/apps/"+url.PathEscape(uri)+"/disable", adminTok, nil); code != http.StatusOK || body["enabled"] != false {
		t.Fatalf("disable: %d %v", code, body)
	}
	_, listed := adminDo(t, w.g, "GET", "/admin/sessions", adminTok, nil)
	raw, _ := json.Marshal(listed)
	if strings.Contains(string(raw), satSID) || strings.Contains(string(raw), ccSID) || !strings.Contains(string(raw), otherSID) {
		t.Errorf("GET /admin/sessions after the kill switch lists %s; want neither %s nor %s, and %s", raw, satSID, ccSID, otherSID)
	}
	w.mustBeEnded(t, "the SAT's session", satSID, store.EndAppDisabled)
	w.mustBeEnded(t, "the client-credentials session", ccSID, store.EndAppDisabled)
	w.mustBeOpen(t, "another app's session", otherSID)
	w.mustRefuse(t, "the SAT of a disabled app", sat)
	w.mustRefuse(t, "the client-credentials token of a disabled app", cc)

	if code, body := adminDo(t, w.g, "POST", "/admin/apps/"+url.PathEscape(uri)+"/enable", adminTok, nil); code != http.StatusOK || body["enabled"] != true {
		t.Fatalf("enable: %d %v", code, body)
	}
	code, sid, rbody := w.proxied(t, sat)
	if code != http.StatusOK {
		t.Fatalf("the same SAT after the app is enabled again: %d %s", code, rbody)
	}
	w.mustBeOpen(t, "the SAT's session after the app is enabled again", sid)
	if s := w.stored(t, sid); !s.Open() || s.OpenedAt.Before(disabledAt.Truncate(time.Millisecond)) {
		t.Errorf("the SAT's session after the app is enabled again: opened %v (disabled at %v), ended %v: want a new open session", s.OpenedAt, disabledAt, s.EndedAt)
	}
	w.mustRefuse(t, "the client-credentials token of an ended session, after the app is enabled again", cc)
}
