package issuer

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// FuzzParseScope: the scope parser never panics, and what it accepts is
// RFC 6749 §3.3 scope-tokens without duplicates.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "read", "read update", "read  update", " read", "openid profile offline_access", "a\"b", "read\tupdate", "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, param string) {
		scopes, ok := parseScope(param)
		if !ok {
			return
		}
		seen := map[string]bool{}
		for _, sc := range scopes {
			if sc == "" || !validScopeToken(sc) || seen[sc] || !strings.Contains(param, sc) {
				t.Fatalf("parseScope(%q) accepted %q", param, scopes)
			}
			seen[sc] = true
		}
	})
}

// FuzzRedirectMatch: a redirect URI is accepted only when it is,
// byte for byte, one of the registered ones.
func FuzzRedirectMatch(f *testing.F) {
	registered := []string{"https://app.example.com/cb", "http://127.0.0.1:7000/cb?tenant=1"}
	for _, s := range []string{"https://app.example.com/cb", "https://APP.example.com/cb", "https://app.example.com/cb/",
		"https://app.example.com/cb?x", "https://app.example.com/cb#f", "https://app.example.com@evil.com/cb", "http://127.0.0.1:7000/cb?tenant=1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		if redirectRegistered(uri, registered) != slices.Contains(registered, uri) {
			t.Fatalf("redirectRegistered(%q) disagrees with exact matching", uri)
		}
	})
}

// FuzzTokenForm: the token endpoint's form parsing and dispatch never
// panic and always answer JSON with Cache-Control: no-store.
func FuzzTokenForm(f *testing.F) {
	for _, s := range []string{
		"grant_type=client_credentials&client_id=com.example%2Fnightly-sync&client_secret=x",
		"grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&client_id=com.example%2Fspa",
		"grant_type=refresh_token&refresh_token=abc&client_id=com.example%2Fspa",
		"grant_type=password&username=a&password=b",
		"%zz", "a=1&a=2", "",
	} {
		f.Add(s, "application/x-www-form-urlencoded")
	}
	f.Add("{}", "application/json")
	ts := newTestServer(f, nil)
	f.Fuzz(func(t *testing.T, body, ctype string) {
		req := httptest.NewRequest(http.MethodPost, ts.issuer+"/connect/token", strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		ts.Config.Handler.ServeHTTP(rec, req)
		if rec.Header().Get("Cache-Control") != "no-store" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%q: %d without the JSON/no-store headers", body, rec.Code)
		}
		if rec.Code == 200 && !strings.Contains(body, "client_secret") && !strings.Contains(body, "code") && !strings.Contains(body, "refresh_token") {
			t.Fatalf("%q: 200 without credentials", body)
		}
	})
}
