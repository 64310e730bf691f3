package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/admin"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/internal/testop"
	"github.com/erpgate/erpgate/issuer"
	"github.com/erpgate/erpgate/store"
)

// A person signed in through an external OpenID provider is an ordinary
// user at every door (SPEC §10): the same doors as the password
// sign-ins of doors_test.go, through the real wiring (identity_providers
// in the config file, a real oidc-provider on loopback).

const fedPublicURL = `(?m)^public_url: (\S+)`

// newFederatedWorld is a doors world whose app offers the provider
// "corp", and one credential: fred's, signed in there.
func newFederatedWorld(t *testing.T) (*doorsWorld, *doorsCred) {
	t.Helper()
	var op *testop.Provider
	front, g, cfgPath := startWithEditedConfig(t, func(yml string) string {
		yml = doorsConfig(yml)
		public := regexp.MustCompile(fedPublicURL).FindStringSubmatch(yml)[1]
		op = testop.Start(t, testop.Options{
			Clients: []testop.Client{{ID: "erpgate", Secret: "op-secret",
				RedirectURIs: []string{public + "/id/account/callback/corp"}}},
			Accounts: []testop.Account{{ID: "sub-fred", Claims: map[string]any{"preferred_username": "fred",
				"name": "Fred Federated", "email": "fred@example.com", "email_verified": true}}},
		})
		yml = editDoorsApp("    name: Doors\n", "    name: Doors\n    identity_providers: [corp]\n")(yml)
		return yml + fmt.Sprintf(`identity_providers:
  - {id: corp, type: oidc, name: Corp, issuer: %q, client_id: erpgate, client_secret: op-secret,
     users: {internal_domains: [example.com], admin_groups: []}}
`, op.URL())
	})
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	w := &doorsWorld{front: front, g: g, app: doorsApp, secret: doorsSecret, yml: string(raw)}
	w.admin = httptest.NewServer(g.admin)
	t.Cleanup(w.admin.Close)
	w.at = &replica{front: w.front, admin: w.admin}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	verifier := strings.Repeat("f", 50)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {w.app}, "redirect_uri": {doorsRedirect}, "response_type": {"code"},
		"scope": {"openid profile offline_access read update"}, "state": {"st-fed"}, "nonce": {"n-fed"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	get := func(u string) (*http.Response, string) {
		t.Helper()
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, _ := get(front.URL + "/id/connect/authorize?" + q.Encode())
	_, page := get(front.URL + resp.Header.Get("Location")) // the login page
	m := regexp.MustCompile(`id="provider-corp" href="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("login page has no button for corp:\n%s", page)
	}
	resp, _ = get(front.URL + html.UnescapeString(m[1]))
	back, err := op.SignIn(browser, resp.Header.Get("Location"), "sub-fred")
	if err != nil {
		t.Fatal(err)
	}
	resp, page = get(back.String())
	loc, err := resp.Location()
	if err != nil || !strings.HasPrefix(loc.String(), doorsRedirect) {
		t.Fatalf("callback: %d %s", resp.StatusCode, page)
	}
	tr := w.tokenRequest(t, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {doorsRedirect}, "code_verifier": {verifier}})
	if tr.status != http.StatusOK || tr.RefreshToken == "" {
		t.Fatalf("code exchange: %d %+v", tr.status, tr)
	}
	c := &doorsCred{kind: "federated", token: tr.AccessToken, refresh: tr.RefreshToken, idToken: tr.IDToken, browser: browser, jar: jar}
	if status, body := w.proxyGet(t, c.token); status != http.StatusOK {
		t.Fatalf("first proxied call: %d %s", status, body)
	}
	return w, c
}

func TestFederatedUserAtEveryDoor(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, w *doorsWorld)
		accept func(door string) bool
	}{
		{"nothing changed", func(*testing.T, *doorsWorld) {},
			// fred is an internal user, not an administrator.
			func(door string) bool { return door != "admin API" }},
		{"kill switch: the app disabled by a config reload", func(t *testing.T, w *doorsWorld) {
			w.reload(t, editDoorsApp("    name: Doors\n", "    name: Doors\n    enabled: false\n"))
		}, func(door string) bool { return door == "account page" }},
		{"the user disabled by an administrator", func(t *testing.T, w *doorsWorld) {
			off := true
			if _, err := w.g.users.Update(context.Background(), "fred", admin.UserEdit{Disabled: &off}); err != nil {
				t.Fatal(err)
			}
		}, func(string) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, c := newFederatedWorld(t)
			tc.change(t, w)
			for _, d := range doors {
				got, ok := d.ask(t, w, c)
				if !ok {
					continue
				}
				if want := tc.accept(d.name); got.accepted != want {
					t.Errorf("federated credential at the %s: %s, want accepted=%v", d.name, got, want)
				}
			}
		})
	}
}

// TestFederatedUserDeleted: deleting the user deletes its links, so the
// identity does not reach a user created again under the login.
func TestFederatedUserDeleted(t *testing.T) {
	w, _ := newFederatedWorld(t)
	ctx := context.Background()
	if l, err := w.g.store.FederatedLink(ctx, "corp", "sub-fred"); err != nil || l.Login != "fred" {
		t.Fatalf("link after the first sign-in: %+v %v", l, err)
	}
	if err := w.g.users.Delete(ctx, "fred"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.g.store.FederatedLink(ctx, "corp", "sub-fred"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("link after the user was deleted: %v, want ErrNotFound", err)
	}
}

// TestCreateFederatedUser: what the issuer's first sign-in asks of the
// registry. A provider's long name is cut and an address the registry
// would refuse left out; a login of the file is never taken; a bad
// login refuses.
func TestCreateFederatedUser(t *testing.T) {
	_, g, _ := startWithEditedConfig(t, nil)
	ctx := context.Background()
	long := strings.Repeat("é", maxNameLength+20)
	if err := g.users.CreateFederatedUser(ctx, directory.User{Login: "zoe@example.com", Name: long + "\x07",
		Email: "Zoe <zoe@example.com>", EmailVerified: true, Type: directory.TypeCommunity}); err != nil {
		t.Fatal(err)
	}
	u := g.directory.User("zoe@example.com")
	if u == nil || len([]rune(u.Name)) != maxNameLength || u.Email != "" || u.EmailVerified || u.PasswordHash != "" || u.ID == "" {
		t.Fatalf("created user %+v", u)
	}
	if err := g.users.CreateFederatedUser(ctx, directory.User{Login: "alice", Type: directory.TypeInternal}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a login of the file: %v, want ErrConflict", err)
	}
	if err := g.users.CreateFederatedUser(ctx, directory.User{Login: "zoe@example.com", Type: directory.TypeInternal}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a stored login: %v, want ErrConflict", err)
	}
	if err := g.users.CreateFederatedUser(ctx, directory.User{Login: "no spaces", Type: directory.TypeInternal}); !errors.Is(err, issuer.ErrUserInvalid) {
		t.Errorf("a bad login: %v, want ErrUserInvalid", err)
	}
	if login, err := g.users.EmailOwner(ctx, "ALICE@example.com"); err != nil || login != "alice" {
		t.Errorf("EmailOwner(alice's) = %q, %v", login, err)
	}
	if login, _ := g.users.EmailOwner(ctx, "nobody@example.com"); login != "" {
		t.Errorf("EmailOwner(nobody's) = %q", login)
	}
}
