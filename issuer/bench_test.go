package issuer

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/signing"
)

// BenchmarkClientCredentials is the token endpoint's whole handler for a
// client-credentials grant (form parsing, client authentication, claims,
// RS256 signature, JSON), without the network; BenchmarkRawSign is the
// signature alone, so their ratio is what the endpoint adds to signing.
//
//	go test ./issuer -run '^$' -bench 'ClientCredentials|RawSign' -benchmem
func BenchmarkClientCredentials(b *testing.B) {
	ts := newTestServer(b, nil)
	h := ts.Config.Handler
	body := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}.Encode()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		req := httptest.NewRequest(http.MethodPost, ts.issuer+"/connect/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(syncID), url.QueryEscape(syncSecret))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

func BenchmarkRawSign(b *testing.B) {
	ts := newTestServer(b, nil)
	c := claims.Access{Issuer: ts.issuer, Audience: []string{"DomainAPI"}, ID: "jti", ClientID: syncID,
		SessionID: "sid", Scope: claims.Scopes{Values: []string{"read"}}, ClientSystemUser: "svc-sync"}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := ts.keys.Sign(signing.TypeAccessToken, c); err != nil {
			b.Fatal(err)
		}
	}
}

// scopeWords is n distinct three-letter-ish scope values.
func scopeWords(n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = fmt.Sprintf("s%02x", i)
	}
	return strings.Join(w, " ")
}

// BenchmarkSplitScope is the scope parser's core without its bounds, at
// 10, 100 and 1,000 values: ns/op grows linearly (ns/value stays flat;
// the slices.Contains de-duplication it replaced grew quadratically).
//
//	go test ./issuer -run '^$' -bench 'SplitScope|ParseScope|AuthorizeScopes'
func BenchmarkSplitScope(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		param := scopeWords(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := splitScope(param, maxScopeValueLen); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/value")
		})
	}
}

// BenchmarkParseScope is the bounded parser: past 64 values it refuses
// after one count of the separators.
func BenchmarkParseScope(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		param := scopeWords(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				_, _ = scopeParam(param)
			}
		})
	}
}

// BenchmarkAuthorizeScopes is a whole unauthenticated authorization
// request with n scopes, up to issue 15's 16,000.
func BenchmarkAuthorizeScopes(b *testing.B) {
	ts := newTestServer(b, nil)
	h := ts.Config.Handler
	for _, n := range []int{10, 100, 1000, 16000} {
		q := authzQuery(webID, webRedirect, scopeWords(n), pkce{challenge: strings.Repeat("a", 43)})
		u := ts.issuer + "/connect/authorize?" + q.Encode()
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for range b.N {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u, nil))
				if rec.Code == http.StatusOK {
					b.Fatal("accepted")
				}
			}
		})
	}
}
