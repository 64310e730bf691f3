package browserlogin

import (
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/erpgate/erpgate/webui"
)

// testKit is the page kit with the default branding and signedOutURL as
// ui.signed_out_url.
func testKit(t testing.TB, signedOutURL string) *webui.Kit {
	t.Helper()
	k, err := webui.New(webui.Config{AssetsPath: "/id/account/static", SignedOutURL: signedOutURL,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// wantKitPage checks that body is a page in the kit's layout with the
// kit's headers and a strict CSP.
func wantKitPage(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	for _, want := range []string{`<meta name="viewport"`, `<main id="main" class="card`, `href="/id/account/static/style.css?v=`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s:\n%s", want, body)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.HasPrefix(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("Cache-Control %q, X-Frame-Options %q", resp.Header.Get("Cache-Control"), resp.Header.Get("X-Frame-Options"))
	}
	if resp.Header.Get("Content-Language") == "" {
		t.Error("no Content-Language")
	}
}

// hrefOf is the href of the link with id in body, unescaped.
func hrefOf(body, id string) (string, bool) {
	_, rest, ok := strings.Cut(body, `id="`+id+`" href="`)
	if !ok {
		return "", false
	}
	href, _, _ := strings.Cut(rest, `"`)
	return strings.ReplaceAll(href, "&amp;", "&"), true
}

// Every sign-in that does not complete shows a page in the kit with the
// next steps: sign in again (back to the page the sign-in was for, when
// known) and go back.
func TestSignInErrorPages(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tweak    func(*fakeIssuer)
		callback func(t *testing.T, e *env) string // the callback URL the browser opens
		status   int
		text     string // the alert's catalog key
		code     string
		rd       string // where "Sign in again" comes back to
		back     string
	}{
		{
			name: "state cookie missing or expired",
			callback: func(t *testing.T, e *env) string {
				return e.srv.URL + CallbackPath + "?code=x&state=not-this-browsers"
			},
			status: http.StatusBadRequest, text: "gateway.expired.text", code: "state_unknown", rd: "/", back: "/",
		},
		{
			name: "issuer refused",
			callback: func(t *testing.T, e *env) string {
				state := startLogin(t, e, "/app/x?a=1").Query().Get("state")
				return e.srv.URL + CallbackPath + "?error=access_denied&error_description=no&state=" + state
			},
			status: http.StatusBadRequest, text: "gateway.refused.access_denied", code: "access_denied", rd: "/app/x?a=1", back: "/app/x?a=1",
		},
		{
			name: "issuer unavailable",
			callback: func(t *testing.T, e *env) string {
				state := startLogin(t, e, "/app/x").Query().Get("state")
				return e.srv.URL + CallbackPath + "?error=temporarily_unavailable&state=" + state
			},
			status: http.StatusBadRequest, text: "gateway.refused.unavailable", code: "temporarily_unavailable", rd: "/app/x", back: "/app/x",
		},
		{
			name: "token exchange failed",
			callback: func(t *testing.T, e *env) string {
				cb := authorize(t, e, startLogin(t, e, "/app/x"))
				q := cb.Query()
				q.Set("code", "a-code-the-issuer-never-issued")
				cb.RawQuery = q.Encode()
				return cb.String()
			},
			status: http.StatusBadGateway, text: "gateway.failed.exchange", code: "token_exchange_failed", rd: "/app/x", back: "/app/x",
		},
		{
			name:  "nonce mismatch",
			tweak: func(f *fakeIssuer) { f.wrongNonce = true },
			callback: func(t *testing.T, e *env) string {
				return authorize(t, e, startLogin(t, e, "/app/y")).String()
			},
			status: http.StatusBadRequest, text: "gateway.failed.nonce", code: "nonce_mismatch", rd: "/app/y", back: "/app/y",
		},
		{
			name: "no code",
			callback: func(t *testing.T, e *env) string {
				cb := authorize(t, e, startLogin(t, e, "/app/x"))
				q := cb.Query()
				q.Del("code")
				cb.RawQuery = q.Encode()
				return cb.String()
			},
			status: http.StatusBadRequest, text: "gateway.failed.no_code", code: "no_code", rd: "/app/x", back: "/app/x",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.tweak)
			req, _ := http.NewRequest(http.MethodGet, tc.callback(t, e), nil)
			req.Header.Set("Accept-Language", "de-DE,de;q=0.9,en;q=0.5")
			resp, err := e.noFollow().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body := string(b)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d:\n%s", resp.StatusCode, tc.status, body)
			}
			wantKitPage(t, resp, body)
			if got := resp.Header.Get("Content-Language"); got != "de" {
				t.Errorf("Content-Language = %q, want de (Accept-Language)", got)
			}
			de := webui.Language("de")
			if want := `<p class="alert" id="error" role="alert">` + html.EscapeString(de.T(tc.text)) + "</p>"; !strings.Contains(body, want) {
				t.Errorf("page lacks %s:\n%s", want, body)
			}
			if de.T(tc.text) == webui.Language("en").T(tc.text) {
				t.Errorf("%s has no German text", tc.text)
			}
			if !strings.Contains(body, `<code id="error-code">`+tc.code+`</code>`) {
				t.Errorf("page does not name %s:\n%s", tc.code, body)
			}
			again, ok := hrefOf(body, "again")
			if u, err := url.Parse(again); !ok || err != nil || u.Path != StartPath || u.Query().Get("rd") != tc.rd {
				t.Errorf("Sign in again = %q, want %s?rd=%s", again, StartPath, tc.rd)
			}
			if back, _ := hrefOf(body, "back"); back != tc.back {
				t.Errorf("Go back = %q, want %q", back, tc.back)
			}
			if n := len(e.sessionCookies(t)); n != 0 {
				t.Errorf("%d session cookies after a failed sign-in", n)
			}
		})
	}
}

// "Sign in again" works: it starts a sign-in that comes back to rd.
func TestSignInAgainLink(t *testing.T) {
	e := newEnv(t, nil)
	state := startLogin(t, e, "/app/reports").Query().Get("state")
	_, body := e.get(t, CallbackPath+"?error=access_denied&state="+state)
	again, ok := hrefOf(body, "again")
	if !ok {
		t.Fatalf("no Sign in again link:\n%s", body)
	}
	if resp, body := e.get(t, again); resp.StatusCode != http.StatusOK || body != "hello alice at /app/reports" {
		t.Errorf("after Sign in again: %d %q", resp.StatusCode, body)
	}
}

func TestSignInURL(t *testing.T) {
	h := newTestHandler(t, "http://localhost:8080", [][]byte{testKey1})
	for in, want := range map[string]string{
		"/app/x?a=1&b=2":       "/oauth2/start?rd=%2Fapp%2Fx%3Fa%3D1%26b%3D2",
		"//evil.example/":      "/oauth2/start?rd=%2F",
		"https://evil.example": "/oauth2/start?rd=%2F",
		"/oauth2/sign_out":     "/oauth2/start?rd=%2F",
	} {
		if got := h.SignInURL(in); got != want {
			t.Errorf("SignInURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// A cross-site sign-out asks first, in the kit; the form posts to the
// sign-out path, and the CSP's form-action names every origin the
// answer's redirects reach (CSP3: form-action covers them).
func TestSignOutConfirmationPage(t *testing.T) {
	for _, tc := range []struct {
		name, signedOut string
		wantOrigins     []string // besides 'self'
		wantLanding     bool     // post_logout_redirect_uri sent
	}{
		{"default landing", "", nil, true},
		{"landing on another origin", "https://www.example.com/goodbye", []string{"https://www.example.com"}, false},
		{"landing on a path", "/bye", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvLanding(t, nil, tc.signedOut)
			e.get(t, "/app/x")
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+SignOutPath, nil)
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			resp, err := e.noFollow().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body := string(b)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("cross-site sign-out: %d", resp.StatusCode)
			}
			wantKitPage(t, resp, body)
			if !strings.Contains(body, `<form method="post" action="/oauth2/sign_out">`) || !strings.Contains(body, `id="submit"`) {
				t.Errorf("no sign-out form:\n%s", body)
			}
			if stay, _ := hrefOf(body, "stay"); stay != "/" {
				t.Errorf("Stay signed in = %q", stay)
			}
			_, fa, _ := strings.Cut(resp.Header.Get("Content-Security-Policy"), "form-action ")
			fa, _, _ = strings.Cut(fa, ";")
			want := append([]string{"'self'", e.srv.URL}, tc.wantOrigins...) // the end-session endpoint is public_url's
			if got := strings.Fields(fa); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("form-action %v, want %v", got, want)
			}
			if len(e.sessionCookies(t)) == 0 {
				t.Error("a cross-site request signed the user out")
			}

			// Confirmed (the form's POST is same-origin): to the issuer,
			// which lands on ui.signed_out_url itself when it is set.
			req, _ = http.NewRequest(http.MethodPost, e.srv.URL+SignOutPath, nil)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			resp, err = e.noFollow().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || loc.Path != "/id/connect/endsession" {
				t.Fatalf("confirmed sign-out: %d to %q", resp.StatusCode, loc)
			}
			q := loc.Query()
			if got, sent := q["post_logout_redirect_uri"]; sent != tc.wantLanding || (sent && got[0] != e.srv.URL+"/") {
				t.Errorf("post_logout_redirect_uri = %v, want sent %v", got, tc.wantLanding)
			}
			if q.Get("id_token_hint") == "" || q.Get("client_id") != testClientID {
				t.Errorf("end-session query %v", q)
			}
			if n := len(e.sessionCookies(t)); n != 0 {
				t.Errorf("%d session cookies after sign-out", n)
			}
		})
	}
}
