package issuer

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/erpgate/erpgate/password"
)

// fakeResets is PasswordResets over a map of tokens, as gateway.Users
// answers: a token is usable once; used and expired ones say so.
type fakeResets struct {
	mu     sync.Mutex
	login  map[string]string // token -> login
	state  map[string]error  // token -> why it no longer works
	hashes map[string]string // login -> the hash Reset set
}

func newFakeResets() *fakeResets {
	return &fakeResets{login: map[string]string{}, state: map[string]error{}, hashes: map[string]string{}}
}

func (f *fakeResets) CheckReset(_ context.Context, token string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	login, ok := f.login[token]
	if !ok {
		return "", ErrResetInvalid
	}
	if err := f.state[token]; err != nil {
		return "", err
	}
	return login, nil
}

func (f *fakeResets) Reset(ctx context.Context, token, hash string) (string, error) {
	login, err := f.CheckReset(ctx, token)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state[token] = ErrResetUsed
	f.hashes[login] = hash
	return login, nil
}

func resetForm(csrf, token, next, again string) url.Values {
	return url.Values{"csrf_token": {csrf}, "token": {token}, "new_password": {next}, "new_password_again": {again}}
}

// TestResetLink: a usable link shows the form (page headers as every
// page: no-referrer, no-store); the new password must follow the account
// page's rules and the form carry the anti-forgery token; an accepted
// password is handed over hashed (argon2id), once: the link then says it
// was used. Unknown, used and expired links get a clear page, and never
// reach the form.
func TestResetLink(t *testing.T) {
	resets := newFakeResets()
	resets.login["tok-carol"] = carolLogin
	resets.login["tok-used"], resets.state["tok-used"] = carolLogin, ErrResetUsed
	resets.login["tok-expired"], resets.state["tok-expired"] = carolLogin, ErrResetExpired
	ts, auditLog := newAccountServer(t, func(c *testConfig) { c.PasswordResets = resets })
	b := newBrowser(t, ts)
	resetURL := ts.issuer + AccountResetPath

	for _, tc := range []struct {
		token  string
		status int
		text   string
	}{
		{"", http.StatusNotFound, "This password reset link is not valid"},
		{"tok-unknown", http.StatusNotFound, "This password reset link is not valid"},
		{"tok-used", http.StatusGone, "was used already"},
		{"tok-expired", http.StatusGone, "has expired"},
	} {
		resp, page := b.get(resetURL + "?token=" + tc.token)
		if resp.StatusCode != tc.status || !strings.Contains(page, tc.text) || strings.Contains(page, `id="reset-form"`) {
			t.Errorf("link %q: %d, want %d with %q and no form:\n%s", tc.token, resp.StatusCode, tc.status, tc.text, page)
		}
		checkPageHeaders(t, resp)
	}

	resp, page := b.get(resetURL + "?token=tok-carol")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="reset-form"`) || !strings.Contains(page, `value="`+carolLogin+`"`) {
		t.Fatalf("usable link: %d\n%s", resp.StatusCode, page)
	}
	checkPageHeaders(t, resp)
	if !strings.Contains(page, `<form method="post" action="/id`+AccountResetPath+`" id="reset-form"`) {
		t.Errorf("the form does not post to the reset page under the issuer's prefix:\n%s", page)
	}
	csrf := pageCSRF(t, page)
	const good = "carol resets her passphrase"
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		field  string
		text   string
	}{
		{"no csrf token", resetForm("", "tok-carol", good, good), http.StatusForbidden, "", "The form expired"},
		{"too short", resetForm(csrf, "tok-carol", "elevenchars", "elevenchars"), http.StatusBadRequest, fieldNewPassword, "at least 12 characters"},
		{"the login", resetForm(csrf, "tok-carol", strings.ToUpper(carolLogin), strings.ToUpper(carolLogin)), http.StatusBadRequest, fieldNewPassword, "must not be your login"},
		{"entries differ", resetForm(csrf, "tok-carol", good, good+"!"), http.StatusBadRequest, fieldNewPasswordRep, "differ"},
		{"another link", resetForm(csrf, "tok-used", good, good), http.StatusGone, "", "was used already"},
	} {
		resp, page := b.post(resetURL, tc.form)
		if resp.StatusCode != tc.status || !strings.Contains(page, tc.text) {
			t.Errorf("%s: %d, want %d with %q:\n%s", tc.name, resp.StatusCode, tc.status, tc.text, page)
			continue
		}
		if tc.field != "" {
			checkFieldError(t, page, tc.field, tc.text)
		}
		if strings.Contains(page, good) {
			t.Errorf("%s: the page repeats the password", tc.name)
		}
	}
	if len(resets.hashes) != 0 {
		t.Fatalf("a refused form set a password: %v", resets.hashes)
	}

	resp, page = b.post(resetURL, resetForm(csrf, "tok-carol", good, good))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Your new password is set") ||
		!strings.Contains(page, `href="http://gw.example/oauth2/start?rd=%2Fid%2Faccount"`) {
		t.Fatalf("reset: %d\n%s", resp.StatusCode, page)
	}
	hash := resets.hashes[carolLogin]
	if ok, err := password.Verify(hash, good); !ok || err != nil {
		t.Errorf("the hash handed over (%q) does not verify the new password: %v", hash, err)
	}
	if log := auditLog.String(); !strings.Contains(log, `"event":"password.changed"`) || !strings.Contains(log, `"reason":"reset_link"`) ||
		strings.Contains(log, "tok-carol") {
		t.Errorf("audit after the reset: %s; want password.changed, reason reset_link, no token", log)
	}
	// The link works once.
	if resp, page := b.get(resetURL + "?token=tok-carol"); resp.StatusCode != http.StatusGone || !strings.Contains(page, "was used already") {
		t.Errorf("the link after use: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := b.post(resetURL, resetForm(csrf, "tok-carol", good+" again", good+" again")); resp.StatusCode != http.StatusGone {
		t.Errorf("posting the used link again: %d, want 410", resp.StatusCode)
	}
}

// TestResetLinkOff: without PasswordResets there is no reset page.
func TestResetLinkOff(t *testing.T) {
	ts, _ := newAccountServer(t, nil)
	resp, _ := newBrowser(t, ts).get(ts.issuer + AccountResetPath + "?token=x")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET %s without PasswordResets: %d, want 404", AccountResetPath, resp.StatusCode)
	}
}
