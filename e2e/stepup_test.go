package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStepUpMaxAge runs a route that requires a sign-in at most 3 s old
// (routes[].require_auth.max_age) on the built binary: alice's token
// passes at once; once her sign-in is older, the same call gets RFC
// 9470's 401 insufficient_user_authentication challenge with
// max_age="3"; a fresh sign-in passes again. A service token, with no
// sign-in, gets 403.
func TestStepUpMaxAge(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gatewayOptions{Edit: func(cfg string) string {
		up := regexp.MustCompile(`(?m)^    upstream: (\S+)`).FindStringSubmatch(cfg)[1]
		return regexp.MustCompile(`(?m)^routes:.*\n`).ReplaceAllLiteralString(cfg, `routes:
  - name: persons-recent
    match: {path: `+personsPath+`, methods: [GET]}
    upstream: `+up+`
    audience: DomainAPI
    scopes: [read]
    require_auth: {max_age: 3s}
`)
	}})
	api := g.PublicURL + personsPath

	tr := signInAlice(t, g, g)
	_, claims := jwtParts(t, tr.AccessToken)
	authTime, ok := claims["auth_time"].(float64)
	if !ok || claims["acr"] != "pwd" {
		t.Fatalf("access token acr %v auth_time %v", claims["acr"], claims["auth_time"])
	}
	if resp := g.call(t, http.MethodGet, api, tr.AccessToken); resp.Status != http.StatusOK {
		t.Fatalf("fresh sign-in: %s", resp)
	}

	// Wait until the sign-in is more than 3 s old.
	time.Sleep(time.Until(time.Unix(int64(authTime), 0).Add(4*time.Second + 100*time.Millisecond)))
	resp := g.call(t, http.MethodGet, api, tr.AccessToken)
	ch := resp.Header.Get("WWW-Authenticate")
	if resp.Status != http.StatusUnauthorized ||
		!strings.HasPrefix(ch, `Bearer realm="erpgate", error="insufficient_user_authentication", error_description="`) ||
		!strings.Contains(ch, `, max_age="3"`) || strings.Contains(ch, "acr_values") ||
		!strings.Contains(ch, `resource_metadata="`+g.PublicURL+`/.well-known/oauth-protected-resource`+personsPath+`"`) {
		t.Fatalf("after max_age: %s, WWW-Authenticate %q", resp, ch)
	}

	// RFC 9470 §4: the client signs the user in again and retries.
	fresh := signInAlice(t, g, g)
	if resp := g.call(t, http.MethodGet, api, fresh.AccessToken); resp.Status != http.StatusOK {
		t.Fatalf("after a fresh sign-in: %s", resp)
	}

	if resp := g.call(t, http.MethodGet, api, g.token(t, syncClient, syncSecret)); resp.Status != http.StatusForbidden ||
		resp.Header.Get("WWW-Authenticate") != "" || !strings.Contains(string(resp.Body), "insufficient_user_authentication") {
		t.Errorf("service token: %s, WWW-Authenticate %q", resp, resp.Header.Get("WWW-Authenticate"))
	}
}
