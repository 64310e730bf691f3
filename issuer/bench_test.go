package issuer

import (
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
