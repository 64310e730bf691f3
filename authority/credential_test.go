package authority_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/reftoken"
)

// TestReadCredential: where a credential may come from (SPEC §4).
func TestReadCredential(t *testing.T) {
	for _, tc := range []struct {
		name    string
		query   string
		headers [][2]string
		want    authority.Credential
		wantErr bool
	}{
		{name: "none"},
		{name: "bearer", headers: [][2]string{{"Authorization", "Bearer abc.def.ghi"}},
			want: authority.Credential{Source: authority.SourceBearer, Token: "abc.def.ghi"}},
		// RFC 6750 §2.1 uses the "Bearer" auth-scheme, which RFC 9110
		// §11.1 makes case-insensitive.
		{name: "bearer, lower case", headers: [][2]string{{"Authorization", "bearer abc"}},
			want: authority.Credential{Source: authority.SourceBearer, Token: "abc"}},
		{name: "X-Api-Key", headers: [][2]string{{"X-Api-Key", reftoken.Prefix + "abc"}},
			want: authority.Credential{Source: authority.SourceAPIKey, Token: reftoken.Prefix + "abc"}},
		{name: "Api-Key", headers: [][2]string{{"Api-Key", " " + reftoken.Prefix + "abc "}},
			want: authority.Credential{Source: authority.SourceAPIKey, Token: reftoken.Prefix + "abc"}},
		// RFC 9449 §7.1: the DPoP scheme, case-insensitive too.
		{name: "DPoP", headers: [][2]string{{"Authorization", "DPoP abc.def.ghi"}},
			want: authority.Credential{Source: authority.SourceDPoP, Token: "abc.def.ghi"}},
		{name: "dpop, lower case", headers: [][2]string{{"Authorization", "dpop abc"}},
			want: authority.Credential{Source: authority.SourceDPoP, Token: "abc"}},
		{name: "DPoP and X-Api-Key",
			headers: [][2]string{{"Authorization", "DPoP abc"}, {"X-Api-Key", reftoken.Prefix + "abc"}}, wantErr: true},
		{name: "empty DPoP", headers: [][2]string{{"Authorization", "DPoP "}}, wantErr: true},
		{name: "Basic is no credential", headers: [][2]string{{"Authorization", "Basic YTpi"}}},
		{name: "other query parameters", query: "q=access_token&top=1",
			headers: [][2]string{{"Authorization", "Bearer abc"}},
			want:    authority.Credential{Source: authority.SourceBearer, Token: "abc"}},
		// RFC 6750 §2.3 (URI query parameter) is not supported.
		{name: "access_token in the query", query: "access_token=abc", wantErr: true},
		{name: "access_token in the query beside a header", query: "a=1&access_token=abc",
			headers: [][2]string{{"Authorization", "Bearer abc"}}, wantErr: true},
		{name: "Authorization and X-Api-Key",
			headers: [][2]string{{"Authorization", "Bearer abc"}, {"X-Api-Key", reftoken.Prefix + "abc"}}, wantErr: true},
		{name: "Authorization and Api-Key",
			headers: [][2]string{{"Authorization", "Bearer abc"}, {"Api-Key", reftoken.Prefix + "abc"}}, wantErr: true},
		{name: "X-Api-Key and Api-Key",
			headers: [][2]string{{"X-Api-Key", reftoken.Prefix + "a"}, {"Api-Key", reftoken.Prefix + "b"}}, wantErr: true},
		{name: "two X-Api-Key headers",
			headers: [][2]string{{"X-Api-Key", reftoken.Prefix + "a"}, {"X-Api-Key", reftoken.Prefix + "b"}}, wantErr: true},
		{name: "two Authorization headers",
			headers: [][2]string{{"Authorization", "Bearer abc"}, {"Authorization", "Bearer def"}}, wantErr: true},
		{name: "empty bearer", headers: [][2]string{{"Authorization", "Bearer  "}}, wantErr: true},
		{name: "bearer with a space", headers: [][2]string{{"Authorization", "Bearer a b"}}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/x", nil)
			req.URL.RawQuery = tc.query
			for _, h := range tc.headers {
				req.Header.Add(h[0], h[1])
			}
			got, err := authority.ReadCredential(req)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "abc") {
				t.Errorf("error %q quotes the credential", err)
			}
			if got.Source != tc.want.Source || got.Token != tc.want.Token {
				t.Errorf("credential = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestReadCredentialProofFacts: what a DPoP proof must match is read from
// the request (RFC 9449 §4.3): every DPoP header, the method, the host and
// the escaped path without the query.
func TestReadCredentialProofFacts(t *testing.T) {
	req := httptest.NewRequest("PATCH", "http://api.example.com/api/a%2Fb/c?x=1", nil)
	req.Header.Set("Authorization", "DPoP tok")
	req.Header.Add("DPoP", "p1")
	req.Header.Add("DPoP", "p2")
	got, err := authority.ReadCredential(req)
	if err != nil {
		t.Fatal(err)
	}
	if got.Source != authority.SourceDPoP || got.Token != "tok" || len(got.Proofs) != 2 || got.Method != "PATCH" ||
		got.Host != "api.example.com" || got.Path != "/api/a%2Fb/c" || got.TLS {
		t.Errorf("credential = %+v", got)
	}
}

// FuzzReadCredential: credential extraction never panics; it never
// returns two credentials' worth of input as one, and a bearer token it
// returns has no whitespace.
func FuzzReadCredential(f *testing.F) {
	f.Add("Bearer abc", "", "", "")
	f.Add("bearer  abc", "", "", "")
	f.Add("Basic YTpi", "", "", "")
	f.Add("Bearer a b", "", "", "")
	f.Add("Bearer  ", "", "", "")
	f.Add("BEARER x", "", "", "a=1&access_token=x")
	f.Add("", reftoken.Prefix+"x", "", "")
	f.Add("", reftoken.Prefix+"A", reftoken.Prefix+"B", "")
	f.Add("Bearer abc", reftoken.Prefix+"x", "", "")
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
		c, err := authority.ReadCredential(req)
		if err != nil {
			return
		}
		if c.Source == authority.SourceBearer && (c.Token == "" || strings.ContainsAny(c.Token, " \t")) {
			t.Fatalf("bearer token %q from %q", c.Token, authz)
		}
		if c.Source != authority.SourceNone && apiKey != "" && apiKey2 != "" {
			t.Fatal("two API-key headers accepted")
		}
		if c.Source == authority.SourceBearer && (apiKey != "" || apiKey2 != "") {
			t.Fatal("Authorization and an API key accepted together")
		}
		if _, ok := req.URL.Query()["access_token"]; ok {
			t.Fatal("a token in the query string accepted")
		}
	})
}

// TestAPIKeyHeadersCanonical: ReadCredential looks the API key headers
// up as map keys, which finds them only in canonical form (as net/http
// stores a request's headers).
func TestAPIKeyHeadersCanonical(t *testing.T) {
	for _, h := range authority.APIKeyHeaders {
		if c := http.CanonicalHeaderKey(h); c != h {
			t.Errorf("APIKeyHeaders has %q, not canonical %q", h, c)
		}
	}
}
