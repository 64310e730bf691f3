package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/erpgate/erpgate/adminui"
	"github.com/erpgate/erpgate/config"
)

// TestConsoleWiring: with admin_ui on (as in config.example.yaml) the
// admin listener serves the console, its built-in app is in the
// directory as a config app, the sign-in it starts is one the
// authorization endpoint accepts, and a reload keeps the app (admin_ui
// is restart-only); with admin_ui off there is neither.
func TestConsoleWiring(t *testing.T) {
	front, g, _ := startWithEditedConfig(t, withAdminScope)
	const origin = "http://127.0.0.1:9090" // admin_listen of the example
	check := func(when string) {
		t.Helper()
		app := g.directory.App(config.AdminConsoleApp)
		if app == nil || !g.directory.ConfigApp(config.AdminConsoleApp) {
			t.Fatalf("%s: the console's app is not a config app of the directory", when)
		}
		if !app.Public || !app.RequirePKCE || !app.Enabled || app.AllowCommunityUsers || !app.AllowInternalUsers || app.ConsentRequired ||
			strings.Join(app.Scopes, " ") != "sec" || len(app.RedirectURIs) != 1 || app.RedirectURIs[0] != origin+"/admin/ui/callback" {
			t.Errorf("%s: console app %+v", when, app)
		}
	}
	check("at start")
	// The API and the console list it, read-only, as built in.
	code, list := adminDo(t, g, "GET", "/admin/apps", mint(t, g, "admin", "sid-admin", true, "sec"), nil)
	var listed map[string]any
	apps, _ := list["apps"].([]any)
	for _, a := range apps {
		if m := a.(map[string]any); m["uri"] == config.AdminConsoleApp {
			listed = m
		}
	}
	if code != 200 || listed["source"] != "builtin" || listed["type"] != "public" {
		t.Errorf("GET /admin/apps: %d, the console's app %v", code, listed)
	}

	rec := httptest.NewRecorder()
	g.admin.ServeHTTP(rec, httptest.NewRequest("GET", origin+"/admin/ui/apps", nil))
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != adminui.Path+"/login?rd="+url.QueryEscape("/admin/ui/apps") {
		t.Fatalf("signed out: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	rec = httptest.NewRecorder()
	g.admin.ServeHTTP(rec, httptest.NewRequest("GET", origin+"/admin/ui/login", nil))
	authz := rec.Header().Get("Location")
	if !strings.HasPrefix(authz, front.URL+"/id/connect/authorize?") {
		t.Fatalf("login sends to %q, want the identity server at %s", authz, front.URL)
	}
	resp, err := http.Get(authz)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `id="password"`) {
		t.Fatalf("the authorization endpoint answers the console's request with %d:\n%s", resp.StatusCode, body)
	}

	// A reload that turns the console off keeps it (restart-only); the
	// branding it brings reaches the console's pages.
	f := *g.file
	f.AdminUI.Enabled = false
	f.UI.ProductName = "Reloaded Gateway Co"
	if err := g.Reload(context.Background(), &f); err != nil {
		t.Fatal(err)
	}
	check("after a reload")
	rec = httptest.NewRecorder()
	g.admin.ServeHTTP(rec, httptest.NewRequest("GET", origin+"/admin/ui/signed-out", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Reloaded Gateway Co") {
		t.Errorf("the console after a reload of ui.product_name: %d, without the new name", rec.Code)
	}

	_, off, _ := startWithEditedConfig(t, func(yml string) string {
		return strings.Replace(yml, "admin_ui: {enabled: true}", "admin_ui: {enabled: false}", 1)
	})
	if off.console != nil || off.directory.App(config.AdminConsoleApp) != nil {
		t.Error("admin_ui off: a console or its app")
	}
	rec = httptest.NewRecorder()
	off.admin.ServeHTTP(rec, httptest.NewRequest("GET", origin+"/admin/ui/", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("admin_ui off: /admin/ui/ is %d, want the admin API's 401", rec.Code)
	}
}
