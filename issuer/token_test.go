package issuer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/erpgate/erpgate/claims"
)

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestClientCredentialsIssuesAccessToken(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, tc := range []struct {
		name      string
		form      url.Values
		basic     bool
		wantScope string
	}{
		{"secret in body, no scope means all", form("grant_type", "client_credentials", "client_id", syncID, "client_secret", syncSecret), false, "read update"},
		{"basic auth, form-urlencoded id", form("grant_type", "client_credentials"), true, "read update"},
		{"narrower scope", form("grant_type", "client_credentials", "scope", "read"), true, "read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, secret := "", ""
			if tc.basic {
				id, secret = syncID, syncSecret
			}
			res := ts.token(t, tc.form, id, secret)
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %v", res.status, res.body)
			}
			if cc := res.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if res.body["token_type"] != "Bearer" || res.body["expires_in"] != float64(3600) || res.body["scope"] != tc.wantScope {
				t.Errorf("response = %v", res.body)
			}
			if _, ok := res.body["refresh_token"]; ok {
				t.Error("client credentials must not return a refresh token (RFC 6749 §4.4.3)")
			}
			raw := res.body["access_token"].(string)
			payload, err := ts.keys.VerifySignature(context.Background(), raw)
			if err != nil {
				t.Fatalf("signature: %v", err)
			}
			var c claims.Access
			if err := json.Unmarshal(payload, &c); err != nil {
				t.Fatal(err)
			}
			if c.Issuer != ts.issuer || c.ClientID != syncID || c.ClientSystemUser != "svc-sync" ||
				c.ClientSystemUserType != "SystemUserNoLogin" || c.SessionID == "" || c.ID == "" || c.Subject != "" ||
				strings.Join(c.Audience, ",") != "DomainAPI,TableAPI" ||
				c.IssuedAt != testNow.Unix() || c.NotBefore != testNow.Unix() || c.Expiry != testNow.Unix()+3600 ||
				strings.Join(c.Scope.Values, " ") != tc.wantScope || c.Scope.AsString {
				t.Errorf("claims = %+v", c)
			}
			hdr, _, _ := strings.Cut(raw, ".")
			hb, _ := base64.RawURLEncoding.DecodeString(hdr)
			var h map[string]string
			_ = json.Unmarshal(hb, &h)
			if h["typ"] != "at+jwt" || h["alg"] != "RS256" || h["kid"] == "" {
				t.Errorf("header = %v", h)
			}
		})
	}
}

func TestClientCredentialsTokensHaveOwnSessions(t *testing.T) {
	ts := newTestServer(t, nil)
	sid := func() string {
		res := ts.token(t, form("grant_type", "client_credentials"), syncID, syncSecret)
		p, _ := ts.keys.VerifySignature(context.Background(), res.body["access_token"].(string))
		var c claims.Access
		_ = json.Unmarshal(p, &c)
		return c.SessionID
	}
	if a, b := sid(), sid(); a == b {
		t.Fatalf("two client-credentials tokens share sid %q", a)
	}
}

func TestScopeFormatString(t *testing.T) {
	ts := newTestServer(t, func(c *testConfig) { c.ScopeAsString = true })
	res := ts.token(t, form("grant_type", "client_credentials"), syncID, syncSecret)
	p, _ := ts.keys.VerifySignature(context.Background(), res.body["access_token"].(string))
	var m map[string]any
	_ = json.Unmarshal(p, &m)
	if m["scope"] != "read update" {
		t.Fatalf("scope claim = %#v, want the RFC 9068 string", m["scope"])
	}
}

// TestTokenErrors walks ERP.net's token endpoint error table and RFC 6749 §5.2.
func TestTokenErrors(t *testing.T) {
	ts := newTestServer(t, nil)
	cc := "client_credentials"
	for _, tc := range []struct {
		name        string
		form        url.Values
		basicID     string
		basicSecret string
		wantStatus  int
		wantError   string
	}{
		{"unknown app", form("grant_type", cc, "client_id", "com.example/nobody", "client_secret", "x"), "", "", 401, "invalid_client"},
		{"disabled app", form("grant_type", cc, "client_id", "com.example/off", "client_secret", "o"), "", "", 401, "invalid_client"},
		{"wrong secret", form("grant_type", cc, "client_id", syncID, "client_secret", "wrong"), "", "", 401, "invalid_client"},
		{"wrong secret basic", form("grant_type", cc), syncID, "wrong", 401, "invalid_client"},
		{"secret of another app", form("grant_type", cc, "client_id", syncID, "client_secret", "r"), "", "", 401, "invalid_client"},
		{"no system user", form("grant_type", cc, "client_id", "com.example/reporting", "client_secret", "r"), "", "", 400, "unauthorized_client"},
		{"public app", form("grant_type", cc, "client_id", "com.example/spa"), "", "", 400, "unauthorized_client"},
		{"scope outside the app's list", form("grant_type", cc, "scope", "read sec"), syncID, syncSecret, 400, "invalid_scope"},
		{"identity scope without a user", form("grant_type", cc, "scope", "openid"), syncID, syncSecret, 400, "invalid_scope"},
		{"malformed scope", form("grant_type", cc, "scope", "read  update"), syncID, syncSecret, 400, "invalid_scope"},
		{"password grant", form("grant_type", "password", "username", "a", "password", "b"), syncID, syncSecret, 400, "unsupported_grant_type"},
		{"missing grant type", form(), syncID, syncSecret, 400, "invalid_request"},
		{"missing client_id", form("grant_type", cc, "client_secret", syncSecret), "", "", 400, "invalid_request"},
		{"missing client_secret", form("grant_type", cc, "client_id", syncID), "", "", 400, "invalid_request"},
		{"two auth methods", form("grant_type", cc, "client_secret", syncSecret), syncID, syncSecret, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := ts.token(t, tc.form, tc.basicID, tc.basicSecret)
			if res.status != tc.wantStatus || res.body["error"] != tc.wantError {
				t.Fatalf("got %d %v, want %d %s", res.status, res.body, tc.wantStatus, tc.wantError)
			}
			if res.header.Get("Cache-Control") != "no-store" {
				t.Error("error response without Cache-Control: no-store")
			}
			if tc.wantStatus == 401 && !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("401 without WWW-Authenticate: %v", res.header)
			}
			if _, ok := res.body["access_token"]; ok {
				t.Error("error response carries a token")
			}
		})
	}
	if n := testutil.ToFloat64(ts.cfgMetrics().TokenErrors.WithLabelValues("client_credentials", "invalid_client")); n != 5 {
		t.Errorf("token_errors_total{client_credentials,invalid_client} = %v, want 5", n)
	}
}

func TestTokenEndpointRequestShape(t *testing.T) {
	ts := newTestServer(t, nil)
	body := form("grant_type", "client_credentials", "client_id", syncID, "client_secret", syncSecret).Encode()
	for _, tc := range []struct {
		name, method, path, ctype, body string
		wantStatus                      int
	}{
		{"GET", http.MethodGet, "/connect/token", "", "", http.StatusMethodNotAllowed},
		{"JSON body", http.MethodPost, "/connect/token", "application/json", `{"grant_type":"client_credentials"}`, 400},
		{"secret in query", http.MethodPost, "/connect/token?client_secret=" + syncSecret, "application/x-www-form-urlencoded", body, 400},
		{"repeated parameter", http.MethodPost, "/connect/token", "application/x-www-form-urlencoded", body + "&grant_type=client_credentials", 400},
		{"oversized body", http.MethodPost, "/connect/token", "application/x-www-form-urlencoded", body + "&pad=" + strings.Repeat("a", 70<<10), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, ts.issuer+tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&b)
			if resp.StatusCode != tc.wantStatus || b["error"] != "invalid_request" {
				t.Fatalf("got %d %v, want %d invalid_request", resp.StatusCode, b, tc.wantStatus)
			}
		})
	}
}
