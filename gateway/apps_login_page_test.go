package gateway

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAdminAppLoginPage: an app created through the admin API with
// identity_providers and local_passwords has the login page they say
// (SPEC §10): the provider's button, and the password form only with
// local passwords. Nothing dials the provider until its button is used.
func TestAdminAppLoginPage(t *testing.T) {
	front, g, _ := startWithEditedConfig(t, func(yml string) string {
		return withAdminScope(yml) + "\nidentity_providers:\n  - {id: corp, type: oidc, name: Corp, issuer: \"https://127.0.0.1:1\", client_id: x, client_secret: y}\n"
	})
	admin := mint(t, g, "admin", "sid-admin", true, "sec")
	for _, tc := range []struct {
		uri   string
		local bool
	}{{"com.example/fedonly", false}, {"com.example/both", true}} {
		code, body := adminDo(t, g, "POST", "/admin/apps", admin, map[string]any{"uri": tc.uri, "type": "public", "scope": "read",
			"redirect_uris": []string{"https://app.example/cb"}, "identity_providers": []string{"corp"}, "local_passwords": tc.local})
		if code != 201 {
			t.Fatalf("%d %v", code, body)
		}
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		sum := sha256.Sum256([]byte(strings.Repeat("f", 50)))
		q := url.Values{"client_id": {tc.uri}, "redirect_uri": {"https://app.example/cb"}, "response_type": {"code"}, "scope": {"openid read"},
			"state": {"st"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
		resp, err := browser.Get(front.URL + "/id/connect/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		resp, err = browser.Get(front.URL + resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(b)
		hasButton := regexp.MustCompile(`id="provider-corp"`).MatchString(page)
		hasPassword := strings.Contains(page, `id="password"`)
		t.Logf("%s: status %d, button %v, password form %v", tc.uri, resp.StatusCode, hasButton, hasPassword)
		if !hasButton || hasPassword != tc.local {
			t.Errorf("%s: page %s", tc.uri, page)
		}
	}
}
