package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestConsoleAccessibility runs the accessibility and phone checks of
// a11y_test.go (axe-core WCAG 2.1 A and AA, no sideways scroll, every
// control reachable, field borders, errors tied to their fields) on the
// admin console's pages, signed in as the administrator, at every
// viewport.
func TestConsoleAccessibility(t *testing.T) {
	t.Parallel()
	axe := a11yReadAxe(t)
	// Identity providers, so that the app form's sign-in checkboxes are
	// checked too; nothing dials them.
	c := startConsoleWith(t, func(cfg string) string {
		return cfg + "\nidentity_providers:\n" +
			"  - {id: corp-ad, name: Corporate directory, type: ldap, url: \"ldaps://127.0.0.1:636\", user_base: \"dc=example\"}\n" +
			"  - {id: partners, type: ldap, url: \"ldaps://127.0.0.1:636\", user_base: \"dc=partners\"}\n"
	})
	pages := []struct {
		name, path string
		then       []chromedp.Action[chromedp.Void]
		want       string
		// errorFields are the ids the page's form error is tied to.
		errorFields []string
	}{
		{name: "license", path: "/", want: "#license"},
		{name: "sessions", path: "/sessions", want: "#filter"},
		{name: "apps", path: "/apps", want: "#apps"},
		{name: "new app", path: "/apps/new", want: "#idp-corp-ad"}, // the running config's providers reach the form
		{name: "new app, refused", path: "/apps/new", want: "#problems", then: []chromedp.Action[chromedp.Void]{
			chromedp.SendKeys(chromedp.CSS("#app-uri"), "com.example/a11y"),
			chromedp.SendKeys(chromedp.CSS("#app-redirects"), "http://not-loopback.example/cb"),
			chromedp.Click(chromedp.CSS("#save")),
		}},
		{name: "tokens", path: "/tokens", want: "#issue-token"},
		{name: "tokens, refused", path: "/tokens", want: "#token-user-error", errorFields: []string{"token-user"}, then: []chromedp.Action[chromedp.Void]{
			chromedp.SetValue(chromedp.CSS("#token-type"), "pat"),
			chromedp.SendKeys(chromedp.CSS("#token-app"), syncClient),
			chromedp.Click(chromedp.CSS("#issue")),
		}},
		{name: "users", path: "/users", want: "#users"},
		{name: "new user", path: "/users/new", want: "#user-form"},
		{name: "events", path: "/events", want: "#events"},
	}
	var summary []string
	for _, vp := range a11yViewports {
		t.Run(vp.name, func(t *testing.T) {
			b, done := newA11yTab(t, c.b.ctx, c.g, vp)
			defer done()
			c.signIn(b, adminLogin, adminPassword)
			for _, p := range pages {
				b.step("open "+p.name, chromedp.Navigate(c.url+"/admin/ui"+p.path))
				if len(p.then) > 0 {
					b.step("reach "+p.name, append([]chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS("#console-nav"))}, p.then...)...)
				}
				a11yWaitForPage(b, p.want, "")
				f := a11yCheckPage(b, axe, vp, p.errorFields)
				a11yScreenshot(t, b, "console "+p.name, vp)
				if problems := f.problems(vp); len(problems) > 0 {
					t.Errorf("console %s at %s, %s: %d problems\n%s", p.name, vp, b.location(), len(problems), a11yReport(problems, true))
					summary = append(summary, fmt.Sprintf("%-24s %-8s %s", p.name, vp.name, a11yReport(problems, false)))
				}
			}
		})
	}
	if len(summary) > 0 {
		t.Logf("console pages with problems:\n%s", strings.Join(summary, "\n"))
	}
}
