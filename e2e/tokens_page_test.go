package e2e

import (
	"context"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The self-service page for personal access tokens and the sample app
// config.example.yaml lets users create them for.
const (
	tokensPagePath = "/id/account/tokens"
	gatewayApp     = "erpgate" // reference_tokens: authenticated_users
)

var referenceTokenValue = regexp.MustCompile(`^enrt_[0-9A-F]{64}$`)

// TestTokensPage creates a personal access token in a real headless
// Chromium the way a person would (SPEC §6), uses it, and revokes it: the
// page sends a signed-out browser through the gateway's sign-in and back;
// the new value is shown once and a reload does not show it again; the
// token calls the API as its user with X-Api-Key; revoking it on the page
// refuses it at once; the audit log has both events and never the value.
func TestTokensPage(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath(chromiumPath)
	requireDep(t, err == nil, "Chromium at "+chromiumPath+" (apt-get install chromium)")
	g := startGateway(t, gatewayOptions{})
	pageURL := g.PublicURL + tokensPagePath

	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	defer cancel()
	ctx = newBrowser(t, ctx)
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, browserStepTimeout)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("%s: %v (browser at %s)", name, err, loc)
		}
	}
	text := func(name, sel string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, browserStepTimeout)
		defer cancel()
		v, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return strings.TrimSpace(v)
	}
	eval := func(name, js string) bool {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, browserStepTimeout)
		defer cancel()
		v, err := chromedp.Run(sctx, chromedp.Evaluate[bool](js))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v
	}

	// 1. Signed out, the page sends the browser through the gateway's
	// sign-in, which returns it to the page.
	step("open the tokens page", chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.CSS("#login")))
	step("sign in",
		chromedp.SendKeys(chromedp.CSS("#login"), aliceLogin),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.CSS("#create-token")),
	)
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != pageURL {
		t.Errorf("after sign-in the browser is at %s, want %s", loc, pageURL)
	}

	// 2. Create a read-only token for the gateway's app: its read scope
	// is preselected, and only it.
	if !eval("read preselected", `document.querySelector("#scope-read").checked && !document.querySelector("#scope-update").checked`) {
		t.Error("the create form does not preselect the app's read scope alone")
	}
	step("create a token",
		chromedp.SendKeys(chromedp.CSS("#token-name"), "e2e script"),
		chromedp.SetValue(chromedp.CSS("#app"), gatewayApp),
		chromedp.SetValue(chromedp.CSS("#expires_days"), "7"),
		chromedp.Click(chromedp.CSS("#create")),
		chromedp.WaitVisible(chromedp.CSS("#new-token-value")),
	)
	value := text("read the new value", "#new-token-value")
	id := text("read the new token's id", "#new-token-id")
	if !referenceTokenValue.MatchString(value) {
		t.Fatalf("the page shows %q, want enrt_ and 64 hex digits", value)
	}
	if !strings.Contains(text("the notice", "#new-token"), "will not be shown again") {
		t.Error("the page does not say the value will not be shown again")
	}

	// 3. A reload lists the token but not its value.
	step("reload", chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.CSS("#token-"+id)))
	if eval("value on the reloaded page", `document.documentElement.outerHTML.includes(`+strconv.Quote(value)+`)`) {
		t.Error("the reloaded page shows the token's value")
	}
	if s := text("status", "#token-"+id+" .status"); s != "active" {
		t.Errorf("the new token's status is %q, want active", s)
	}

	// 4. The token calls the API as alice (SPEC §4: X-Api-Key carries
	// reference tokens).
	resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, "", "X-Api-Key", value)
	if resp.Status != http.StatusOK {
		t.Fatalf("GET persons with the new token: %s", resp)
	}
	if a := decodePersons(t, resp).Auth; a.Subject != aliceLogin || a.ClientID != gatewayApp || a.Scope != "read" || a.UserType != "InternalUser" {
		t.Errorf("the upstream saw subject %q, client %q, scope %q, user type %q; want alice, %s, read, InternalUser", a.Subject, a.ClientID, a.Scope, a.UserType, gatewayApp)
	}
	// The token has read only: writing is refused.
	if resp := g.call(t, http.MethodPost, g.PublicURL+personsPath, "", "X-Api-Key", value); resp.Status != http.StatusForbidden {
		t.Errorf("POST persons with a read-only token: %s, want 403", resp)
	}

	// 5. Revoke it on the page, which asks first naming the token; the
	// same call is refused from then on.
	step("revoke", chromedp.Click(chromedp.CSS("#revoke-"+id)), chromedp.WaitVisible(chromedp.CSS("#confirm-revoke")))
	if n := text("the confirmation names the token", "#revoke-token-name"); n != "e2e script" {
		t.Errorf("the confirmation names %q, want e2e script", n)
	}
	step("confirm", chromedp.Click(chromedp.CSS("#confirm-revoke")), chromedp.WaitVisible(chromedp.CSS("#message")))
	if s := text("status after revoking", "#token-"+id+" .status"); !strings.HasPrefix(s, "revoked") {
		t.Errorf("after revoking, the token's status is %q", s)
	}
	var last response
	if !poll(2*time.Second, func() bool {
		last = g.call(t, http.MethodGet, g.PublicURL+personsPath, "", "X-Api-Key", value)
		return last.Status == http.StatusUnauthorized
	}) {
		t.Errorf("GET persons with the revoked token: %s, want 401", last)
	}

	// 6. Audit (SPEC §8): issued and revoked, by and for alice; the value
	// is in no log.
	var issued, revoked bool
	for _, e := range auditEvents(t, g.Stderr()) {
		if e.Subject != aliceLogin || e.ClientID != gatewayApp {
			continue
		}
		issued = issued || e.Event == "reference_token.issued"
		revoked = revoked || e.Event == "reference_token.revoked"
	}
	if !issued || !revoked {
		t.Errorf("audit log: issued %v, revoked %v; want both for alice and %s", issued, revoked, gatewayApp)
	}
	if strings.Contains(g.Stdout()+g.Stderr(), value) {
		t.Error("the token's value is in the logs")
	}
}
