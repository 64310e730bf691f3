package gateway

import (
	"net/http"
	"strings"
	"testing"
)

// TestHostCheckWiring: the whole main listener, identity server and
// proxy alike, answers 421 for a Host that is neither public_url's nor
// in allowed_hosts, and a reload that adds a host lets it in.
func TestHostCheckWiring(t *testing.T) {
	x := startReloadFixture(t)
	get := func(path, host string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, x.front.URL+path, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	public := x.front.Listener.Addr().String()
	paths := []string{"/id/.well-known/openid-configuration", "/api/health"}
	for _, p := range paths {
		if code := get(p, public); code != http.StatusOK {
			t.Errorf("GET %s, Host %s: %d, want 200", p, public, code)
		}
		if code := get(p, "evil.example"); code != http.StatusMisdirectedRequest {
			t.Errorf("GET %s, Host evil.example: %d, want 421", p, code)
		}
	}
	x.write(t, strings.TrimRight(x.yml, "\n")+"\nallowed_hosts: [erp.internal]\n")
	if err := x.reloadFile(); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if code := get(p, "ERP.internal"); code != http.StatusOK {
			t.Errorf("after the reload, GET %s, Host ERP.internal: %d, want 200", p, code)
		}
		if code := get(p, "evil.example"); code != http.StatusMisdirectedRequest {
			t.Errorf("after the reload, GET %s, Host evil.example: %d, want 421", p, code)
		}
	}
}
