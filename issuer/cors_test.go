package issuer

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/erpgate/erpgate/directory"
)

// CORS at the endpoints a browser-based app calls with fetch ("OAuth 2.0
// for Browser-Based Applications" §6; Fetch Standard, CORS protocol).

const spaOrigin = "http://127.0.0.1:5000" // spaRedirect's origin

// corsTestServer is the test instance plus apps whose origins the tests
// need: one disabled, one registered with the scheme's default port.
func corsTestServer(t *testing.T) *testServer {
	return newTestServer(t, func(c *testConfig) {
		c.Apps = append(c.Apps,
			directory.App{ID: "com.example/disabled", Public: true, Scopes: []string{"read"}, Enabled: false,
				RedirectURIs: []string{"https://disabled.example.com/cb"}, AllowInternalUsers: true, RequirePKCE: true},
			directory.App{ID: "com.example/port", Public: true, Scopes: []string{"read"}, Enabled: true,
				RedirectURIs: []string{"https://Port.Example.com:443/cb"}, AllowInternalUsers: true, RequirePKCE: true})
	})
}

// call sends method to the issuer's path with Origin origin ("" none),
// the extra headers given as name, value pairs, and a form body.
func (ts *testServer) call(t *testing.T, method, path, origin string, form url.Values, headers ...string) *http.Response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, ts.issuer+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// corsHeaders are the response's Access-Control-* headers.
func corsHeaders(h http.Header) []string {
	var out []string
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func varyOrigin(h http.Header) bool {
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "Origin") {
				return true
			}
		}
	}
	return false
}

// TestCORSOrigins: which Origin values are answered at the token
// endpoint, for an actual (non-preflight) request. "The value of the
// Access-Control-Allow-Origin header ... must be the Origin of the
// request" and never a credentials header: these endpoints take none.
func TestCORSOrigins(t *testing.T) {
	ts := corsTestServer(t)
	bad := url.Values{"grant_type": {"authorization_code"}, "client_id": {spaID}, "code": {"nope"}, "redirect_uri": {spaRedirect}}
	for _, tc := range []struct {
		name, origin string
		allowed      bool
	}{
		{"public app's redirect origin", spaOrigin, true},
		{"confidential app's redirect origin", "https://app.example.com", true},
		{"origin of a redirect URI with a query", "http://127.0.0.1:7000", true},
		{"default port and case as a browser writes them", "https://port.example.com", true},
		{"unknown origin", "https://evil.example.com", false},
		{"disabled app's origin", "https://disabled.example.com", false},
		{"other port", "http://127.0.0.1:5001", false},
		{"other scheme", "http://app.example.com", false},
		{"explicit default port", "https://port.example.com:443", false},
		{"path appended", spaOrigin + "/cb", false},
		{"suffix host", "https://app.example.com.evil.example", false},
		{"opaque origin", "null", false},
		{"no origin", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := ts.call(t, http.MethodPost, "/connect/token", tc.origin, bad)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want the endpoint's own 400", resp.StatusCode)
			}
			if !varyOrigin(resp.Header) {
				t.Errorf("Vary %q lacks Origin", resp.Header.Values("Vary"))
			}
			if !tc.allowed {
				if h := corsHeaders(resp.Header); len(h) != 0 {
					t.Fatalf("CORS headers %v for a foreign origin", h)
				}
				return
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.origin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.origin)
			}
			if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("Access-Control-Allow-Credentials sent")
			}
			if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
				t.Errorf("Access-Control-Expose-Headers %q", resp.Header.Get("Access-Control-Expose-Headers"))
			}
		})
	}
}

// TestCORSPreflight: a preflight from an app's origin is answered with
// the methods and headers the endpoint takes; from any other origin it is
// refused with 403 and no CORS headers.
func TestCORSPreflight(t *testing.T) {
	ts := corsTestServer(t)
	for _, tc := range []struct {
		path, origin, method string
		wantStatus           int
		wantMethods          string
	}{
		{"/connect/token", spaOrigin, "POST", http.StatusNoContent, "POST"},
		{"/connect/revocation", spaOrigin, "POST", http.StatusNoContent, "POST"},
		{"/connect/userinfo", spaOrigin, "GET", http.StatusNoContent, "GET, POST"},
		{"/connect/token", "https://evil.example.com", "POST", http.StatusForbidden, ""},
		{"/connect/userinfo", "https://disabled.example.com", "GET", http.StatusForbidden, ""},
		{"/connect/revocation", "null", "POST", http.StatusForbidden, ""},
	} {
		t.Run(tc.path+" from "+tc.origin, func(t *testing.T) {
			resp := ts.call(t, http.MethodOptions, tc.path, tc.origin, nil,
				"Access-Control-Request-Method", tc.method, "Access-Control-Request-Headers", "authorization,content-type,dpop")
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("preflight status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			h := resp.Header
			if !varyOrigin(h) {
				t.Errorf("Vary %q lacks Origin", h.Values("Vary"))
			}
			if tc.wantStatus == http.StatusForbidden {
				if got := corsHeaders(h); len(got) != 0 {
					t.Fatalf("refused preflight carries %v", got)
				}
				return
			}
			if h.Get("Access-Control-Allow-Origin") != tc.origin || h.Get("Access-Control-Allow-Methods") != tc.wantMethods ||
				h.Get("Access-Control-Max-Age") == "" || h.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("preflight headers %v", h)
			}
			allowHeaders := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
			for _, want := range []string{"authorization", "content-type", "dpop"} {
				if !strings.Contains(allowHeaders, want) {
					t.Errorf("Access-Control-Allow-Headers %q lacks %s", allowHeaders, want)
				}
			}
		})
	}
	// OPTIONS that is no preflight reaches the endpoint as before.
	if resp := ts.call(t, http.MethodOptions, "/connect/token", "", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("OPTIONS without Origin: %d, want 405", resp.StatusCode)
	}
	if resp := ts.call(t, http.MethodOptions, "/connect/token", spaOrigin, nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("OPTIONS with Origin but no Access-Control-Request-Method: %d, want 405", resp.StatusCode)
	}
}

// TestCORSPublicAppFlow: the public SPA redeems its code, reads userinfo
// and revokes its token cross-origin, each answer readable by its page;
// the endpoints a page never calls with fetch answer no CORS.
func TestCORSPublicAppFlow(t *testing.T) {
	ts := corsTestServer(t)
	p := newPKCE()
	resp := newBrowser(t, ts).login(authzQuery(spaID, spaRedirect, "openid profile read", p), "alice", "alice-pw")
	form := codeForm(resp.Get("code"), spaRedirect, p.verifier)
	form.Set("client_id", spaID)

	req, _ := http.NewRequest(http.MethodPost, ts.issuer+"/connect/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", spaOrigin)
	tr, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(tr.Body).Decode(&tok)
	tr.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if tr.StatusCode != 200 || tok.AccessToken == "" || tr.Header.Get("Access-Control-Allow-Origin") != spaOrigin {
		t.Fatalf("cross-origin code exchange: %d, Access-Control-Allow-Origin %q", tr.StatusCode, tr.Header.Get("Access-Control-Allow-Origin"))
	}

	for _, tc := range []struct {
		name, method, path string
		form               url.Values
		headers            []string
		wantStatus         int // 0: whatever the endpoint answers
		wantCORS           bool
	}{
		{"userinfo", http.MethodGet, "/connect/userinfo", nil, []string{"Authorization", "Bearer " + tok.AccessToken}, 200, true},
		{"userinfo refusal", http.MethodGet, "/connect/userinfo", nil, []string{"Authorization", "Bearer nope"}, 401, true},
		{"introspection", http.MethodPost, "/connect/introspect", url.Values{"token": {tok.AccessToken}}, nil, 0, false},
		{"authorize", http.MethodGet, "/connect/authorize", nil, nil, 400, false},
		{"revocation", http.MethodPost, "/connect/revocation", url.Values{"token": {tok.AccessToken}, "client_id": {spaID}}, nil, 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := ts.call(t, tc.method, tc.path, spaOrigin, tc.form, tc.headers...)
			if tc.wantStatus != 0 && resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin") == spaOrigin; got != tc.wantCORS {
				t.Errorf("Access-Control-Allow-Origin %q, CORS wanted %v", resp.Header.Get("Access-Control-Allow-Origin"), tc.wantCORS)
			}
		})
	}
	if !ts.revoked.Revoked(ts.accessClaims(t, tok.AccessToken).ID) {
		t.Error("cross-origin revocation did not revoke")
	}
}

// TestCORSFollowsTheDirectory: an app disabled at run time loses its
// origin at once; one enabled gains it.
func TestCORSFollowsTheDirectory(t *testing.T) {
	ts := corsTestServer(t)
	const other = "https://other.example.com"
	preflight := func() int {
		return ts.call(t, http.MethodOptions, "/connect/token", other, nil, "Access-Control-Request-Method", "POST").StatusCode
	}
	if got := preflight(); got != http.StatusNoContent {
		t.Fatalf("enabled app's origin: %d", got)
	}
	apps := testApps()
	for i := range apps {
		if apps[i].ID == "com.example/other" {
			apps[i].Enabled = false
		}
	}
	ts.directory.SetConfig(apps, testUsers())
	if got := preflight(); got != http.StatusForbidden {
		t.Fatalf("origin of an app disabled at run time: %d, want 403", got)
	}
	ts.directory.SetConfig(testApps(), testUsers())
	if got := preflight(); got != http.StatusNoContent {
		t.Fatalf("origin of the app enabled again: %d", got)
	}
}

// TestCORSPublicMetadata: discovery and the JWKS stay readable from any
// origin.
func TestCORSPublicMetadata(t *testing.T) {
	ts := corsTestServer(t)
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/openid-configuration/jwks"} {
		if resp := ts.call(t, http.MethodGet, path, "https://evil.example.com", nil); resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: Access-Control-Allow-Origin %q, want *", path, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}

func TestWebOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://app.example.com/cb":         "https://app.example.com",
		"https://APP.example.com:443/cb":     "https://app.example.com",
		"http://127.0.0.1:5173/callback":     "http://127.0.0.1:5173",
		"http://localhost:80/cb":             "http://localhost",
		"http://[::1]:8080/cb":               "http://[::1]:8080",
		"http://[::1]/cb":                    "http://[::1]",
		"https://app.example.com:8443/x?y=1": "https://app.example.com:8443",
		"HTTPS://app.example.com/cb":         "https://app.example.com",
		"com.example.app:/callback":          "",
		"file:///etc/passwd":                 "",
		"/relative":                          "",
		"http://:":                           "",
		"http://[fe80::1%25eth0]:1/":         "",
		"":                                   "",
	} {
		if got := webOrigin(in); got != want {
			t.Errorf("webOrigin(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzWebOrigin: whatever a redirect URI holds, its origin is "" or a
// scheme://host[:port] that is its own origin again, never "null", and
// never with a path, query, fragment or user info to echo.
func FuzzWebOrigin(f *testing.F) {
	for _, s := range []string{"https://app.example.com/cb", "http://[::1]:5173/cb", "https://A.example.com:443/x?y#z",
		"http://user:pw@127.0.0.1:80/", "null", "http://%41/", "https://app.example.com:0/",
		"http://[fe80::1%25eth0]:1/", "http://:"} { // the last two: fuzz findings
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		o := webOrigin(uri)
		if o == "" {
			return
		}
		if o == "null" || webOrigin(o) != o {
			t.Fatalf("webOrigin(%q) = %q", uri, o)
		}
		rest := o[strings.Index(o, "://")+3:]
		if strings.ContainsAny(rest, "/?#@ \r\n") {
			t.Fatalf("webOrigin(%q) = %q: more than scheme, host and port", uri, o)
		}
	})
}
