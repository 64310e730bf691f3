package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestProtectedResourceDiscovery: a client that knows only an API URL
// finds everything else (RFC 9728 §5 and RFC 8414 §3): the 401's
// resource_metadata hint, the metadata naming the issuer, the issuer's
// metadata at RFC 8414's path, a token from its token endpoint, and the
// call passes.
func TestProtectedResourceDiscovery(t *testing.T) {
	front, _, _ := startWithConfigFile(t)
	api := front.URL + "/api/domain/odata/Persons"

	resp, err := http.Get(api)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ch := resp.Header.Get("WWW-Authenticate")
	_, hint, ok := strings.Cut(ch, `resource_metadata="`)
	if resp.StatusCode != 401 || !ok {
		t.Fatalf("%d, WWW-Authenticate %q: no resource_metadata hint", resp.StatusCode, ch)
	}
	hint = strings.TrimSuffix(hint, `"`)

	var rm struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
	}
	getJSON(t, hint, &rm)
	if rm.Resource != api || len(rm.AuthorizationServers) != 1 || len(rm.ScopesSupported) == 0 {
		t.Fatalf("resource metadata %+v, want the resource %s, one issuer, scopes", rm, api)
	}

	// RFC 8414 §3.1: the issuer's path goes after the well-known path.
	iss, err := url.Parse(rm.AuthorizationServers[0])
	if err != nil {
		t.Fatal(err)
	}
	var as struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	getJSON(t, iss.Scheme+"://"+iss.Host+"/.well-known/oauth-authorization-server"+iss.Path, &as)
	if as.Issuer != rm.AuthorizationServers[0] || as.TokenEndpoint == "" {
		t.Fatalf("authorization server metadata %+v, want issuer %s (RFC 8414 §3.3)", as, rm.AuthorizationServers[0])
	}

	resp, err = http.PostForm(as.TokenEndpoint, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"com.example/nightly-sync"}, "client_secret": {demoSecret},
		"scope": {strings.Join(rm.ScopesSupported, " ")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.AccessToken == "" {
		t.Fatalf("token endpoint %s: %d", as.TokenEndpoint, resp.StatusCode)
	}
	if code, body := call(t, "GET", api, tok.AccessToken); code != 200 {
		t.Fatalf("the call with the discovered token: %d %s", code, body)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}
