package issuer

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/store"
)

// fakeRefTokens is an in-memory ReferenceTokens. It enforces no app
// policy, so the tests see what the page itself refuses.
type fakeRefTokens struct {
	mu      sync.Mutex
	now     func() time.Time
	tokens  []store.ReferenceToken
	issued  []reftoken.IssueRequest
	revoked []string // "id by actor"
	err     error    // Issue fails with it when set
}

func (f *fakeRefTokens) Issue(_ context.Context, req reftoken.IssueRequest) (reftoken.Issued, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return reftoken.Issued{}, f.err
	}
	f.issued = append(f.issued, req)
	value := fmt.Sprintf("%s%064X", reftoken.Prefix, len(f.issued)+0xABC0)
	t := store.ReferenceToken{
		ID: fmt.Sprintf("rt_%d", len(f.issued)), Hash: reftoken.Hash(value), Type: req.Type,
		ClientID: req.ClientID, Subject: req.Subject, Scopes: req.Scopes, CreatedAt: f.now(),
		CreatedBy: req.Actor, ExpiresAt: f.now().Add(req.ExpiresIn), Name: req.Name, Description: req.Description,
	}
	f.tokens = append(f.tokens, t)
	return reftoken.Issued{Value: value, Token: t}, nil
}

func (f *fakeRefTokens) List(_ context.Context, subject string) ([]store.ReferenceToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.ReferenceToken
	for _, t := range f.tokens {
		if subject == "" || t.Subject == subject {
			out = append(out, t)
		}
	}
	return out, nil
}

func (f *fakeRefTokens) Revoke(_ context.Context, id, actor string) (store.ReferenceToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.tokens {
		if f.tokens[i].ID == id {
			f.tokens[i].RevokedAt = f.now()
			f.revoked = append(f.revoked, id+" by "+actor)
			return f.tokens[i], nil
		}
	}
	return store.ReferenceToken{}, store.ErrNotFound
}

func (f *fakeRefTokens) Inspect(context.Context, string) (*claims.Access, store.ReferenceToken, error) {
	return nil, store.ReferenceToken{}, reftoken.ErrInvalid
}

func (f *fakeRefTokens) calls() (issued []reftoken.IssueRequest, revoked []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]reftoken.IssueRequest(nil), f.issued...), append([]string(nil), f.revoked...)
}

const (
	adminOnlyID = "com.example/other" // administrators_only in these tests
	rootPW      = "alice-pw"          // root shares alice's cheap hash
)

// newTokensServer is the test issuer with reference tokens: the web app
// lets any (internal) user have one, com.example/other only
// administrators, the others none. root is an administrator.
func newTokensServer(t *testing.T, mutate func(*testConfig)) (*testServer, *fakeRefTokens) {
	t.Helper()
	fake := &fakeRefTokens{now: func() time.Time { return testNow }}
	ts := newTestServer(t, func(c *testConfig) {
		c.ReferenceTokens = fake
		c.Users = append(c.Users, directory.User{Login: "root", ID: "u-9", Name: "Root", Type: "internal", Admin: true, PasswordHash: alicePasswordHash})
		for i := range c.Apps {
			switch c.Apps[i].ID {
			case webID:
				c.Apps[i].ReferenceTokens = reftoken.PolicyAuthenticatedUsers
			case adminOnlyID:
				c.Apps[i].ReferenceTokens = reftoken.PolicyAdministratorsOnly
			}
		}
		if mutate != nil {
			mutate(c)
		}
	})
	return ts, fake
}

// signedInBrowser is a browser with an identity session of user, made by
// signing in to the web app.
func signedInBrowser(t *testing.T, ts *testServer, user, pw string) *browser {
	t.Helper()
	b := newBrowser(t, ts)
	q := b.login(authzQuery(webID, webRedirect, "read", newPKCE()), user, pw)
	if q.Get("code") == "" {
		t.Fatalf("signing in as %s: %v", user, q)
	}
	return b
}

// tokensPageOf GETs the page and checks it is the page, not a redirect.
func tokensPageOf(t *testing.T, b *browser) (*http.Response, string, url.Values) {
	t.Helper()
	resp, page := b.get(b.ts.issuer + tokensPath)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", tokensPath, resp.StatusCode, resp.Header.Get("Location"))
	}
	checkPageHeaders(t, resp)
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the tokens page has no CSRF field:\n%s", page)
	}
	return resp, page, url.Values{"csrf_token": {html.UnescapeString(m[1])}}
}

// checkPageHeaders: the same protections as the login page (SPEC §3: "the
// login form has CSRF protection and anti-framing headers").
func checkPageHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	for k, want := range map[string]string{
		"X-Frame-Options":        "DENY",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q does not forbid framing and scripts", csp)
	}
}

// testTokenName is the name createForm gives every token.
const testTokenName = "CI script"

func createForm(csrf url.Values, app string, days string, scopes ...string) url.Values {
	f := url.Values{"csrf_token": csrf["csrf_token"], "app": {app}, "expires_days": {days}, "name": {testTokenName}}
	for _, s := range scopes {
		f.Add("scope", s)
	}
	return f
}

func TestTokensPageNeedsSignIn(t *testing.T) {
	t.Run("sent to the gateway's browser login", func(t *testing.T) {
		ts, fake := newTokensServer(t, func(c *testConfig) { c.SignInURL = "/oauth2/start" })
		b := newBrowser(t, ts)
		want := "/oauth2/start?rd=" + url.QueryEscape("/id/account/tokens")
		resp, _ := b.get(ts.issuer + tokensPath)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
			t.Errorf("GET without a session: %d %q, want 302 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
		}
		resp, _ = b.post(ts.issuer+tokensPath, url.Values{"app": {webID}, "scope": {"read"}, "expires_days": {"7"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("POST without a session: %d %q, want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
		}
		if issued, _ := fake.calls(); len(issued) != 0 {
			t.Errorf("a token was issued without a session: %v", issued)
		}
	})
	t.Run("told to sign in through an application", func(t *testing.T) {
		ts, _ := newTokensServer(t, nil)
		resp, page := newBrowser(t, ts).get(ts.issuer + tokensPath)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "Sign in to an application") {
			t.Errorf("GET without a session and no browser login: %d\n%s", resp.StatusCode, page)
		}
		checkPageHeaders(t, resp)
	})
	t.Run("ended identity session", func(t *testing.T) {
		ts, _ := newTokensServer(t, func(c *testConfig) { c.SignInURL = "/oauth2/start" })
		b := signedInBrowser(t, ts, "alice", "alice-pw")
		*ts.now = ts.now.Add(13 * time.Hour) // past IdentitySessionTTL
		if resp, _ := b.get(ts.issuer + tokensPath); resp.StatusCode != http.StatusFound {
			t.Errorf("GET with an expired identity session: %d, want 302", resp.StatusCode)
		}
	})
	t.Run("no reference-token service: 404", func(t *testing.T) {
		ts := newTestServer(t, nil)
		b := signedInBrowser(t, ts, "alice", "alice-pw")
		if resp, _ := b.get(ts.issuer + tokensPath); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET without ReferenceTokens: %d, want 404", resp.StatusCode)
		}
	})
}

func TestTokensPageCreateShowsValueOnce(t *testing.T) {
	ts, fake := newTokensServer(t, nil)
	b := signedInBrowser(t, ts, "alice", "alice-pw")
	_, page, csrf := tokensPageOf(t, b)
	if !strings.Contains(page, `id="no-tokens"`) || !strings.Contains(page, `<option value="`+webID+`"`) {
		t.Fatalf("first visit: want no tokens and the web app offered:\n%s", page)
	}
	// The first app is preselected with its read scope (SPEC §10: a
	// default scope), and the page is in the account area's navigation.
	if !strings.Contains(page, `<option value="`+webID+`" selected>`) || !strings.Contains(page, `id="scope-read" name="scope" value="read" checked`) ||
		strings.Contains(page, `value="update" checked`) {
		t.Errorf("first visit: want the web app and its read scope preselected:\n%s", page)
	}
	if !strings.Contains(page, `id="nav-tokens" href="/id/account/tokens" aria-current="page"`) || !strings.Contains(page, `id="nav-password"`) {
		t.Errorf("the tokens page lacks the account navigation")
	}
	for _, id := range []string{syncID, "com.example/spa", "com.example/off"} {
		if strings.Contains(page, `value="`+id+`"`) {
			t.Errorf("%s (policy none or disabled) is offered", id)
		}
	}

	form := createForm(csrf, webID, "30", "read", "update")
	form.Set("name", "  "+testTokenName+"  ")
	form.Set("description", "Deploys from the CI server")
	resp, page := b.post(ts.issuer+tokensPath, form)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create: %d\n%s", resp.StatusCode, page)
	}
	checkPageHeaders(t, resp)
	issued, _ := fake.calls()
	if len(issued) != 1 {
		t.Fatalf("issued %d tokens, want 1", len(issued))
	}
	want := reftoken.IssueRequest{Type: store.PersonalAccessToken, ClientID: webID, Subject: "alice", Actor: "alice", ExpiresIn: 30 * 24 * time.Hour}
	got := issued[0]
	if got.Type != want.Type || got.ClientID != want.ClientID || got.Subject != want.Subject || got.Actor != want.Actor ||
		got.ExpiresIn != want.ExpiresIn || strings.Join(got.Scopes, " ") != "read update" ||
		got.Name != testTokenName || got.Description != "Deploys from the CI server" {
		t.Errorf("issue request %+v, want %+v with scopes read update", got, want)
	}
	fake.mu.Lock()
	tok := fake.tokens[0]
	fake.mu.Unlock()
	value := regexp.MustCompile(`<code class="secret-value" id="new-token-value">(enrt_[0-9A-F]{64})</code>`).FindStringSubmatch(page)
	if value == nil {
		t.Fatalf("the new value is not shown:\n%s", page)
	}
	if reftoken.Hash(value[1]) != tok.Hash {
		t.Error("the value shown is not the issued token's")
	}
	if !strings.Contains(page, "will not be shown again") {
		t.Error("the page does not say the value will not be shown again")
	}
	if strings.Contains(page, tok.Hash) {
		t.Error("the page shows the token's hash")
	}
	if !strings.Contains(page, `id="token-`+tok.ID+`"`) {
		t.Error("the new token is not listed")
	}

	// A reload shows the token, never its value.
	_, page, _ = tokensPageOf(t, b)
	if strings.Contains(page, value[1]) || strings.Contains(page, "new-token-value") || strings.Contains(page, tok.Hash) {
		t.Fatalf("a reload shows the value or hash again:\n%s", page)
	}
	row := regexp.MustCompile(`(?s)<tr id="token-` + tok.ID + `">.*?</tr>`).FindString(page)
	for _, w := range []string{testTokenName, "Deploys from the CI server", "Web App", "read update", "1 Mar 2026, 12:00 UTC", "31 Mar 2026, 12:00 UTC", "never", "active", `id="revoke-` + tok.ID + `"`} {
		if !strings.Contains(row, w) {
			t.Errorf("the token's row lacks %q:\n%s", w, row)
		}
	}
}

func TestTokensPageCreateRefusals(t *testing.T) {
	ts, fake := newTokensServer(t, nil)
	b := signedInBrowser(t, ts, "alice", "alice-pw")
	_, _, csrf := tokensPageOf(t, b)
	for _, tt := range []struct {
		name       string
		form       url.Values
		wantStatus int
		wantText   string
	}{
		{"no csrf token", createForm(url.Values{}, webID, "30", "read"), http.StatusForbidden, "The form expired"},
		{"forged csrf token", createForm(url.Values{"csrf_token": {strings.Repeat("x", 43)}}, webID, "30", "read"), http.StatusForbidden, "The form expired"},
		{"app without reference tokens", createForm(csrf, syncID, "30", "read"), http.StatusForbidden, "You cannot create tokens for this application."},
		{"administrators_only app", createForm(csrf, adminOnlyID, "30", "read"), http.StatusForbidden, "You cannot create tokens for this application."},
		{"unknown app", createForm(csrf, "com.example/nope", "30", "read"), http.StatusForbidden, "You cannot create tokens"},
		{"scope the app lacks", createForm(csrf, webID, "30", "sec"), http.StatusBadRequest, "The scope “sec” is not available for Web App."},
		{"no scope", createForm(csrf, webID, "30"), http.StatusBadRequest, "Choose at least one scope."},
		{"expiry not offered", createForm(csrf, webID, "3650", "read"), http.StatusBadRequest, "Choose how long"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, page := b.post(ts.issuer+tokensPath, tt.form)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(page, tt.wantText) {
				t.Errorf("%d, want %d with %q:\n%s", resp.StatusCode, tt.wantStatus, tt.wantText, page)
			}
			checkPageHeaders(t, resp)
			if strings.Contains(page, "new-token-value") {
				t.Error("a refused request shows a token value")
			}
		})
	}
	// The name is required and, like the description, bounded and one
	// line of text; each refusal is tied to its field (aria-invalid,
	// aria-describedby naming the field's error text) and the form is
	// filled in again.
	for _, tt := range []struct {
		name, field, tokenName, desc, wantText string
	}{
		{"no name", "token-name", "", "", "Give the token a name."},
		{"blank name", "token-name", "   ", "", "Give the token a name."},
		{"name of 65 characters", "token-name", strings.Repeat("я", 65), "", "The name must have at most 64 characters."},
		{"name on two lines", "token-name", "a\nb", "", "The name must be plain text on one line."},
		{"description of 257 characters", "token-description", testTokenName, strings.Repeat("d", 257), "The description must have at most 256 characters."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := createForm(csrf, webID, "90", "update")
			f.Set("name", tt.tokenName)
			f.Set("description", tt.desc)
			resp, page := b.post(ts.issuer+tokensPath, f)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, tt.wantText) {
				t.Fatalf("%d, want 400 with %q:\n%s", resp.StatusCode, tt.wantText, page)
			}
			checkFieldError(t, page, tt.field, tt.wantText)
			if !strings.Contains(page, `<option value="90" selected>`) || !strings.Contains(page, `value="update" checked`) || strings.Contains(page, `value="read" checked`) {
				t.Error("the form is not filled in again after an error")
			}
		})
	}
	if issued, _ := fake.calls(); len(issued) != 0 {
		t.Errorf("refused requests issued tokens: %+v", issued)
	}

	t.Run("service errors in words", func(t *testing.T) {
		fake.mu.Lock()
		fake.err = fmt.Errorf("%w: expiry must be between 1s and 720h0m0s", reftoken.ErrBadRequest)
		fake.mu.Unlock()
		resp, page := b.post(ts.issuer+tokensPath, createForm(csrf, webID, "365", "read"))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "The token was not created: Expiry must be between 1s and 720h0m0s.") {
			t.Errorf("bad request from the service: %d\n%s", resp.StatusCode, page)
		}
		if !strings.Contains(page, `<option value="365" selected>`) || !strings.Contains(page, `value="read" checked`) {
			t.Error("the form is not filled in again after an error")
		}
		fake.mu.Lock()
		fake.err = fmt.Errorf("%w: internal users may not use %q", reftoken.ErrNotAllowed, webID)
		fake.mu.Unlock()
		resp, page = b.post(ts.issuer+tokensPath, createForm(csrf, webID, "30", "read"))
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "Internal users may not use") {
			t.Errorf("not allowed by the service: %d\n%s", resp.StatusCode, page)
		}
		fake.mu.Lock()
		fake.err = fmt.Errorf("database on fire")
		fake.mu.Unlock()
		resp, page = b.post(ts.issuer+tokensPath, createForm(csrf, webID, "30", "read"))
		if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(page, "fire") {
			t.Errorf("an unexpected error: %d, and its text must not be shown\n%s", resp.StatusCode, page)
		}
	})
}

func TestTokensPageAppsByUser(t *testing.T) {
	ts, fake := newTokensServer(t, nil)
	offered := func(page, id string) bool { return strings.Contains(page, `<option value="`+id+`"`) }

	_, page, _ := tokensPageOf(t, signedInBrowser(t, ts, "alice", "alice-pw"))
	if offered(page, adminOnlyID) {
		t.Error("a non-admin is offered an administrators_only app")
	}

	root := signedInBrowser(t, ts, "root", rootPW)
	_, page, csrf := tokensPageOf(t, root)
	if !offered(page, adminOnlyID) || !offered(page, webID) {
		t.Errorf("an administrator is not offered both apps:\n%s", page)
	}
	if resp, page := root.post(ts.issuer+tokensPath, createForm(csrf, adminOnlyID, "7", "read")); resp.StatusCode != http.StatusOK || !strings.Contains(page, "new-token-value") {
		t.Errorf("an administrator creating a token for an administrators_only app: %d", resp.StatusCode)
	}
	if issued, _ := fake.calls(); len(issued) != 1 || issued[0].Subject != "root" || issued[0].Actor != "root" {
		t.Errorf("issued %+v, want one for root", issued)
	}
}

func TestTokensPageRevoke(t *testing.T) {
	ts, fake := newTokensServer(t, nil)
	alice := signedInBrowser(t, ts, "alice", "alice-pw")
	_, _, csrf := tokensPageOf(t, alice)
	if resp, _ := alice.post(ts.issuer+tokensPath, createForm(csrf, webID, "7", "read")); resp.StatusCode != http.StatusOK {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	root := signedInBrowser(t, ts, "root", rootPW)
	_, _, rootCSRF := tokensPageOf(t, root)
	if resp, _ := root.post(ts.issuer+tokensPath, createForm(rootCSRF, webID, "7", "read")); resp.StatusCode != http.StatusOK {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	revokeURL := ts.issuer + tokensPath + "/revoke"
	confirmed := func(id string, csrf url.Values) url.Values {
		return url.Values{"id": {id}, "csrf_token": csrf["csrf_token"], "confirm": {"yes"}}
	}

	t.Run("csrf token required", func(t *testing.T) {
		for _, f := range []url.Values{{"id": {"rt_1"}, "confirm": {"yes"}}, {"id": {"rt_1"}, "confirm": {"yes"}, "csrf_token": {strings.Repeat("y", 43)}}} {
			if resp, _ := alice.post(revokeURL, f); resp.StatusCode != http.StatusForbidden {
				t.Errorf("revoke with %v: %d, want 403", f, resp.StatusCode)
			}
		}
		if _, revoked := fake.calls(); len(revoked) != 0 {
			t.Errorf("revoked without a CSRF token: %v", revoked)
		}
	})
	t.Run("not someone else's", func(t *testing.T) {
		resp, page := alice.get(revokeURL + "?id=rt_2")
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "no such token") || strings.Contains(page, "confirm-revoke") {
			t.Errorf("alice asked to confirm revoking root's token: %d\n%s", resp.StatusCode, page)
		}
		resp, page = alice.post(revokeURL, confirmed("rt_2", csrf))
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "no such token") {
			t.Errorf("alice revoking root's token: %d\n%s", resp.StatusCode, page)
		}
		if _, revoked := fake.calls(); len(revoked) != 0 {
			t.Errorf("revoked: %v", revoked)
		}
	})
	t.Run("asks first", func(t *testing.T) {
		// The list's Revoke button is a GET of the confirmation, which
		// names the token and changes nothing; a POST without confirm
		// (an older page) is shown the confirmation too.
		_, page, _ := tokensPageOf(t, alice)
		if !regexp.MustCompile(`<form method="get" action="/id/account/tokens/revoke">\s*<input type="hidden" name="id" value="rt_1">\s*<button class="small danger" id="revoke-rt_1"`).MatchString(page) {
			t.Errorf("the Revoke button does not lead to the confirmation:\n%s", page)
		}
		for _, ask := range []func() (*http.Response, string){
			func() (*http.Response, string) { return alice.get(revokeURL + "?id=rt_1") },
			func() (*http.Response, string) {
				return alice.post(revokeURL, url.Values{"id": {"rt_1"}, "csrf_token": csrf["csrf_token"]})
			},
		} {
			resp, page := ask()
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="revoke-token-name">`+testTokenName+`<`) ||
				!strings.Contains(page, `id="revoke-token-id">rt_1<`) || !strings.Contains(page, `id="confirm-revoke"`) ||
				!strings.Contains(page, `name="confirm" value="yes"`) || !strings.Contains(page, `id="cancel-revoke" href="/id/account/tokens"`) {
				t.Errorf("confirmation: %d\n%s", resp.StatusCode, page)
			}
			checkPageHeaders(t, resp)
		}
		if _, revoked := fake.calls(); len(revoked) != 0 {
			t.Errorf("asking revoked: %v", revoked)
		}
	})
	t.Run("own token", func(t *testing.T) {
		resp, page := alice.post(revokeURL, confirmed("rt_1", csrf))
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Token “"+testTokenName+"” (rt_1) is revoked") {
			t.Fatalf("revoke: %d\n%s", resp.StatusCode, page)
		}
		checkPageHeaders(t, resp)
		if _, revoked := fake.calls(); len(revoked) != 1 || revoked[0] != "rt_1 by alice" {
			t.Errorf("revoked %v, want rt_1 by alice", revoked)
		}
		_, page, _ = tokensPageOf(t, alice)
		row := regexp.MustCompile(`(?s)<tr id="token-rt_1">.*?</tr>`).FindString(page)
		if !strings.Contains(row, "revoked 1 Mar 2026, 12:00 UTC") || strings.Contains(row, "revoke-rt_1") {
			t.Errorf("the revoked token's row:\n%s", row)
		}
		resp, page = alice.post(revokeURL, confirmed("rt_1", csrf))
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "already revoked") {
			t.Errorf("revoking again: %d", resp.StatusCode)
		}
		if resp, page := alice.get(revokeURL + "?id=rt_1"); resp.StatusCode != http.StatusOK || !strings.Contains(page, "already revoked") || strings.Contains(page, "confirm-revoke") {
			t.Errorf("asking to revoke a revoked token: %d", resp.StatusCode)
		}
		if _, revoked := fake.calls(); len(revoked) != 1 {
			t.Errorf("revoked twice: %v", revoked)
		}
	})
}

// checkFieldError fails t unless the page's field id is marked invalid
// and described by an error text saying want (WCAG 3.3.1: the error is
// identified and described in text, tied to its field).
func checkFieldError(t *testing.T, page, id, want string) {
	t.Helper()
	field := regexp.MustCompile(`<(?:input|textarea|select)[^>]* id="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(page)
	if field == "" {
		t.Fatalf("no field %s on the page", id)
	}
	if !strings.Contains(field, `aria-invalid="true"`) {
		t.Errorf("field %s is not marked invalid: %s", id, field)
	}
	m := regexp.MustCompile(`aria-describedby="([^"]*)"`).FindStringSubmatch(field)
	if m == nil || !slices.Contains(strings.Fields(m[1]), id+"-error") {
		t.Fatalf("field %s is not described by %s-error: %s", id, id, field)
	}
	msg := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `-error">([^<]*)<`).FindStringSubmatch(page)
	if msg == nil || !strings.Contains(html.UnescapeString(msg[1]), want) {
		t.Errorf("the error text of %s is %v, want %q", id, msg, want)
	}
}
