package issuer

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/mfa"
)

var (
	secretOnPage   = regexp.MustCompile(`<code class="secret-value" id="secret">([A-Z2-7 ]+)</code>`)
	recoveryOnPage = regexp.MustCompile(`<pre class="secret-value" id="recovery-codes">([^<]*)</pre>`)
	nextOnPage     = regexp.MustCompile(`<a class="button" id="next" href="([^"]+)">`)
	csrfOnPage     = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
)

// pageSecret is the TOTP secret an enrolment page shows for typing.
func pageSecret(t *testing.T, page string) string {
	t.Helper()
	m := secretOnPage.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, "<svg ") {
		t.Fatalf("no QR code and secret on the page:\n%s", page)
	}
	return strings.ReplaceAll(m[1], " ", "")
}

func pageRecovery(t *testing.T, page string) []string {
	t.Helper()
	m := recoveryOnPage.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no recovery codes on the page:\n%s", page)
	}
	codes := strings.Fields(m[1])
	if len(codes) != mfa.RecoveryCodes {
		t.Fatalf("%d recovery codes", len(codes))
	}
	return codes
}

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := mfa.Code(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// passwordStep walks authorize → login page → password and returns the
// answer to the password (a redirect: to the app, or to the second step).
func (b *browser) passwordStep(q url.Values, user, pw string) *http.Response {
	b.t.Helper()
	resp, _ := b.get(b.ts.issuer + "/connect/authorize?" + q.Encode())
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/account/login?") {
		b.t.Fatalf("authorize without a session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := b.get(b.ts.URL + resp.Header.Get("Location"))
	f := formFields(page)
	f.Set("login", user)
	f.Set("password", pw)
	resp, _ = b.post(b.ts.issuer+"/account/login", f)
	return resp
}

// secondStep follows the password step's redirect to the second step
// and returns that page; it fails unless there is one.
func (b *browser) secondStep(resp *http.Response) string {
	b.t.Helper()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/id"+mfaPath+"?") {
		b.t.Fatalf("after the first factor: %d %s, want 303 to the second step", resp.StatusCode, loc)
	}
	resp, page := b.get(b.ts.URL + loc)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		b.t.Fatalf("second step page: %d\n%s", resp.StatusCode, page)
	}
	return page
}

// submitCode posts code on a second-step page.
func (b *browser) submitCode(page, code string) (*http.Response, string) {
	b.t.Helper()
	f := formFields(page)
	f.Set("code", code)
	return b.post(b.ts.issuer+mfaPath, f)
}

// accountPost posts form to an account page action with the page's
// anti-forgery token.
func (b *browser) accountPost(page, path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	m := csrfOnPage.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no form token on the page:\n%s", page)
	}
	form.Set("csrf_token", html.UnescapeString(m[1]))
	return b.post(b.ts.issuer+path, form)
}

// enrolOnAccountPage signs alice in (password only), enrols TOTP on the
// account page and returns the secret and the recovery codes.
func enrolOnAccountPage(t *testing.T, ts *testServer) (string, []string) {
	t.Helper()
	b := newBrowser(t, ts)
	b.login(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw")
	resp, page := b.get(ts.issuer + accountSecurityPath)
	if resp.StatusCode != 200 || !strings.Contains(page, `id="enrol-totp"`) || !strings.Contains(page, `id="nav-security"`) {
		t.Fatalf("security page: %d\n%s", resp.StatusCode, page)
	}
	_, page = b.accountPost(page, accountSecurityPath+"/enrol", url.Values{})
	secret := pageSecret(t, page)
	// A wrong first code is refused, the same secret shown again.
	resp, page = b.accountPost(page, accountSecurityPath+"/confirm", url.Values{"code": {"000000"}})
	if resp.StatusCode != 200 || pageSecret(t, page) != secret || !strings.Contains(page, "not valid") {
		t.Fatalf("wrong first code: %d\n%s", resp.StatusCode, page)
	}
	resp, page = b.accountPost(page, accountSecurityPath+"/confirm", url.Values{"code": {totpCode(t, secret, *ts.now)}})
	if resp.StatusCode != 200 || !strings.Contains(page, `id="totp-status"`) {
		t.Fatalf("confirm: %d\n%s", resp.StatusCode, page)
	}
	codes := pageRecovery(t, page)
	if strings.Contains(resp.Request.URL.String(), secret) {
		t.Fatal("the secret is in a URL")
	}
	return secret, codes
}

// finishAuthorization takes the redirect to the app and exchanges its code.
func finishAuthorization(t *testing.T, ts *testServer, resp *http.Response, p pkce) tokenResult {
	t.Helper()
	q := redirectQuery(t, resp, webRedirect)
	res := ts.exchange(t, webID, webSecret, codeForm(q.Get("code"), webRedirect, p.verifier))
	if res.status != 200 {
		t.Fatalf("code exchange: %d %v", res.status, res.body)
	}
	return res
}

func TestMFASignInWithTOTP(t *testing.T) {
	ts := newTestServer(t, nil)
	secret, recovery := enrolOnAccountPage(t, ts)
	if f, err := ts.store.TOTP(t.Context(), "alice"); err != nil || f.ConfirmedAt.IsZero() {
		t.Fatalf("stored factor: %+v %v", f, err)
	}
	// The enrolment used this step's code: sign in during the next one.
	*ts.now = ts.now.Add(mfa.Period)

	b := newBrowser(t, ts)
	p := newPKCE()
	page := b.secondStep(b.passwordStep(authzQuery(webID, webRedirect, "openid read", p), "alice", "alice-pw"))
	if strings.Contains(page, "<svg") || !strings.Contains(page, `name="code"`) {
		t.Fatalf("second step of an enrolled user:\n%s", page)
	}
	// No sign-in yet: the authorization endpoint still asks for one.
	if resp, _ := b.get(ts.issuer + "/connect/authorize?" + authzQuery(webID, webRedirect, "openid read", p).Encode()); !strings.Contains(resp.Header.Get("Location"), "/account/login?") {
		t.Fatalf("authorize between the steps: %d %s, want the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
	page = b.secondStep(b.passwordStep(authzQuery(webID, webRedirect, "openid read", p), "alice", "alice-pw"))
	code := totpCode(t, secret, *ts.now)
	resp, _ := b.submitCode(page, code)
	res := finishAuthorization(t, ts, resp, p)
	at := ts.accessClaims(t, res.body["access_token"].(string))
	if at.ACR != "mfa" || !slices.Equal(at.AuthMethods, []string{"pwd", "otp", "mfa"}) || at.AuthTime != ts.now.Unix() {
		t.Errorf("access token: acr %q amr %v auth_time %d", at.ACR, at.AuthMethods, at.AuthTime)
	}
	id := ts.idClaims(t, res.body["id_token"].(string))
	if id.ACR != "mfa" || !slices.Equal(id.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Errorf("ID token: acr %q amr %v", id.ACR, id.AMR)
	}
	// Introspection says the same (one rule, every door).
	if in := ts.introspect(t, res.body["access_token"].(string)); in["acr"] != "mfa" || in["auth_time"] != float64(ts.now.Unix()) {
		t.Errorf("introspection: acr %v auth_time %v", in["acr"], in["auth_time"])
	}

	// RFC 6238 §5.2: the same code, a second sign-in in the same step:
	// refused, with the same words as a wrong code.
	b2 := newBrowser(t, ts)
	page = b2.secondStep(b2.passwordStep(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw"))
	resp, page = b2.submitCode(page, code)
	if resp.StatusCode != 200 || !strings.Contains(page, "not valid") {
		t.Fatalf("replayed code: %d\n%s", resp.StatusCode, page)
	}
	// A recovery code works, once.
	p3 := newPKCE()
	page = b2.secondStep(b2.passwordStep(authzQuery(webID, webRedirect, "openid read", p3), "alice", "alice-pw"))
	resp, _ = b2.submitCode(page, strings.ToUpper(recovery[2]))
	at = ts.accessClaims(t, finishAuthorization(t, ts, resp, p3).body["access_token"].(string))
	if at.ACR != "mfa" || !slices.Equal(at.AuthMethods, []string{"pwd", "mfa"}) {
		t.Errorf("recovery sign-in: acr %q amr %v", at.ACR, at.AuthMethods)
	}
	b3 := newBrowser(t, ts)
	page = b3.secondStep(b3.passwordStep(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw"))
	if resp, page = b3.submitCode(page, recovery[2]); resp.StatusCode != 200 || !strings.Contains(page, "not valid") {
		t.Fatalf("recovery code used twice: %d\n%s", resp.StatusCode, page)
	}
}

// Wrong codes count as failed sign-ins of the account (throttle.go):
// after the limit, 429 with Retry-After and no word about the code.
func TestMFAThrottled(t *testing.T) {
	ts := newTestServer(t, func(c *testConfig) {
		c.Limits = Limits{LoginFailuresPerAccountAddress: 3, LoginFailureWindow: 10 * time.Minute}
	})
	secret, _ := enrolOnAccountPage(t, ts)
	*ts.now = ts.now.Add(mfa.Period)
	b := newBrowser(t, ts)
	page := b.secondStep(b.passwordStep(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw"))
	for range 3 {
		resp, p := b.submitCode(page, "123456")
		if resp.StatusCode != 200 {
			t.Fatalf("wrong code: %d\n%s", resp.StatusCode, p)
		}
		page = p
	}
	// Even the right code now waits.
	resp, p := b.submitCode(page, totpCode(t, secret, *ts.now))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || strings.Contains(p, "not valid") {
		t.Fatalf("after 3 wrong codes: %d Retry-After %q\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), p)
	}
	if got := testutil.ToFloat64(ts.metrics.MFA.WithLabelValues("totp", "throttled")); got != 1 {
		t.Errorf("throttled count = %v", got)
	}
}

// An app with mfa: required makes a user without a factor enrol at
// sign-in: QR code, first code, recovery codes shown once, then on.
func TestMFARequiredAppForcesEnrolment(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*testConfig)
	}{
		{"app", func(c *testConfig) { requireMFAApp(c.Apps) }},
		{"user", func(c *testConfig) {
			for i := range c.Users {
				if c.Users[i].Login == "alice" {
					c.Users[i].MFARequired = true
				}
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, tt.mutate)
			b := newBrowser(t, ts)
			p := newPKCE()
			page := b.secondStep(b.passwordStep(authzQuery(webID, webRedirect, "openid read", p), "alice", "alice-pw"))
			secret := pageSecret(t, page)
			resp, page := b.submitCode(page, totpCode(t, secret, *ts.now))
			if resp.StatusCode != 200 {
				t.Fatalf("enrolment code: %d\n%s", resp.StatusCode, page)
			}
			pageRecovery(t, page)
			next := nextOnPage.FindStringSubmatch(page)
			if next == nil {
				t.Fatalf("no way on:\n%s", page)
			}
			resp, _ = b.get(ts.URL + html.UnescapeString(next[1]))
			at := ts.accessClaims(t, finishAuthorization(t, ts, resp, p).body["access_token"].(string))
			if at.ACR != "mfa" || !slices.Contains(at.AuthMethods, "otp") {
				t.Errorf("acr %q amr %v", at.ACR, at.AuthMethods)
			}
		})
	}
}

func requireMFAApp(apps []directory.App) {
	for i := range apps {
		if apps[i].ID == webID {
			apps[i].MFARequired = true
		}
	}
}

// acr_values=mfa with a live password-only session: the second step
// upgrades that session (same sid, new auth_time, acr mfa).
func TestMFAACRValuesUpgradesSession(t *testing.T) {
	ts := newTestServer(t, nil)
	b := newBrowser(t, ts)
	p := newPKCE()
	first := ts.idClaims(t, finishAuthorization(t, ts, b.passwordStep(authzQuery(webID, webRedirect, "openid read", p), "alice", "alice-pw"), p).body["id_token"].(string))
	if first.ACR != "pwd" {
		t.Fatalf("password sign-in acr %q", first.ACR)
	}
	*ts.now = ts.now.Add(time.Minute)
	p = newPKCE()
	q := authzQuery(webID, webRedirect, "openid read", p, "acr_values", "mfa")
	resp, _ := b.get(ts.issuer + "/connect/authorize?" + q.Encode())
	page := b.secondStep(resp)
	resp, page = b.submitCode(page, totpCode(t, pageSecret(t, page), *ts.now))
	next := nextOnPage.FindStringSubmatch(page)
	if resp.StatusCode != 200 || next == nil {
		t.Fatalf("enrolment at the upgrade: %d\n%s", resp.StatusCode, page)
	}
	resp, _ = b.get(ts.URL + html.UnescapeString(next[1]))
	id := ts.idClaims(t, finishAuthorization(t, ts, resp, p).body["id_token"].(string))
	if id.SID != first.SID || id.ACR != "mfa" || id.AuthTime != ts.now.Unix() {
		t.Errorf("upgraded: sid %q (was %q) acr %q auth_time %d", id.SID, first.SID, id.ACR, id.AuthTime)
	}
	// prompt=none cannot upgrade (OIDC Core §3.1.2.6).
	if err := ts.store.DeleteFactors(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	b2 := newBrowser(t, ts)
	p2 := newPKCE()
	finishAuthorization(t, ts, b2.passwordStep(authzQuery(webID, webRedirect, "openid read", p2), "alice", "alice-pw"), p2)
	resp, _ = b2.get(ts.issuer + "/connect/authorize?" + authzQuery(webID, webRedirect, "openid read", newPKCE(), "acr_values", "mfa", "prompt", "none").Encode())
	if q := redirectQuery(t, resp, webRedirect); q.Get("error") != "interaction_required" {
		t.Errorf("prompt=none upgrade: %v", q)
	}
}

// The pending step is the browser's, single use, and short-lived.
func TestMFAPendingCannotBeReplayed(t *testing.T) {
	ts := newTestServer(t, nil)
	secret, _ := enrolOnAccountPage(t, ts)
	*ts.now = ts.now.Add(mfa.Period)
	b := newBrowser(t, ts)
	p := newPKCE()
	page := b.secondStep(b.passwordStep(authzQuery(webID, webRedirect, "openid read", p), "alice", "alice-pw"))
	u, _ := url.Parse(ts.issuer + mfaPath)
	var pending *http.Cookie
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == mfaCookie {
			pending = c
		}
	}
	if pending == nil {
		t.Fatal("no pending cookie")
	}
	resp, _ := b.submitCode(page, totpCode(t, secret, *ts.now))
	finishAuthorization(t, ts, resp, p)

	// The same pending record, a fresh code: refused (spent).
	*ts.now = ts.now.Add(mfa.Period)
	thief := newBrowser(t, ts)
	thief.c.Jar.SetCookies(u, []*http.Cookie{{Name: mfaCookie, Value: pending.Value, Path: "/id" + mfaPath}})
	f := formFields(page)
	f.Set("code", totpCode(t, secret, *ts.now))
	resp, _ = thief.post(ts.issuer+mfaPath, f)
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/account/login?") {
		t.Fatalf("replayed pending step: %d %s, want the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A forged or expired one likewise; and none at all.
	for name, v := range map[string]string{"forged": pending.Value[:len(pending.Value)-4] + "AAAA", "none": ""} {
		nb := newBrowser(t, ts)
		if v != "" {
			nb.c.Jar.SetCookies(u, []*http.Cookie{{Name: mfaCookie, Value: v, Path: "/id" + mfaPath}})
		}
		resp, _ := nb.get(ts.issuer + mfaPath + "?" + authzQuery(webID, webRedirect, "openid read", newPKCE()).Encode())
		if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/account/login?") {
			t.Errorf("%s pending step: %d %s", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	b4 := newBrowser(t, ts)
	page = b4.secondStep(b4.passwordStep(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw"))
	*ts.now = ts.now.Add(mfaTTL + time.Second)
	if resp, _ := b4.submitCode(page, totpCode(t, secret, *ts.now)); !strings.Contains(resp.Header.Get("Location"), "/account/login?") {
		t.Errorf("expired pending step: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// After a reset, an optional app signs in with the password only; a
// required one asks to enrol again.
func TestMFAResetFactors(t *testing.T) {
	ts := newTestServer(t, nil)
	enrolOnAccountPage(t, ts)
	*ts.now = ts.now.Add(mfa.Period)
	b := newBrowser(t, ts)
	b.secondStep(b.passwordStep(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw"))
	if err := ts.store.DeleteFactors(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	p := newPKCE()
	b = newBrowser(t, ts)
	at := ts.accessClaims(t, finishAuthorization(t, ts, b.passwordStep(authzQuery(webID, webRedirect, "openid read", p), "alice", "alice-pw"), p).body["access_token"].(string))
	if at.ACR != "pwd" || !slices.Equal(at.AuthMethods, []string{"pwd"}) {
		t.Errorf("after reset: acr %q amr %v", at.ACR, at.AuthMethods)
	}
}

// The account page removes the factor with a current code, unless the
// user's policy requires one.
func TestMFAAccountRemove(t *testing.T) {
	ts := newTestServer(t, nil)
	secret, recovery := enrolOnAccountPage(t, ts)
	*ts.now = ts.now.Add(mfa.Period)
	b := newBrowser(t, ts)
	page := b.secondStep(b.passwordStep(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw"))
	b.submitCode(page, recovery[0])
	_, page = b.get(ts.issuer + accountSecurityPath)
	if !strings.Contains(page, `id="remove-totp"`) {
		t.Fatalf("security page of an enrolled user:\n%s", page)
	}
	resp, page := b.accountPost(page, accountSecurityPath+"/remove", url.Values{"code": {"999999"}})
	if resp.StatusCode != 200 || !strings.Contains(page, "not valid") {
		t.Fatalf("remove with a wrong code: %d", resp.StatusCode)
	}
	resp, page = b.accountPost(page, accountSecurityPath+"/remove", url.Values{"code": {totpCode(t, secret, *ts.now)}})
	if resp.StatusCode != 200 || !strings.Contains(page, `id="enrol-totp"`) {
		t.Fatalf("remove: %d\n%s", resp.StatusCode, page)
	}
	if _, err := ts.store.TOTP(t.Context(), "alice"); err == nil {
		t.Error("the factor is still stored")
	}
}

// With mfa: required, a reset means enrolling again at the next sign-in.
func TestMFAResetFactorsRequired(t *testing.T) {
	ts := newTestServer(t, func(c *testConfig) { requireMFAApp(c.Apps) })
	b := newBrowser(t, ts)
	p := newPKCE()
	page := b.secondStep(b.passwordStep(authzQuery(webID, webRedirect, "openid read", p), "alice", "alice-pw"))
	first := pageSecret(t, page)
	finishAuthorization(t, ts, enrolAtSecondStep(t, ts, b, page), p)
	if err := ts.store.DeleteFactors(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	b = newBrowser(t, ts)
	page = b.secondStep(b.passwordStep(authzQuery(webID, webRedirect, "openid read", newPKCE()), "alice", "alice-pw"))
	if again := pageSecret(t, page); again == first {
		t.Error("enrolling again shows the old secret")
	}
}
