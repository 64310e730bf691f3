package issuer

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/erpgate/erpgate/directory"
)

// The hybrid flow, response_type=code id_token (OIDC Core §3.3), and the
// response modes (OAuth 2.0 Multiple Response Type Encoding Practices,
// Form Post Response Mode).

const spaID, spaRedirect = "com.example/spa", "http://127.0.0.1:5000/cb"

// authzResponse walks authorize → login page → credentials like
// browser.login, and returns the authorization endpoint's last answer:
// a redirect, or the form_post page.
func (b *browser) authzResponse(q url.Values, user, pw string) (*http.Response, string) {
	b.t.Helper()
	resp, page := b.get(b.ts.issuer + "/connect/authorize?" + q.Encode())
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/account/login?") {
		return resp, page // answered without a sign-in (an error, or SSO)
	}
	_, page = b.get(b.ts.URL + resp.Header.Get("Location"))
	f := formFields(page)
	f.Set("login", user)
	f.Set("password", pw)
	return b.post(b.ts.issuer+"/account/login", f)
}

// delivered is an authorization response as the client reads it, and how
// it came.
type delivered struct {
	mode   string // query, fragment or form_post
	params url.Values
}

// readResponse reads the authorization response sent to redirect,
// whatever the mode, and checks the redirect URI's own query is kept
// unchanged beside a fragment.
func readResponse(t *testing.T, resp *http.Response, page, redirect string) delivered {
	t.Helper()
	if resp.StatusCode == http.StatusOK && strings.Contains(page, `action="`+redirect+`"`) {
		return delivered{"form_post", formFields(page)}
	}
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, redirect) {
		t.Fatalf("answer %d Location %q, want a redirect to %s", resp.StatusCode, loc, redirect)
	}
	if frag, ok := strings.CutPrefix(loc, redirect+"#"); ok {
		v, err := url.ParseQuery(frag)
		if err != nil {
			t.Fatalf("fragment %q: %v", frag, err)
		}
		return delivered{"fragment", v}
	}
	return delivered{"query", redirectQuery(t, resp, redirect)}
}

// cHash is OIDC Core §3.3.2.11 written out for RS256: "hash the octets of
// the ASCII representation of the code with the hash algorithm used for
// the alg Header Parameter of the ID Token's JOSE Header. ... take the
// left-most 128 bits and base64url-encode them."
func cHash(code string) string {
	sum := sha256.Sum256([]byte(code))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func TestHybridFlow(t *testing.T) {
	for _, tc := range []struct {
		name, clientID, secret, redirect string
		extra                            []string
		wantMode                         string
		wantIDToken                      bool
	}{
		{"code by fragment", webID, webSecret, webRedirect,
			[]string{"response_mode", "fragment"}, "fragment", false},
		{"code id_token, fragment by default", webID, webSecret, webRedirect,
			[]string{"response_type", "code id_token"}, "fragment", true},
		{"id_token code, any order", webID, webSecret, webRedirect,
			[]string{"response_type", "id_token code"}, "fragment", true},
		{"code id_token, fragment asked for", webID, webSecret, webRedirect,
			[]string{"response_type", "code id_token", "response_mode", "fragment"}, "fragment", true},
		{"code id_token, form_post", webID, webSecret, webRedirect,
			[]string{"response_type", "code id_token", "response_mode", "form_post"}, "form_post", true},
		{"code id_token, redirect URI with a query", webID, webSecret, "http://127.0.0.1:7000/cb?tenant=1",
			[]string{"response_type", "code id_token"}, "fragment", true},
		{"code id_token, public app", spaID, "", spaRedirect,
			[]string{"response_type", "code id_token"}, "fragment", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, nil)
			b := newBrowser(t, ts)
			p := newPKCE()
			q := authzQuery(tc.clientID, tc.redirect, "openid profile read", p, tc.extra...)
			resp, page := b.authzResponse(q, "alice", "alice-pw")
			got := readResponse(t, resp, page, tc.redirect)
			code := got.params.Get("code")
			if got.mode != tc.wantMode || code == "" || got.params.Get("state") != "st-123" || got.params.Get("iss") != ts.issuer {
				t.Fatalf("response by %s = %v, want code, state and iss by %s", got.mode, got.params, tc.wantMode)
			}
			if got.params.Has("access_token") || got.params.Has("token_type") {
				t.Fatalf("an access token in the front channel: %v", got.params)
			}
			if resp.Header.Get("Location") != "" && resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("authorization redirect Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
			idt := got.params.Get("id_token")
			if (idt != "") != tc.wantIDToken {
				t.Fatalf("id_token in the response = %v, want %v", idt != "", tc.wantIDToken)
			}
			var front idClaims
			if tc.wantIDToken {
				front = ts.idClaims(t, idt) // signature checked against the JWKS keys
				if front.Issuer != ts.issuer || front.Subject != "alice" || strings.Join(front.Audience, ",") != tc.clientID ||
					front.AZP != tc.clientID || front.Nonce != "n-456" || front.SID == "" || front.AuthTime != testNow.Unix() ||
					front.Expiry <= front.IssuedAt {
					t.Errorf("front-channel ID token claims = %+v", front)
				}
				// No profile claims in a URL fragment: the token endpoint
				// and userinfo give them (OIDC Core §5.4).
				if front.Name != "" || front.Email != "" {
					t.Errorf("the front-channel ID token carries profile claims: %+v", front)
				}
				if front.CHash != cHash(code) {
					t.Errorf("c_hash = %q, want %q (OIDC Core §3.3.2.11)", front.CHash, cHash(code))
				}
				if front.AtHash != "" {
					t.Errorf("at_hash %q without an access token", front.AtHash)
				}
			}

			// The code redeems once, with PKCE, at the token endpoint.
			form := codeForm(code, tc.redirect, p.verifier)
			res := ts.exchange(t, tc.clientID, tc.secret, form)
			if res.status != 200 {
				t.Fatalf("code exchange: %d %v", res.status, res.body)
			}
			back := ts.idClaims(t, res.body["id_token"].(string))
			if back.Nonce != "n-456" || back.CHash != "" || back.AtHash != atHash("RS256", res.body["access_token"].(string)) {
				t.Errorf("token endpoint ID token = %+v", back)
			}
			// OIDC Core §3.3.3.6: "its iss and sub Claim Values MUST be
			// identical to those in the ID Token issued from the
			// Authorization Endpoint".
			if tc.wantIDToken && (back.Issuer != front.Issuer || back.Subject != front.Subject || back.SID != front.SID) {
				t.Errorf("token endpoint ID token %+v differs from the front channel's %+v", back, front)
			}
			if replay := ts.exchange(t, tc.clientID, tc.secret, form); replay.status != 400 || replay.body["error"] != "invalid_grant" {
				t.Fatalf("replayed code: %d %v", replay.status, replay.body)
			}
		})
	}
}

// TestHybridSSO: with a live sign-in the hybrid response comes at once,
// and each response's ID token is bound to its own code only: one
// response's id_token pasted beside another's code does not check out.
func TestHybridSSO(t *testing.T) {
	ts := newTestServer(t, nil)
	b := newBrowser(t, ts)
	p := newPKCE()
	q := authzQuery(webID, webRedirect, "openid", p, "response_type", "code id_token")
	resp, page := b.authzResponse(q, "alice", "alice-pw")
	first := readResponse(t, resp, page, webRedirect).params
	resp, page = b.get(ts.issuer + "/connect/authorize?" + q.Encode())
	second := readResponse(t, resp, page, webRedirect).params
	if second.Get("code") == "" || second.Get("code") == first.Get("code") {
		t.Fatalf("SSO response %v", second)
	}
	c1, c2 := ts.idClaims(t, first.Get("id_token")), ts.idClaims(t, second.Get("id_token"))
	if c1.SID != c2.SID {
		t.Errorf("SSO changed the sid: %s, %s", c1.SID, c2.SID)
	}
	if c1.CHash != cHash(first.Get("code")) || c2.CHash != cHash(second.Get("code")) {
		t.Fatal("c_hash does not match its own code")
	}
	if c1.CHash == cHash(second.Get("code")) || c2.CHash == cHash(first.Get("code")) {
		t.Error("a c_hash matches another response's code")
	}
	tampered := []byte(first.Get("code"))
	tampered[0] ^= 1
	if c1.CHash == cHash(string(tampered)) {
		t.Error("c_hash matches a code with one bit changed")
	}
	// A tampered code is no code at the token endpoint either.
	if res := ts.exchange(t, webID, webSecret, codeForm(string(tampered), webRedirect, p.verifier)); res.status != 400 {
		t.Errorf("tampered code: %d %v", res.status, res.body)
	}
}

// TestHybridRefusals: errors go to the client in the response mode the
// flow allows. "The default Response Mode for this Response Type is the
// fragment encoding and the query encoding MUST NOT be used" (OIDC Core
// §3.3.2.5), so a hybrid request's errors never go in the query.
func TestHybridRefusals(t *testing.T) {
	ts := newTestServer(t, nil)
	p := newPKCE()
	hybrid := func(extra ...string) url.Values {
		return authzQuery(webID, webRedirect, "openid read", p, append([]string{"response_type", "code id_token"}, extra...)...)
	}
	for _, tc := range []struct {
		name     string
		q        url.Values
		wantErr  string
		wantMode string // "page": our own error page, no redirect
	}{
		{"query refused, by fragment", hybrid("response_mode", "query"), "invalid_request", "fragment"},
		{"unknown response_mode, by fragment", hybrid("response_mode", "jwt"), "invalid_request", "fragment"},
		{"no nonce", hybrid("nonce", ""), "invalid_request", "fragment"},
		{"no nonce, form_post", hybrid("nonce", "", "response_mode", "form_post"), "invalid_request", "form_post"},
		{"no openid", hybrid("scope", "read"), "invalid_request", "fragment"},
		{"no scope: the app's, without openid", hybrid("scope", ""), "invalid_request", "fragment"},
		{"no state", hybrid("state", ""), "invalid_request", "fragment"},
		{"no pkce", authzQuery(webID, webRedirect, "openid", pkce{}, "response_type", "code id_token"), "invalid_request", "fragment"},
		{"pkce plain", hybrid("code_challenge_method", "plain"), "invalid_request", "fragment"},
		{"bad scope", hybrid("scope", "openid sec"), "invalid_scope", "fragment"},
		{"prompt none without a session", hybrid("prompt", "none"), "login_required", "fragment"},
		{"redirect not registered", authzQuery(webID, "https://evil.example.com/cb", "openid", p, "response_type", "code id_token"), "invalid_request", "page"},
		{"unknown client", authzQuery("com.example/nobody", webRedirect, "openid", p, "response_type", "code id_token"), "unauthorized_client", "page"},
		// RFC 9700 §2.1.2: no access tokens from the authorization endpoint.
		{"token", hybrid("response_type", "token"), "unsupported_response_type", "query"},
		{"id_token alone", hybrid("response_type", "id_token"), "unsupported_response_type", "query"},
		{"code token", hybrid("response_type", "code token"), "unsupported_response_type", "query"},
		{"code id_token token", hybrid("response_type", "code id_token token"), "unsupported_response_type", "query"},
		{"code code", hybrid("response_type", "code code"), "unsupported_response_type", "query"},
		{"two spaces", hybrid("response_type", "code  id_token"), "unsupported_response_type", "query"},
		{"no response_type", hybrid("response_type", ""), "unsupported_response_type", "query"},
		{"token, fragment asked for", hybrid("response_type", "token", "response_mode", "fragment"), "unsupported_response_type", "fragment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, page := newBrowser(t, ts).get(ts.issuer + "/connect/authorize?" + tc.q.Encode())
			if tc.wantMode == "page" {
				if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(page, tc.wantErr) {
					t.Fatalf("want an error page with %s, got %d Location=%q", tc.wantErr, resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			got := readResponse(t, resp, page, webRedirect)
			if got.mode != tc.wantMode || got.params.Get("error") != tc.wantErr || got.params.Get("iss") != ts.issuer ||
				got.params.Get("state") != tc.q.Get("state") {
				t.Fatalf("response by %s = %v, want error %s with state and iss by %s", got.mode, got.params, tc.wantErr, tc.wantMode)
			}
			if got.params.Has("code") || got.params.Has("id_token") {
				t.Fatalf("an error response carries a grant: %v", got.params)
			}
		})
	}
}

// TestHybridAfterLoginErrors: a sign-in that cannot become a response
// (the user may not use the app) is answered in the flow's mode too.
func TestHybridAfterLoginErrors(t *testing.T) {
	ts := newTestServer(t, nil)
	b := newBrowser(t, ts)
	p := newPKCE()
	q := authzQuery(webID, webRedirect, "openid", p, "response_type", "code id_token")
	b.login(authzQuery(webID, webRedirect, "openid", p), "alice", "alice-pw") // a live session
	// Alice becomes a community user, whom the web app does not allow.
	users := testUsers()
	users[1].Type = directory.TypeCommunity
	ts.directory.SetConfig(testApps(), users)
	resp, page := b.get(ts.issuer + "/connect/authorize?" + q.Encode())
	got := readResponse(t, resp, page, webRedirect)
	if got.mode != "fragment" || got.params.Get("error") != "access_denied" || got.params.Has("id_token") {
		t.Fatalf("response by %s = %v, want access_denied by fragment", got.mode, got.params)
	}
}

// TestHybridThroughConsent: the consent page carries the hybrid request
// on; its answer comes in the fragment, allow with the ID token, deny
// with access_denied.
func TestHybridThroughConsent(t *testing.T) {
	ts := newTestServer(t, nil)
	b := newBrowser(t, ts)
	p := newPKCE()
	b.login(authzQuery(webID, webRedirect, "openid", p), "alice", "alice-pw") // a live session
	q := authzQuery(webID, webRedirect, "openid read", p, "response_type", "code id_token", "prompt", "consent")
	for _, decision := range []string{"allow", "deny"} {
		resp, page := b.get(ts.issuer + "/connect/authorize?" + q.Encode())
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="decision"`) {
			t.Fatalf("prompt=consent: %d, not the consent page", resp.StatusCode)
		}
		f := formFields(page)
		f.Set("decision", decision)
		resp, page = b.post(ts.issuer+"/account/consent", f)
		got := readResponse(t, resp, page, webRedirect)
		if got.mode != "fragment" || got.params.Get("state") != "st-123" || got.params.Get("iss") != ts.issuer {
			t.Fatalf("%s: response by %s = %v", decision, got.mode, got.params)
		}
		if decision == "deny" {
			if got.params.Get("error") != "access_denied" || got.params.Has("code") || got.params.Has("id_token") {
				t.Fatalf("deny: %v", got.params)
			}
			continue
		}
		c := ts.idClaims(t, got.params.Get("id_token"))
		if c.CHash != cHash(got.params.Get("code")) || c.Nonce != "n-456" {
			t.Fatalf("allow: ID token %+v for code %s", c, got.params.Get("code"))
		}
	}
}

func TestParseResponseType(t *testing.T) {
	for in, want := range map[string]string{
		"code": responseTypeCode, "code id_token": responseTypeHybrid, "id_token code": responseTypeHybrid,
		"": "", "token": "", "id_token": "", "code token": "", "code id_token token": "", "id_token token": "",
		"code code": "", " code": "", "code ": "", "code\tid_token": "", "Code": "", "none": "",
	} {
		if got := parseResponseType(in); got != want {
			t.Errorf("parseResponseType(%q) = %q, want %q", in, got, want)
		}
	}
}

// updateGolden reports -update: rewrite the golden files in testdata. The
// flag is registered once for the package, by whichever file does first.
func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files in testdata")
	}
}

// TestDiscoveryGolden pins the discovery document (the issuer URL, which
// changes with the test server's port, written as {issuer}). Run with
// -update after a deliberate change.
func TestDiscoveryGolden(t *testing.T) {
	const golden = "testdata/discovery.golden.json"
	ts := newTestServer(t, nil)
	resp, err := ts.Client().Get(ts.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("discovery headers %v", resp.Header)
	}
	got := append(bytes.ReplaceAll(body, []byte(ts.issuer), []byte("{issuer}")), '\n')
	if updateGolden() {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./issuer -run TestDiscoveryGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("discovery document differs from %s (run with -update if intended):\n%s", golden, got)
	}
}
