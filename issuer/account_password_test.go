package issuer

import (
	"encoding/json"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/password"
	"github.com/erpgate/erpgate/store"
)

// carol has a login and a password long enough for every password rule
// to be reached.
const (
	carolLogin = "carol.example.com"
	carolPW    = "carol-old-password"
	carolNewPW = "carol new passphrase"
)

var cheapParams = password.Params{Memory: 64, Time: 1, Threads: 1}

// auditBuffer collects audit lines for a test.
type auditBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (a *auditBuffer) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sb.Write(p)
}

func (a *auditBuffer) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sb.String()
}

// newAccountServer is the test issuer wired as the gateway wires the
// account page: the directory and the store take password changes, the
// gateway's browser login is where signed-out browsers go, and the
// audit log is kept. carol (internal) and dave (internal, no password
// in the file) join the users.
func newAccountServer(t *testing.T, mutate func(*testConfig)) (*testServer, *auditBuffer) {
	t.Helper()
	var log auditBuffer
	ts := newTestServer(t, func(c *testConfig) {
		c.Passwords = c.Directory.(*directory.Table)
		c.PasswordChanges = c.store
		c.PasswordParams = cheapParams
		c.SignInURL = "http://gw.example/oauth2/start"
		c.Audit = audit.New(slog.NewJSONHandler(&log, nil))
		c.Users = append(c.Users,
			directory.User{Login: carolLogin, ID: "u-5", Name: "Carol", Type: directory.TypeInternal, PasswordHash: password.Hash(carolPW, cheapParams)},
			directory.User{Login: "dave", ID: "u-6", Name: "Dave", Type: directory.TypeInternal})
		if mutate != nil {
			mutate(c)
		}
	})
	return ts, &log
}

// pageCSRF is the anti-forgery token of a page's forms.
func pageCSRF(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the page has no CSRF field:\n%s", page)
	}
	return html.UnescapeString(m[1])
}

// accountPageOf GETs an account page and checks it is the page.
func accountPageOf(t *testing.T, b *browser, path string) string {
	t.Helper()
	resp, page := b.get(b.ts.issuer + path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Location"))
	}
	checkPageHeaders(t, resp)
	return page
}

// csrfCookieOf is b's anti-forgery cookie, which a page sets even when
// it shows no form.
func csrfCookieOf(t *testing.T, b *browser) string {
	t.Helper()
	u, _ := url.Parse(b.ts.issuer + "/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == csrfCookie {
			return c.Value
		}
	}
	t.Fatal("the browser has no anti-forgery cookie")
	return ""
}

// sidOf is the identity session of b's cookie.
func sidOf(t *testing.T, b *browser) string {
	t.Helper()
	u, _ := url.Parse(b.ts.issuer + "/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == identityCookie {
			sid, _, _ := strings.Cut(c.Value, ".")
			return sid
		}
	}
	return ""
}

// signInWithTokens signs b in to the web app with offline_access (if it is not
// signed in yet) and redeems the code: an access and a refresh token.
func signInWithTokens(t *testing.T, ts *testServer, b *browser, user, pw string) (access, refresh string) {
	t.Helper()
	p := newPKCE()
	q := authzQuery(webID, webRedirect, "openid offline_access read", p)
	resp, _ := b.signInTo(q, user, pw)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-in of %s: %d", user, resp.StatusCode)
	}
	code := redirectQuery(t, resp, webRedirect).Get("code")
	res := ts.exchange(t, webID, webSecret, codeForm(code, webRedirect, p.verifier))
	if res.status != http.StatusOK {
		t.Fatalf("code exchange: %d %v", res.status, res.body)
	}
	return res.body["access_token"].(string), res.body["refresh_token"].(string)
}

func (ts *testServer) refresh(t *testing.T, rt string) tokenResult {
	t.Helper()
	return ts.exchange(t, webID, webSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

func passwordForm(csrf, current, next, again string) url.Values {
	return url.Values{"csrf_token": {csrf}, "current_password": {current}, "new_password": {next}, "new_password_again": {again}}
}

// TestPasswordChangeRefusals: every rule refuses at its field — the
// current password must verify, the new one have 12 characters, not be
// the login or the current one, and be typed the same twice — several at
// once when several are broken; without the anti-forgery token nothing
// is checked. A refused change changes nothing.
func TestPasswordChangeRefusals(t *testing.T) {
	ts, _ := newAccountServer(t, nil)
	b := signedInBrowser(t, ts, carolLogin, carolPW)
	csrf := pageCSRF(t, accountPageOf(t, b, accountPasswordPath))
	const good = "a good new passphrase"
	for _, tc := range []struct {
		name       string
		form       url.Values
		wantStatus int
		fields     []fieldWant
		pageText   string
	}{
		{"no csrf token", passwordForm("", carolPW, good, good), http.StatusForbidden, nil, "The form expired"},
		{"forged csrf token", passwordForm(strings.Repeat("x", 43), carolPW, good, good), http.StatusForbidden, nil, "The form expired"},
		{"current missing", passwordForm(csrf, "", good, good), http.StatusBadRequest,
			[]fieldWant{{fieldCurrentPassword, "Enter your current password."}}, "Please correct the marked fields."},
		{"current wrong", passwordForm(csrf, "not-carols-password", good, good), http.StatusBadRequest,
			[]fieldWant{{fieldCurrentPassword, "This is not your current password."}}, ""},
		{"new missing", passwordForm(csrf, carolPW, "", ""), http.StatusBadRequest,
			[]fieldWant{{fieldNewPassword, "Enter a new password."}}, ""},
		{"11 characters", passwordForm(csrf, carolPW, "elevenchars", "elevenchars"), http.StatusBadRequest,
			[]fieldWant{{fieldNewPassword, "at least 12 characters"}}, ""},
		{"the login", passwordForm(csrf, carolPW, "Carol.Example.COM", "Carol.Example.COM"), http.StatusBadRequest,
			[]fieldWant{{fieldNewPassword, "must not be your login"}}, ""},
		{"the current one", passwordForm(csrf, carolPW, carolPW, carolPW), http.StatusBadRequest,
			[]fieldWant{{fieldNewPassword, "must differ from the current one"}}, ""},
		{"entries differ", passwordForm(csrf, carolPW, good, good+"!"), http.StatusBadRequest,
			[]fieldWant{{fieldNewPasswordRep, "The two entries of the new password differ."}}, ""},
		{"everything at once", passwordForm(csrf, "wrong", "short", "other"), http.StatusBadRequest,
			[]fieldWant{{fieldCurrentPassword, "not your current password"}, {fieldNewPassword, "at least 12"}, {fieldNewPasswordRep, "differ"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, page := b.post(ts.issuer+accountPasswordPath, tc.form)
			if resp.StatusCode != tc.wantStatus || !strings.Contains(page, tc.pageText) {
				t.Fatalf("%d, want %d with %q:\n%s", resp.StatusCode, tc.wantStatus, tc.pageText, page)
			}
			checkPageHeaders(t, resp)
			for _, f := range tc.fields {
				checkFieldError(t, page, f.field, f.text)
			}
			for _, id := range []string{fieldCurrentPassword, fieldNewPassword, fieldNewPasswordRep} {
				if !slices.ContainsFunc(tc.fields, func(f fieldWant) bool { return f.field == id }) && strings.Contains(page, `id="`+id+`-error"`) {
					t.Errorf("field %s is refused too", id)
				}
			}
			if strings.Contains(page, carolPW) || strings.Contains(page, good) {
				t.Error("the page shows a password that was typed")
			}
		})
	}
	changes, err := ts.store.PasswordChangesSince(t.Context(), time.Time{})
	if err != nil || len(changes) != 0 {
		t.Errorf("refused changes were stored: %v %v", changes, err)
	}
	if ts.directory.User(carolLogin).PasswordHash == "" || !signsIn(t, ts, carolLogin, carolPW) {
		t.Error("carol's password changed")
	}
}

// fieldWant is a refusal a page must tie to a field.
type fieldWant struct{ field, text string }

// signsIn reports whether user signs in with pw at the login form, in a
// new browser.
func signsIn(t *testing.T, ts *testServer, user, pw string) bool {
	t.Helper()
	b := newBrowser(t, ts)
	resp, _ := b.signInTo(authzQuery(webID, webRedirect, "openid", newPKCE()), user, pw)
	return resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), webRedirect+"?code=")
}

// TestPasswordChangeThrottled: a wrong current password counts as a
// failed sign-in of the account from the address (SPEC §3: login
// failures rate-limited per account and address), so the form is no
// password-guessing oracle: past the limit even the right password is
// answered 429 with Retry-After, unchecked, at its field, and the login
// form of the account from that address is refused alike.
func TestPasswordChangeThrottled(t *testing.T) {
	ts, log := newAccountServer(t, func(c *testConfig) { c.Limits.LoginFailuresPerAccountAddress = 3 })
	b := signedInBrowser(t, ts, carolLogin, carolPW)
	csrf := pageCSRF(t, accountPageOf(t, b, accountPasswordPath))
	const good = "a good new passphrase"
	for i := range 3 {
		resp, page := b.post(ts.issuer+accountPasswordPath, passwordForm(csrf, "guess-"+string(rune('a'+i)), good, good))
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("guess %d: %d", i+1, resp.StatusCode)
		}
		checkFieldError(t, page, fieldCurrentPassword, "not your current password")
	}
	resp, page := b.post(ts.issuer+accountPasswordPath, passwordForm(csrf, carolPW, good, good))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("the right password after 3 wrong ones: %d Retry-After %q, want 429 with it", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	checkFieldError(t, page, fieldCurrentPassword, "Too many failed sign-ins. Try again in")
	if changes, _ := ts.store.PasswordChangesSince(t.Context(), time.Time{}); len(changes) != 0 {
		t.Error("a throttled attempt changed the password")
	}
	if signsIn(t, ts, carolLogin, carolPW) {
		t.Error("the login form still takes carol's password from the address that guessed")
	}
	if n := strings.Count(log.String(), `"reason":"wrong_current_password"`); n != 3 {
		t.Errorf("%d wrong current passwords audited as failed sign-ins, want 3", n)
	}
	// The account page's refusal and the login form's.
	wantRefusals(t, ts, map[string]float64{metrics.LimiterLogin: 2})
	// Once the window has passed the owner changes it.
	*ts.now = ts.now.Add(16 * time.Minute)
	if resp, _ := b.post(ts.issuer+accountPasswordPath, passwordForm(csrf, carolPW, good, good)); resp.StatusCode != http.StatusOK {
		t.Errorf("after the window: %d", resp.StatusCode)
	}
}

// TestPasswordChange: the new password is in force at once and the old
// one refused; every other place carol was signed in is signed out
// (SPEC §5: "A password change revokes all of the user's refresh tokens
// and ends their identity sessions") — a second browser's session and
// its ERP session end, every refresh token (this browser's too) is
// refused and the access tokens issued with them are on the revocation
// list — while this browser stays signed in with a fresh session. The
// change is stored as an override of the file's hash, and audited.
func TestPasswordChange(t *testing.T) {
	ts, log := newAccountServer(t, nil)
	here := newBrowser(t, ts)
	hereAT, hereRT := signInWithTokens(t, ts, here, carolLogin, carolPW)
	other := newBrowser(t, ts)
	otherAT, otherRT := signInWithTokens(t, ts, other, carolLogin, carolPW)
	alice := signedInBrowser(t, ts, "alice", "alice-pw")
	oldHere, oldOther := sidOf(t, here), sidOf(t, other)
	if oldHere == "" || oldOther == "" || oldHere == oldOther {
		t.Fatalf("sessions %q and %q", oldHere, oldOther)
	}
	fileHash := ts.directory.User(carolLogin).PasswordHash

	csrf := pageCSRF(t, accountPageOf(t, here, accountPasswordPath))
	resp, page := here.post(ts.issuer+accountPasswordPath, passwordForm(csrf, carolPW, carolNewPW, carolNewPW))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Your password is changed.") {
		t.Fatalf("change: %d\n%s", resp.StatusCode, page)
	}
	checkPageHeaders(t, resp)

	// In force here at once, stored for every process.
	if !signsIn(t, ts, carolLogin, carolNewPW) || signsIn(t, ts, carolLogin, carolPW) {
		t.Error("after the change the new password must sign in and the old one not")
	}
	changes, err := ts.store.PasswordChangesSince(t.Context(), time.Time{})
	if err != nil || len(changes) != 1 || changes[0].Login != carolLogin || changes[0].Replaces != fileHash {
		t.Fatalf("stored changes %+v (%v), want carol's replacing the file's hash", changes, err)
	}
	if ok, _ := password.Verify(changes[0].Hash, carolNewPW); !ok || !strings.HasPrefix(changes[0].Hash, "$argon2id$") {
		t.Errorf("the stored hash %q is not argon2id of the new password", changes[0].Hash)
	}

	// This browser: signed in still, under a new session.
	newHere := sidOf(t, here)
	if newHere == "" || newHere == oldHere {
		t.Errorf("this browser's session: %q, want a fresh one (was %q)", newHere, oldHere)
	}
	accountPageOf(t, here, accountPath)
	// The other browser: signed out.
	if resp, _ := other.get(ts.issuer + accountPath); resp.StatusCode != http.StatusFound {
		t.Errorf("the other browser after the change: %d, want sent to sign in", resp.StatusCode)
	}
	for _, sid := range []string{oldHere, oldOther} {
		if sess, err := ts.store.IdentitySession(t.Context(), sid); err != nil || sess.EndedAt.IsZero() {
			t.Errorf("identity session %s: %+v %v, want ended", sid, sess, err)
		}
		if erp, err := ts.store.Session(t.Context(), sid); err != nil || erp.EndReason != store.EndLogout {
			t.Errorf("ERP session %s: %+v %v, want ended by logout", sid, erp, err)
		}
	}
	// Every refresh token refused, every access token issued with them
	// revoked.
	for name, rt := range map[string]string{"this browser's": hereRT, "the other browser's": otherRT} {
		if res := ts.refresh(t, rt); res.status != http.StatusBadRequest || res.body["error"] != "invalid_grant" {
			t.Errorf("%s refresh token after the change: %d %v, want invalid_grant", name, res.status, res.body)
		}
	}
	for name, at := range map[string]string{"this browser's": hereAT, "the other browser's": otherAT} {
		if !ts.revoked.Revoked(ts.accessClaims(t, at).ID) {
			t.Errorf("%s access token is not revoked", name)
		}
	}
	// Nobody else is touched.
	accountPageOf(t, alice, accountPath)

	var event struct {
		Event   string `json:"event"`
		Subject string `json:"subject"`
		Ended   int    `json:"sessions_ended"`
	}
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.Contains(line, `"event":"password.changed"`) {
			_ = json.Unmarshal([]byte(line), &event)
		}
	}
	if event.Subject != carolLogin || event.Ended != 2 {
		t.Errorf("audit: %+v, want password.changed for carol with 2 sessions ended", event)
	}
	if strings.Contains(log.String(), carolNewPW) || strings.Contains(log.String(), carolPW) {
		t.Error("a password is in the audit log")
	}

	// An operator who writes another hash into the file wins (the
	// change only overrides the hash it replaced).
	users := testUsers()
	users = append(users, directory.User{Login: carolLogin, ID: "u-5", Type: directory.TypeInternal, PasswordHash: password.Hash("operator-reset-pw", cheapParams)})
	ts.directory.SetConfig(testApps(), users)
	if signsIn(t, ts, carolLogin, carolNewPW) || !signsIn(t, ts, carolLogin, "operator-reset-pw") {
		t.Error("after the operator's reset the file's new password must be the one")
	}
}

// TestPasswordChangeNotHere: a user the file gives no password (dave)
// and a server without the password wiring get no form, and a POST
// changes nothing.
func TestPasswordChangeNotHere(t *testing.T) {
	t.Run("no password in the file", func(t *testing.T) {
		ts, _ := newAccountServer(t, nil)
		b := browserSignedInAs(t, ts, "dave")
		page := accountPageOf(t, b, accountPasswordPath)
		if !strings.Contains(page, `id="password-unavailable"`) || strings.Contains(page, `id="password-form"`) {
			t.Errorf("dave's password page:\n%s", page)
		}
		resp, _ := b.post(ts.issuer+accountPasswordPath, passwordForm(csrfCookieOf(t, b), "", "a good new passphrase", "a good new passphrase"))
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("dave's POST: %d, want 403", resp.StatusCode)
		}
		if changes, _ := ts.store.PasswordChangesSince(t.Context(), time.Time{}); len(changes) != 0 {
			t.Errorf("stored %v", changes)
		}
	})
	t.Run("no wiring", func(t *testing.T) {
		ts, _ := newAccountServer(t, func(c *testConfig) { c.Passwords, c.PasswordChanges = nil, nil })
		b := signedInBrowser(t, ts, carolLogin, carolPW)
		page := accountPageOf(t, b, accountPasswordPath)
		if !strings.Contains(page, `id="password-unavailable"`) {
			t.Errorf("the page without wiring offers the form:\n%s", page)
		}
		resp, _ := b.post(ts.issuer+accountPasswordPath, passwordForm(csrfCookieOf(t, b), carolPW, carolNewPW, carolNewPW))
		if resp.StatusCode != http.StatusForbidden || !signsIn(t, ts, carolLogin, carolPW) {
			t.Errorf("POST without wiring: %d", resp.StatusCode)
		}
	})
}

// browserSignedInAs is a browser holding an identity session of login
// made in the store, as a sign-in that needs no password here (a future
// external provider) would.
func browserSignedInAs(t *testing.T, ts *testServer, login string) *browser {
	t.Helper()
	secret := newSecret()
	sess := store.IdentitySession{ID: newID(), Subject: login, SecretHash: hashToken(secret),
		AuthTime: *ts.now, CreatedAt: *ts.now, ExpiresAt: ts.now.Add(time.Hour)}
	if err := ts.store.SaveIdentitySession(t.Context(), sess); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, ts)
	u, _ := url.Parse(ts.issuer + "/")
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: identityCookie, Value: sess.ID + "." + secret, Path: "/id/"}})
	return b
}
