package main

import (
	"net/url"
	"strings"
	"testing"
)

// loginPage is erpgate's login page as issuer/web/login.html renders it
// for an authorization request (html/template escapes + and &).
const loginPage = `<!doctype html>
<html lang="en">
<body>
<main class="card">
<h1>Sign in</h1>
<form method="post" action="/id/account/login" autocomplete="on">
  <input type="hidden" name="csrf_token" value="Q2ZJ7YH3KXN4Z5RVWMBAE6TUCLGP2D7SOF3JQ4NIY5K">
  <input type="hidden" name="client_id" value="com.example/bench-spa">
  <input type="hidden" name="redirect_uri" value="http://127.0.0.1:1/cb">
  <input type="hidden" name="scope" value="openid profile offline_access read">
  <input type="hidden" name="state" value="a&#43;b&amp;c">
  <label for="login">Login</label>
  <input id="login" name="login" type="text" autocomplete="username" required autofocus value="">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button id="submit" type="submit">Sign in</button>
</form>
</main>
</body>
</html>`

func TestParseLoginForm(t *testing.T) {
	page, _ := url.Parse("http://127.0.0.1:8080/id/account/login?client_id=x")
	action, form, err := parseLoginForm(loginPage, page)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := action.String(), "http://127.0.0.1:8080/id/account/login"; got != want {
		t.Errorf("action = %s, want %s", got, want)
	}
	want := url.Values{
		"csrf_token":   {"Q2ZJ7YH3KXN4Z5RVWMBAE6TUCLGP2D7SOF3JQ4NIY5K"},
		"client_id":    {"com.example/bench-spa"},
		"redirect_uri": {"http://127.0.0.1:1/cb"},
		"scope":        {"openid profile offline_access read"},
		"state":        {"a+b&c"},
	}
	if form.Encode() != want.Encode() {
		t.Errorf("hidden fields\n got %s\nwant %s", form.Encode(), want.Encode())
	}
	if form.Has("login") || form.Has("password") {
		t.Error("the visible inputs must be left for the caller to fill in")
	}
}

func TestParseLoginFormRefusals(t *testing.T) {
	page, _ := url.Parse("http://127.0.0.1:8080/id/account/login")
	for _, tc := range []struct {
		name, page, wantErr string
	}{
		{"error page", `<p class="alert" id="error" role="alert">The application is unknown or disabled.</p>`,
			"no form on the page (The application is unknown or disabled.)"},
		{"no csrf token", strings.Replace(loginPage, `name="csrf_token"`, `name="other"`, 1), "no csrf_token"},
		{"GET form", strings.Replace(loginPage, `method="post"`, `method="get"`, 1), `method is "get"`},
		{"no password input", strings.Replace(loginPage, `name="password"`, `name="pin"`, 1), "no login and password inputs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseLoginForm(tc.page, page)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestAuthorizationResponse(t *testing.T) {
	const state = "st-1"
	for _, tc := range []struct {
		name, loc string
		done      bool
		code      string
		wantErr   string
	}{
		{name: "to the login page", loc: "http://127.0.0.1:8080/id/account/login?redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcb"},
		{name: "another port", loc: "http://127.0.0.1:2/cb?code=c1&state=st-1"},
		{name: "another path", loc: "http://127.0.0.1:1/cb/x?code=c1&state=st-1"},
		{name: "code", loc: "http://127.0.0.1:1/cb?code=c1&state=st-1&iss=http%3A%2F%2F127.0.0.1%3A8080%2Fid", done: true, code: "c1"},
		{name: "error", loc: "http://127.0.0.1:1/cb?error=access_denied&error_description=nope&state=st-1", done: true, wantErr: "access_denied: nope"},
		{name: "foreign state", loc: "http://127.0.0.1:1/cb?code=c1&state=other", done: true, wantErr: `state "other"`},
		{name: "no code", loc: "http://127.0.0.1:1/cb?state=st-1", done: true, wantErr: "without code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc, err := url.Parse(tc.loc)
			if err != nil {
				t.Fatal(err)
			}
			code, done, err := authorizationResponse(loc, benchRedirectURI, state)
			switch {
			case done != tc.done || code != tc.code:
				t.Errorf("got code %q done %v, want %q %v", code, done, tc.code, tc.done)
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// RFC 7636 Appendix B's example.
func TestCodeChallenge(t *testing.T) {
	got := codeChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
	if want := "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"; got != want {
		t.Errorf("codeChallenge = %s, want %s", got, want)
	}
}

func TestParseTokenResponse(t *testing.T) {
	tr, err := parseTokenResponse(200, []byte(`{"access_token":"a","refresh_token":"r","id_token":"i"}`))
	if err != nil || tr.RefreshToken != "r" || tr.IDToken != "i" {
		t.Errorf("got %+v, %v", tr, err)
	}
	for _, tc := range []struct {
		status  int
		body    string
		wantErr string
	}{
		{400, `{"error":"invalid_grant","error_description":"refresh token already used"}`, "400 invalid_grant"},
		{200, `{"token_type":"Bearer"}`, "200 {"},
		{502, `bad gateway`, "502 bad gateway"},
	} {
		if _, err := parseTokenResponse(tc.status, []byte(tc.body)); err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
			t.Errorf("%d %s: err = %v, want %q", tc.status, tc.body, err, tc.wantErr)
		}
	}
}
