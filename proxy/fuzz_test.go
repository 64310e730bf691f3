package proxy

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzReadCredential: credential extraction never panics; it never
// returns two credentials' worth of input as one, and a token it returns
// has no whitespace.
func FuzzReadCredential(f *testing.F) {
	f.Add("Bearer abc", "", "", "")
	f.Add("bearer  abc", "", "", "")
	f.Add("Basic YTpi", "", "", "")
	f.Add("Bearer a b", "", "", "")
	f.Add("", "enrt_x", "", "")
	f.Add("Bearer abc", "enrt_x", "", "")
	f.Add("", "", "", "access_token=abc")
	f.Add("", "a", "b", "")
	f.Fuzz(func(t *testing.T, authz, apiKey, apiKey2, query string) {
		req := httptest.NewRequest("GET", "/x", nil)
		req.URL.RawQuery = query
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		if apiKey != "" {
			req.Header.Set("X-Api-Key", apiKey)
		}
		if apiKey2 != "" {
			req.Header.Set("Api-Key", apiKey2)
		}
		c, err := readCredential(req)
		if err != nil {
			return
		}
		if c.kind == credBearer && (c.token == "" || strings.ContainsAny(c.token, " \t")) {
			t.Fatalf("bearer token %q from %q", c.token, authz)
		}
		if c.kind != credNone && apiKey != "" && apiKey2 != "" {
			t.Fatal("two API-key headers accepted")
		}
		if c.kind == credBearer && (apiKey != "" || apiKey2 != "") {
			t.Fatal("Authorization and an API key accepted together")
		}
	})
}
