package issuer

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/webui"
)

// Browsers' User-Agent headers, as sent.
const (
	firefoxWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
	chromeAndroid  = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"
	safariIPhone   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	edgeWindows    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
	safariMac      = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)

// userAgent sends every request of a test browser with ua.
type userAgent struct {
	ua   string
	next http.RoundTripper
}

func (u userAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	return u.next.RoundTrip(r)
}

// browserAs is a new browser that says it is ua.
func browserAs(t *testing.T, ts *testServer, ua string) *browser {
	b := newBrowser(t, ts)
	b.c.Transport = userAgent{ua: ua, next: http.DefaultTransport}
	return b
}

// TestSignInRecordsWhere: a sign-in keeps the client's address and its
// browser's User-Agent (valid UTF-8, at most 256 bytes) for "my
// sessions".
func TestSignInRecordsWhere(t *testing.T) {
	ts, _ := newAccountServer(t, nil)
	b := browserAs(t, ts, firefoxWindows)
	signInWithTokens(t, ts, b, "alice", "alice-pw")
	sess, err := ts.store.IdentitySession(t.Context(), sidOf(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if sess.RemoteAddr != "127.0.0.1" || sess.UserAgent != firefoxWindows {
		t.Errorf("the sign-in recorded %q, %q; want 127.0.0.1 and the browser's User-Agent", sess.RemoteAddr, sess.UserAgent)
	}
}

func TestTrimUserAgent(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"as sent", firefoxWindows, firefoxWindows},
		{"spaces trimmed", "  curl/8.5.0  ", "curl/8.5.0"},
		{"not UTF-8 dropped", "bad\xff\xfeagent", "badagent"},
		{"control characters dropped", "a\x00b\nc\x7f", "abc"},
		{"256 bytes kept", strings.Repeat("x", 256), strings.Repeat("x", 256)},
		{"longer cut at 256", strings.Repeat("x", 300), strings.Repeat("x", 256)},
		{"cut at a character", strings.Repeat("x", 255) + "ж", strings.Repeat("x", 255)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := trimUserAgent(tc.in)
			if got != tc.want || !utf8.ValidString(got) || len(got) > maxUserAgentBytes {
				t.Errorf("trimUserAgent(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestBrowserLabel(t *testing.T) {
	en := webui.Language("en")
	for _, tc := range []struct{ ua, want string }{
		{firefoxWindows, "Firefox on Windows"},
		{chromeAndroid, "Chrome on Android"},
		{safariIPhone, "Safari on iOS"},
		{edgeWindows, "Edge on Windows"},
		{safariMac, "Safari on macOS"},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "Chrome on ChromeOS"},
		{"curl/8.5.0", "curl/8.5.0"},
		{"Go-http-client/1.1 " + strings.Repeat("z", 60), "Go-http-client/1.1 zzzzzzzzzzzzzzzzzzzzz…"},
		{"", "Unknown browser"},
	} {
		if got := en.Say(browserLabel(tc.ua)); got != tc.want {
			t.Errorf("browserLabel(%q) = %q, want %q", tc.ua, got, tc.want)
		}
	}
}

// TestAccountSessions: "my sessions" lists the user's live sign-ins —
// this browser first and marked, each with its browser, address and
// times — and none of anyone else's; "End" on another of them logs it
// out as endsession would (its identity and ERP sessions end, its
// refresh tokens and their access tokens are revoked) and needs the
// anti-forgery token; nobody ends another user's session by its id, nor
// this browser's own here (that is signing out).
func TestAccountSessions(t *testing.T) {
	ts, log := newAccountServer(t, nil)
	here := browserAs(t, ts, firefoxWindows)
	signInWithTokens(t, ts, here, "alice", "alice-pw")
	phone := browserAs(t, ts, chromeAndroid)
	phoneAT, phoneRT := signInWithTokens(t, ts, phone, "alice", "alice-pw")
	bob := browserAs(t, ts, safariMac)
	bob.login(authzQuery("com.example/other", "https://other.example.com/cb", "openid", newPKCE()), "bob", "alice-pw") // a community user
	hereSID, phoneSID, bobSID := sidOf(t, here), sidOf(t, phone), sidOf(t, bob)

	page := accountPageOf(t, here, accountSessionsPath)
	rows := regexp.MustCompile(`<tr id="session-([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(rows) != 2 || rows[0][1] != hereSID || rows[1][1] != phoneSID {
		t.Fatalf("listed sessions %v, want this browser's %s then the phone's %s", rows, hereSID, phoneSID)
	}
	row := func(page, sid string) string {
		return regexp.MustCompile(`(?s)<tr id="session-` + regexp.QuoteMeta(sid) + `".*?</tr>`).FindString(page)
	}
	for _, w := range []string{"Firefox on Windows", `id="this-browser"`, "127.0.0.1", "1 Mar 2026, 12:00 UTC", "2 Mar 2026, 00:00 UTC", `id="end-this" href="/id/connect/endsession"`} {
		if !strings.Contains(row(page, hereSID), w) {
			t.Errorf("this browser's row lacks %q:\n%s", w, row(page, hereSID))
		}
	}
	for _, w := range []string{"Chrome on Android", `id="end-` + phoneSID + `"`, `name="session" value="` + phoneSID + `"`} {
		if !strings.Contains(row(page, phoneSID), w) {
			t.Errorf("the phone's row lacks %q:\n%s", w, row(page, phoneSID))
		}
	}
	if strings.Contains(row(page, phoneSID), "this-browser") || strings.Contains(page, bobSID) {
		t.Error("the phone is marked as this browser, or bob's session is listed")
	}
	csrf := pageCSRF(t, page)
	end := ts.issuer + accountSessionsPath + "/end"

	for _, tc := range []struct {
		name       string
		form       url.Values
		wantStatus int
		wantText   string
	}{
		{"no csrf token", url.Values{"session": {phoneSID}}, http.StatusForbidden, "The form expired"},
		{"forged csrf token", url.Values{"session": {phoneSID}, "csrf_token": {strings.Repeat("z", 43)}}, http.StatusForbidden, "The form expired"},
		{"another user's session", url.Values{"session": {bobSID}, "csrf_token": {csrf}}, http.StatusNotFound, "no such session among yours"},
		{"unknown session", url.Values{"session": {"no-such-sid"}, "csrf_token": {csrf}}, http.StatusNotFound, "no such session among yours"},
		{"no session", url.Values{"csrf_token": {csrf}}, http.StatusNotFound, "no such session among yours"},
		{"this browser's", url.Values{"session": {hereSID}, "csrf_token": {csrf}}, http.StatusBadRequest, "sign out to end it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, page := here.post(end, tc.form)
			if resp.StatusCode != tc.wantStatus || !strings.Contains(page, tc.wantText) {
				t.Errorf("%d, want %d with %q:\n%s", resp.StatusCode, tc.wantStatus, tc.wantText, page)
			}
			checkPageHeaders(t, resp)
		})
	}
	for _, b := range []*browser{here, phone, bob} {
		accountPageOf(t, b, accountPath) // all still signed in
	}

	resp, page := here.post(end, url.Values{"session": {phoneSID}, "csrf_token": {csrf}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "The session of Chrome on Android is ended") || strings.Contains(page, `id="session-`+phoneSID+`"`) {
		t.Fatalf("end the phone's session: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := phone.get(ts.issuer + accountPath); resp.StatusCode != http.StatusFound {
		t.Errorf("the phone after its session ended: %d, want sent to sign in", resp.StatusCode)
	}
	if res := ts.refresh(t, phoneRT); res.status != http.StatusBadRequest {
		t.Errorf("the phone's refresh token: %d %v, want refused", res.status, res.body)
	}
	if !ts.revoked.Revoked(ts.accessClaims(t, phoneAT).ID) {
		t.Error("the phone's access token is not revoked")
	}
	if erp, err := ts.store.Session(t.Context(), phoneSID); err != nil || erp.EndReason != store.EndLogout {
		t.Errorf("the phone's ERP session: %+v %v, want ended by logout", erp, err)
	}
	accountPageOf(t, here, accountSessionsPath)
	accountPageOf(t, bob, accountPath)
	if !strings.Contains(log.String(), `"event":"logout","subject":"alice","session":"`+phoneSID+`"`) {
		t.Errorf("no logout audited for the phone's session:\n%s", log.String())
	}
	// Ending it again: it is not live any more.
	if resp, _ := here.post(end, url.Values{"session": {phoneSID}, "csrf_token": {csrf}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("ending an ended session: %d, want 404", resp.StatusCode)
	}
}

// TestAccountPagesNeedSignIn: every account page and form sends a
// browser without an identity session to sign in and back (GET 302,
// POST 303), and changes nothing.
func TestAccountPagesNeedSignIn(t *testing.T) {
	ts, _ := newAccountServer(t, func(c *testConfig) { c.ReferenceTokens = &fakeRefTokens{now: func() time.Time { return testNow }} })
	alice := signedInBrowser(t, ts, "alice", "alice-pw")
	for _, tc := range []struct {
		method, path, back string
	}{
		{http.MethodGet, accountPath, accountPath},
		{http.MethodGet, accountPasswordPath, accountPasswordPath},
		{http.MethodGet, accountSessionsPath, accountSessionsPath},
		{http.MethodGet, tokensPath, tokensPath},
		{http.MethodGet, tokensPath + "/revoke?id=rt_1", tokensPath},
		{http.MethodPost, accountPasswordPath, accountPasswordPath},
		{http.MethodPost, accountSessionsPath + "/end", accountSessionsPath},
		{http.MethodPost, accountPath + "/consents/revoke", accountPath},
		{http.MethodPost, tokensPath + "/revoke", tokensPath},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			b := newBrowser(t, ts)
			var resp *http.Response
			want := http.StatusFound
			if tc.method == http.MethodPost {
				want = http.StatusSeeOther
				resp, _ = b.post(ts.issuer+tc.path, url.Values{"session": {sidOf(t, alice)}, "client_id": {webID},
					"current_password": {"alice-pw"}, "new_password": {"a good new passphrase"}, "new_password_again": {"a good new passphrase"}})
			} else {
				resp, _ = b.get(ts.issuer + tc.path)
			}
			if loc := resp.Header.Get("Location"); resp.StatusCode != want || loc != "http://gw.example/oauth2/start?rd="+url.QueryEscape("/id"+tc.back) {
				t.Errorf("%d %q, want %d to sign in and back to /id%s", resp.StatusCode, loc, want, tc.back)
			}
		})
	}
	accountPageOf(t, alice, accountPath)
	if !signsIn(t, ts, "alice", "alice-pw") {
		t.Error("alice's password changed")
	}
}
