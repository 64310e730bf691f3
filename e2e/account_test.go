package e2e

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// The account page's paths (SPEC §10).
const (
	accountPagePath     = "/id/account"
	accountPasswordPath = "/id/account/password"
	accountSessionsPath = "/id/account/sessions"
)

var (
	csrfField   = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	sessionRow  = regexp.MustCompile(`<tr id="session-([^"]+)"`)
	profileName = regexp.MustCompile(`id="profile-login">([^<]*)<`)
)

// accountPage GETs an account page with b and returns it; it must be the
// page itself (not the login page), at its own address.
func accountPage(t *testing.T, b *browser, g *Gateway, path string) string {
	t.Helper()
	resp, body := b.do(http.MethodGet, g.PublicURL+path, nil)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != path || strings.Contains(body, `id="password"`) {
		t.Fatalf("GET %s: %d at %s, want the page:\n%s", path, resp.StatusCode, resp.Request.URL, body)
	}
	return body
}

// signedOutOfAccount reports whether b, opening the account page, is
// sent to the login page.
func signedOutOfAccount(t *testing.T, b *browser, g *Gateway) bool {
	t.Helper()
	resp, body := b.do(http.MethodGet, g.PublicURL+accountPagePath, nil)
	return resp.StatusCode == http.StatusOK && strings.Contains(body, `id="password"`) && strings.Contains(resp.Request.URL.Path, "/id/account/login")
}

func formCSRF(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the page has no form:\n%s", page)
	}
	return html.UnescapeString(m[1])
}

// TestAccountPageHTTP walks the account page (SPEC §10) against the
// built binary with a plain HTTP client: a signed-out browser opening
// /id/account is sent through the gateway's sign-in and back; from it,
// alice ends her session in a second browser (which is then signed out),
// and changes her password — the second browser, signed in again, is
// signed out by the change while the first stays signed in; the old
// password is refused at the login page and the new one accepted; the
// change is audited without the password.
func TestAccountPageHTTP(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{})
	const newPassword = "alice's new e2e passphrase"

	// 1. Signed out, the account page sends the browser through the
	// gateway's sign-in, which returns it to the page.
	first := newHTTPBrowser(t)
	resp, body := first.signIn(g, g.PublicURL+accountPagePath, aliceLogin, alicePassword)
	if m := profileName.FindStringSubmatch(body); resp.StatusCode != http.StatusOK || resp.Request.URL.Path != accountPagePath || m == nil || m[1] != aliceLogin {
		t.Fatalf("after sign-in: %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	second := newHTTPBrowser(t)
	if resp, _ := second.signIn(g, g.PublicURL+accountPagePath, aliceLogin, alicePassword); resp.Request.URL.Path != accountPagePath {
		t.Fatalf("the second browser's sign-in ended at %s", resp.Request.URL)
	}

	// 2. "My sessions" in the first browser lists both; end the second.
	page := accountPage(t, first, g, accountSessionsPath)
	rows := sessionRow.FindAllStringSubmatch(page, -1)
	if len(rows) != 2 || !strings.Contains(page, `id="this-browser"`) {
		t.Fatalf("my sessions lists %d sessions, want 2 with this browser marked:\n%s", len(rows), page)
	}
	other := rows[1][1] // this browser's is listed first
	form := url.Values{"csrf_token": {formCSRF(t, page)}, "session": {other}}
	resp, page = first.do(http.MethodPost, g.PublicURL+accountSessionsPath+"/end", form)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="message"`) || strings.Contains(page, `id="session-`+other+`"`) {
		t.Fatalf("end the second session: %d\n%s", resp.StatusCode, page)
	}
	if !signedOutOfAccount(t, second, g) {
		t.Error("the second browser is still signed in after its session was ended")
	}
	accountPage(t, first, g, accountPagePath)

	// 3. The second browser signs in again; the first changes the
	// password.
	if resp, _ := second.signIn(g, g.PublicURL+accountPagePath, aliceLogin, alicePassword); resp.Request.URL.Path != accountPagePath {
		t.Fatalf("the second browser's second sign-in ended at %s", resp.Request.URL)
	}
	page = accountPage(t, first, g, accountPasswordPath)
	form = url.Values{"csrf_token": {formCSRF(t, page)}, "current_password": {alicePassword},
		"new_password": {newPassword}, "new_password_again": {newPassword}}
	resp, page = first.do(http.MethodPost, g.PublicURL+accountPasswordPath, form)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="message"`) {
		t.Fatalf("change the password: %d\n%s", resp.StatusCode, page)
	}
	if !signedOutOfAccount(t, second, g) {
		t.Error("the second browser is still signed in after the password change")
	}
	accountPage(t, first, g, accountPagePath) // the first stays signed in

	// 4. The old password is refused, the new one signs in.
	resp, body = newHTTPBrowser(t).signIn(g, g.PublicURL+accountPagePath, aliceLogin, alicePassword)
	if resp.Request.URL.Path == accountPagePath || !strings.Contains(body, `id="error"`) {
		t.Errorf("the old password: at %s, want the login page with an error", resp.Request.URL)
	}
	resp, body = newHTTPBrowser(t).signIn(g, g.PublicURL+accountPagePath, aliceLogin, newPassword)
	if m := profileName.FindStringSubmatch(body); resp.Request.URL.Path != accountPagePath || m == nil || m[1] != aliceLogin {
		t.Errorf("the new password: at %s, want the account page", resp.Request.URL)
	}

	// 5. Audit (SPEC §8): the change and the ended session, never a
	// password.
	var changed, loggedOut bool
	for _, e := range auditEvents(t, g.Stderr()) {
		changed = changed || e.Event == "password.changed" && e.Subject == aliceLogin
		loggedOut = loggedOut || e.Event == "logout" && e.Subject == aliceLogin && e.Session == other
	}
	if !changed || !loggedOut {
		t.Errorf("audit log: password.changed %v, logout of the ended session %v; want both", changed, loggedOut)
	}
	if strings.Contains(g.Stdout()+g.Stderr(), newPassword) || strings.Contains(g.Stdout()+g.Stderr(), alicePassword) {
		t.Error("a password is in the logs")
	}
}
