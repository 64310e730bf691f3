package issuer

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzParseScope: the scope parser never panics; what it accepts is
// RFC 6749 §3.3 scope-tokens without duplicates, within the bounds (64
// values of 128 bytes, 2 KiB), in the order of a naive de-duplication;
// and everything within the bounds that is well-formed is accepted.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "read", "read update", "read  update", " read", "openid profile offline_access", "a\"b", "read\tupdate", "ü",
		"read read update read", strings.Repeat("a ", 64), strings.Repeat("a ", 63) + "a", strings.Repeat("x", 128), strings.Repeat("x", 129),
		strings.Repeat("abc ", 600)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, param string) {
		scopes, err := scopeParam(param)
		if ok := err == nil; ok != func() bool { _, ok := parseScope(param); return ok }() {
			t.Fatalf("parseScope and scopeParam disagree on %q", param)
		}
		// The naive parser, without bounds: what the bounded one must match.
		var naive []string
		wellFormed := true
		for _, tok := range strings.Split(param, " ") {
			wellFormed = wellFormed && tok != "" && validScopeToken(tok)
			if !slices.Contains(naive, tok) {
				naive = append(naive, tok)
			}
		}
		fields := strings.Count(param, " ") + 1
		inBounds := len(param) <= maxScopeBytes && fields <= maxScopeValues &&
			!slices.ContainsFunc(strings.Split(param, " "), func(s string) bool { return len(s) > maxScopeValueLen })
		switch {
		case param == "":
			if err != nil || scopes != nil {
				t.Fatalf("empty parameter: %q %v", scopes, err)
			}
		case err != nil:
			if err.Code != "invalid_scope" {
				t.Fatalf("scopeParam(%q): %v, want invalid_scope", param, err)
			}
			if wellFormed && inBounds {
				t.Fatalf("scopeParam(%q) refused a well-formed parameter within bounds: %v", param, err)
			}
		default:
			if !wellFormed || !inBounds || !slices.Equal(scopes, naive) {
				t.Fatalf("scopeParam(%q) accepted %q (well-formed %v, in bounds %v, naive %q)", param, scopes, wellFormed, inBounds, naive)
			}
		}
	})
}

// FuzzParseForm: the bounded form reader never panics, whatever the
// query and body; what it accepts holds at most maxFormValues values.
func FuzzParseForm(f *testing.F) {
	f.Add("", "a=b")
	f.Add("x=1&y=2", "a=b&a=c")
	f.Add(strings.Repeat("q=1&", 70), "")
	f.Add("", strings.Repeat("a=b&", 64))
	f.Add("%zz", "%zz")
	f.Add("a;b=c", "a=b;c")
	f.Fuzz(func(t *testing.T, query, body string) {
		s := &Server{formReadTimeout: time.Second}
		req := httptest.NewRequest(http.MethodPost, "/id/connect/authorize", strings.NewReader(body))
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		s.boundBody(rec, req)
		if err := parseForm(rec, req); err != nil {
			if err.Status != http.StatusBadRequest || err.Code != "invalid_request" {
				t.Fatalf("refused with %d %s", err.Status, err.Code)
			}
			return
		}
		n := 0
		for _, v := range req.Form {
			n += len(v)
		}
		if n > maxFormValues {
			t.Fatalf("accepted %d values", n)
		}
	})
}

// FuzzClientCredentials: reading client credentials never panics, and
// when it reports no error it has a client id (so every attempt the
// throttle counts names one).
func FuzzClientCredentials(f *testing.F) {
	f.Add("Basic "+"Y29tLmV4YW1wbGUlMkZhOnM=", "grant_type=client_credentials")
	f.Add("", "client_id=a&client_secret=b")
	f.Add("Basic !!!", "")
	f.Add("Bearer x", "client_id=a")
	f.Add("Basic Ojo=", "client_id=")
	f.Fuzz(func(t *testing.T, authz, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		req := httptest.NewRequest(http.MethodPost, "/id/connect/token", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		c := readClientCredentials(req, form)
		if c.err == nil && c.id == "" {
			t.Fatalf("no error and no client id: %q %q", authz, body)
		}
		if (c.err == nil) != (c.reason == "") {
			t.Fatalf("error %v with reason %q", c.err, c.reason)
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
