package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
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

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/dpop/dpoptest"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/sampleapi"
	"github.com/erpgate/erpgate/store"
)

// One rule at every door (SPEC §4): for each rule about credentials, every
// door that can see the credential gives the same answer. The doors are
// listed once (doors below) and every rule runs against all of them, so a
// door added to the list cannot skip a rule, and a rule added cannot skip
// a door.
//
// Each rule starts a fresh gateway through the real wiring, obtains every
// kind of credential the way clients do (code flow with PKCE through the
// login form, client credentials, PAT and SAT), opens their sessions with
// one proxied call, applies one change (revocation, logout, an
// administrator, a config reload, the kill switch) and then asks every
// door.

// Credential kinds the rules are stated for.
const (
	credUser      = "user"      // an internal administrator signed in through the code flow
	credCommunity = "community" // a community user signed in through the code flow
	credService   = "service"   // client credentials, acting as the app's system user
	credPAT       = "pat"       // personal access token of the administrator
	credSAT       = "sat"       // service access token of the app
)

var credKinds = []string{credUser, credCommunity, credService, credPAT, credSAT}

// doorsApp is the Trusted App every credential of the rules belongs to;
// the rules change it. opsApp is the administrator's tool, never changed.
const (
	doorsApp      = "com.example/doors"
	doorsSecret   = "doors-secret"
	doorsRedirect = "http://127.0.0.1:9/callback" // never contacted: the code is read from the redirect
	opsApp        = "com.example/ops"
	opsSecret     = "ops-secret"
	doorsPassword = "alice-demo-password" // the example config's hash, reused for dora and carol
)

// doorsConfig adds to the example config: dora (an internal administrator),
// carol (a community user), svc-other (a second system user), the doors
// app (which allows both user types, reference tokens, and sec) and the
// ops app (the administrator's client-credentials tool).
func doorsConfig(yml string) string {
	hash := regexp.MustCompile(`(?m)^    password_hash: (\$argon2id\S+)`).FindStringSubmatch(yml)[1]
	users := fmt.Sprintf(`users:
  - {login: dora, password_hash: %q, name: Dora Admin, email: dora@example.com, type: internal, admin: true}
  - {login: carol, password_hash: %q, name: Carol Partner, type: community}
  - {login: svc-other, type: system}
`, hash, hash)
	apps := fmt.Sprintf(`apps:
  - uri: %s
    name: Doors
    secret_hash: %s
    system_user: svc-sync
    scope: read update sec
    redirect_uris: [%s]
    allow_internal_users: true
    allow_community_users: true
    reference_tokens: authenticated_users
  - uri: %s
    secret_hash: %s
    system_user: svc-sync
    scope: sec
`, doorsApp, SecretHash(doorsSecret), doorsRedirect, opsApp, SecretHash(opsSecret))
	yml = strings.Replace(yml, "users:\n", users, 1)
	// The tests are the edge that asks forward auth (SPEC §11).
	yml += "trusted_proxies: [127.0.0.1, \"::1\"]\n"
	return regexp.MustCompile(`(?m)^apps:.*\n`).ReplaceAllLiteralString(yml, apps)
}

// doorsWorld is one gateway with one credential of every kind. With
// replicas, changes are made on one (front, admin, g) and the doors are
// asked on the other (at); alone, both are the same gateway.
type doorsWorld struct {
	front, admin *httptest.Server
	g            *Gateway
	at           *replica
	app, secret  string // the Trusted App of every credential
	yml          string // the config as running
	creds        map[string]*doorsCred
}

// replica is where the doors are asked.
type replica struct{ front, admin *httptest.Server }

// doorsCred is one credential and what came with it.
type doorsCred struct {
	kind    string
	token   string         // access token or enrt_… value
	refresh string         // user kinds: the refresh token
	idToken string         // user kinds: for endsession
	browser *http.Client   // user kinds: holds the identity (SSO) cookie
	refID   string         // reference kinds: the token's id
	sid     string         // the session the first proxied call opened
	jar     *cookiejar.Jar // browser's jar
	// key, when set, is the DPoP key the token is bound to: the doors
	// are asked with the DPoP scheme and a fresh proof by it (RFC 9449
	// §7.1), unless present says otherwise (the DPoP rules' attacks).
	key     *dpoptest.Key
	present func(req *http.Request, method, url string)
}

// authorize sets c's credential on req, a request for method and url
// (the URL a proof names: forward auth's is the original request's), as
// its client sends it.
func (c *doorsCred) authorize(req *http.Request, method, url string) {
	switch {
	case c.present != nil:
		c.present(req, method, url)
	case c.key != nil:
		req.Header.Set("Authorization", "DPoP "+c.token)
		req.Header.Set("DPoP", c.key.Proof(method, url, c.token, time.Now()))
	default:
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

// ask sends method url with c's credential; the status and body.
func (c *doorsCred) ask(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	c.authorize(req, method, url)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func newDoorsWorld(t *testing.T) *doorsWorld {
	t.Helper()
	return newDoorsWorldWith(t, "")
}

// newDoorsWorldWith is newDoorsWorld with extra appended to the config.
func newDoorsWorldWith(t *testing.T, extra string) *doorsWorld {
	t.Helper()
	front, g, cfgPath := startWithEditedConfig(t, func(yml string) string { return doorsConfig(yml) + extra })
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	w := &doorsWorld{front: front, g: g, app: doorsApp, secret: doorsSecret, yml: string(raw)}
	w.admin = httptest.NewServer(g.admin)
	t.Cleanup(w.admin.Close)
	w.at = &replica{front: w.front, admin: w.admin}
	w.obtainCredentials(t)
	return w
}

// obtainCredentials gets one credential of every kind for w.app and opens
// their sessions with one proxied call each.
func (w *doorsWorld) obtainCredentials(t *testing.T) {
	t.Helper()
	w.creds = map[string]*doorsCred{}
	w.creds[credUser] = w.signIn(t, "dora")
	w.creds[credCommunity] = w.signIn(t, "carol")
	w.creds[credService] = &doorsCred{kind: credService, token: w.clientToken(t, w.app, w.secret)}
	w.creds[credPAT] = w.reference(t, store.PersonalAccessToken, "dora")
	w.creds[credSAT] = w.reference(t, store.ServiceAccessToken, "")
	for _, k := range credKinds {
		c := w.creds[k]
		status, body := w.proxyGet(t, c.token)
		if want := http.StatusOK; k == credCommunity {
			// Community users take no slot and get no API access.
			if status != http.StatusForbidden {
				t.Fatalf("%s: first proxied call %d %s, want 403", k, status, body)
			}
			continue
		} else if status != want {
			t.Fatalf("%s: first proxied call %d %s", k, status, body)
		}
		var p sampleapi.Persons
		if err := json.Unmarshal([]byte(body), &p); err != nil || p.Auth.Session == "" {
			t.Fatalf("%s: upstream saw no session: %s", k, body)
		}
		c.sid = p.Auth.Session
	}
}

// signIn plays a browser through the authorization code flow with PKCE
// and the login form, then exchanges the code as the doors app.
func (w *doorsWorld) signIn(t *testing.T, login string) *doorsCred {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	verifier := strings.Repeat("v", 20) + login + strings.Repeat("x", 30)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {w.app}, "redirect_uri": {doorsRedirect}, "response_type": {"code"},
		"scope": {"openid profile offline_access read update sec"}, "state": {"st-" + login}, "nonce": {"n-" + login},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	next := w.front.URL + "/id/connect/authorize?" + q.Encode()
	var code string
	for hop := 0; code == "" && hop < 6; hop++ {
		resp, err := browser.Get(next)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK { // the login form
			form := hiddenFields(string(body))
			form.Set("login", login)
			form.Set("password", doorsPassword)
			resp, err = browser.PostForm(w.front.URL+"/id/account/login", form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("sign-in of %s: %d without a redirect: %s", login, resp.StatusCode, body)
		}
		if strings.HasPrefix(loc.String(), doorsRedirect) {
			code = loc.Query().Get("code")
			if code == "" {
				t.Fatalf("sign-in of %s: %s", login, loc)
			}
		}
		next = loc.String()
	}
	tr := w.tokenRequest(t, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {doorsRedirect}, "code_verifier": {verifier}})
	if tr.status != http.StatusOK || tr.AccessToken == "" || tr.RefreshToken == "" {
		t.Fatalf("code exchange for %s: %d %+v", login, tr.status, tr)
	}
	kind := credUser
	if login == "carol" {
		kind = credCommunity
	}
	return &doorsCred{kind: kind, token: tr.AccessToken, refresh: tr.RefreshToken, idToken: tr.IDToken, browser: browser, jar: jar}
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)

func hiddenFields(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

type doorsTokenResponse struct {
	status       int
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Error        string `json:"error"`
}

// tokenRequest posts to the token endpoint as the doors app.
func (w *doorsWorld) tokenRequest(t *testing.T, form url.Values) doorsTokenResponse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.front.URL+"/id/connect/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(w.app), url.QueryEscape(w.secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr doorsTokenResponse
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	tr.status = resp.StatusCode
	return tr
}

func (w *doorsWorld) clientToken(t *testing.T, id, secret string) string {
	t.Helper()
	resp, err := http.PostForm(w.front.URL+"/id/connect/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr doorsTokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
		t.Fatalf("client credentials for %s: %d %v %+v", id, resp.StatusCode, err, tr)
	}
	return tr.AccessToken
}

// reference issues a PAT (for login) or SAT of the doors app, as the CLI
// does (an operator).
func (w *doorsWorld) reference(t *testing.T, typ, login string) *doorsCred {
	t.Helper()
	is, err := w.g.reftokens.Issue(context.Background(), reftoken.IssueRequest{
		Type: typ, ClientID: w.app, Subject: login, Scopes: []string{"read", "update", "sec"}, ExpiresIn: time.Hour,
	})
	if err != nil {
		t.Fatalf("issue %s: %v", typ, err)
	}
	return &doorsCred{kind: typ, token: is.Value, refID: is.Token.ID}
}

func (w *doorsWorld) proxyGet(t *testing.T, tok string) (int, string) {
	t.Helper()
	return call(t, http.MethodGet, w.at.front.URL+sampleapi.PersonsPath, tok)
}

// revoke revokes tok at /id/connect/revocation as w.app (RFC 7009).
func (w *doorsWorld) revoke(t *testing.T, tok string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.front.URL+"/id/connect/revocation",
		strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(w.app), url.QueryEscape(w.secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation: %d", resp.StatusCode)
	}
}

// reload applies edit to the running config, as SIGHUP would.
func (w *doorsWorld) reload(t *testing.T, edit func(string) string) {
	t.Helper()
	next := edit(w.yml)
	if next == w.yml {
		t.Fatal("reload: the edit changed nothing")
	}
	f, err := config.Parse([]byte(next), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if err := w.g.Reload(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	w.yml = next
}

// editApp rewrites one line of the doors app's entry.
func editDoorsApp(old, new string) func(string) string {
	return func(yml string) string {
		i := strings.Index(yml, "  - uri: "+doorsApp)
		j := i + strings.Index(yml[i:], "  - uri: "+opsApp)
		return yml[:i] + strings.Replace(yml[i:j], old, new, 1) + yml[j:]
	}
}

// verdict is one door's answer about one credential.
type verdict struct {
	accepted bool
	status   int
	scope    string // the scopes the door honoured, when it shows them
}

func (v verdict) String() string {
	if v.accepted {
		return fmt.Sprintf("accepted (%d, scope %q)", v.status, v.scope)
	}
	return fmt.Sprintf("refused (%d)", v.status)
}

// door asks one door about c; ok is false when the door cannot see this
// kind of credential (userinfo needs a user's token, the account page a
// browser's identity session).
type door struct {
	name string
	ask  func(t *testing.T, w *doorsWorld, c *doorsCred) (v verdict, ok bool)
}

var doors = []door{
	{"proxy", func(t *testing.T, w *doorsWorld, c *doorsCred) (verdict, bool) {
		status, body := c.ask(t, http.MethodGet, w.at.front.URL+sampleapi.PersonsPath)
		var p sampleapi.Persons
		_ = json.Unmarshal([]byte(body), &p)
		return verdict{accepted: status == http.StatusOK, status: status, scope: p.Auth.Scope}, true
	}},
	{"forward auth", func(t *testing.T, w *doorsWorld, c *doorsCred) (verdict, bool) {
		// As Caddy and Traefik ask (SPEC §11), for the proxy door's request.
		req, _ := http.NewRequest(http.MethodGet, w.at.front.URL+"/oauth2/auth", nil)
		c.authorize(req, http.MethodGet, w.at.front.URL+sampleapi.PersonsPath)
		req.Header.Set("X-Forwarded-Method", http.MethodGet)
		req.Header.Set("X-Forwarded-Uri", sampleapi.PersonsPath)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return verdict{accepted: resp.StatusCode == http.StatusAccepted, status: resp.StatusCode,
			scope: resp.Header.Get("X-Auth-Scope")}, true
	}},
	{"admin API", func(t *testing.T, w *doorsWorld, c *doorsCred) (verdict, bool) {
		status, _ := c.ask(t, http.MethodGet, w.at.admin.URL+"/admin/license")
		return verdict{accepted: status == http.StatusOK, status: status}, true
	}},
	{"userinfo", func(t *testing.T, w *doorsWorld, c *doorsCred) (verdict, bool) {
		if c.browser == nil {
			return verdict{}, false
		}
		status, _ := c.ask(t, http.MethodGet, w.at.front.URL+"/id/connect/userinfo")
		return verdict{accepted: status == http.StatusOK, status: status}, true
	}},
	{"introspection", func(t *testing.T, w *doorsWorld, c *doorsCred) (verdict, bool) {
		req, _ := http.NewRequest(http.MethodPost, w.at.front.URL+"/id/connect/introspect",
			strings.NewReader(url.Values{"token": {c.token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(opsApp), url.QueryEscape(opsSecret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var in struct {
			Active bool   `json:"active"`
			Scope  string `json:"scope"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&in)
		return verdict{accepted: in.Active, status: resp.StatusCode, scope: in.Scope}, true
	}},
	{"account page", func(t *testing.T, w *doorsWorld, c *doorsCred) (verdict, bool) {
		if c.browser == nil {
			return verdict{}, false
		}
		resp, err := c.browser.Get(w.at.front.URL + "/id/account/tokens")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return verdict{accepted: resp.StatusCode == http.StatusOK, status: resp.StatusCode}, true
	}},
}

// tokenDoors are the doors that judge the credential itself; the account
// page judges the browser's identity session, which revoking one token
// does not end.
func tokenDoor(name string) bool { return name != "account page" }

// rule is one change and, per credential kind and door, whether the door
// accepts the credential afterwards.
type rule struct {
	name   string
	change func(t *testing.T, w *doorsWorld)
	accept func(kind, door string) bool
	// noScope, when set, is a scope no accepting door may honour.
	noScope string
}

// baseline is who is accepted where when nothing changed: everyone
// everywhere, except that community users get no API access (ERP.net:
// external users get ID tokens and userinfo, not the instance APIs) and
// are no administrators.
func baseline(kind, door string) bool {
	return kind != credCommunity || door != "proxy" && door != "forward auth" && door != "admin API"
}

func only(kinds ...string) func(kind, door string) bool {
	return func(kind, door string) bool {
		for _, k := range kinds {
			if k == kind {
				return baseline(kind, door)
			}
		}
		return false
	}
}

func except(kinds ...string) func(kind, door string) bool {
	return func(kind, door string) bool {
		for _, k := range kinds {
			if k == kind {
				return false
			}
		}
		return baseline(kind, door)
	}
}

var doorRules = []rule{
	{name: "nothing changed", change: func(*testing.T, *doorsWorld) {}, accept: baseline},
	{
		name: "every access token revoked (RFC 7009, admin API for reference tokens)",
		change: func(t *testing.T, w *doorsWorld) {
			for _, k := range credKinds {
				c := w.creds[k]
				if c.refID != "" {
					if status, _ := call(t, http.MethodDelete, w.admin.URL+"/admin/tokens/"+c.refID, w.clientToken(t, opsApp, opsSecret)); status != http.StatusOK {
						t.Fatalf("revoke %s: %d", k, status)
					}
					continue
				}
				w.revoke(t, c.token)
			}
		},
		// Revoking a token does not end the browser's sign-in.
		accept: func(kind, door string) bool { return !tokenDoor(door) && baseline(kind, door) },
	},
	{
		name: "refresh token family revoked",
		change: func(t *testing.T, w *doorsWorld) {
			for _, k := range []string{credUser, credCommunity} {
				w.revoke(t, w.creds[k].refresh)
			}
		},
		accept: func(kind, door string) bool {
			return (kind != credUser && kind != credCommunity || !tokenDoor(door)) && baseline(kind, door)
		},
	},
	{
		name: "sessions ended by an administrator",
		change: func(t *testing.T, w *doorsWorld) {
			ops := w.clientToken(t, opsApp, opsSecret)
			for _, k := range credKinds {
				if sid := w.creds[k].sid; sid != "" {
					if status, body := call(t, http.MethodDelete, w.admin.URL+"/admin/sessions/"+sid, ops); status != http.StatusOK {
						t.Fatalf("end session of %s: %d %s", k, status, body)
					}
				}
			}
		},
		// Reference tokens outlive their sessions: the next call opens a
		// new one (SPEC §5). The community user had no session to end.
		accept: only(credPAT, credSAT, credCommunity),
	},
	{
		name: "signed out (endsession with id_token_hint)",
		change: func(t *testing.T, w *doorsWorld) {
			for _, k := range []string{credUser, credCommunity} {
				c := w.creds[k]
				resp, err := c.browser.Get(w.front.URL + "/id/connect/endsession?id_token_hint=" + url.QueryEscape(c.idToken))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
		},
		accept: except(credUser, credCommunity),
	},
	{
		name: "kill switch: the app disabled by a config reload",
		change: func(t *testing.T, w *doorsWorld) {
			w.reload(t, editDoorsApp("    name: Doors\n", "    name: Doors\n    enabled: false\n"))
		},
		// The account page is the user's own sign-in, which serves every
		// app: one app's kill switch does not close it.
		accept: func(kind, door string) bool { return door == "account page" },
	},
	{
		name: "kill switch off again: reference tokens come back, ended sessions do not",
		change: func(t *testing.T, w *doorsWorld) {
			w.reload(t, editDoorsApp("    name: Doors\n", "    name: Doors\n    enabled: false\n"))
			w.reload(t, editDoorsApp("    enabled: false\n", ""))
		},
		// The community user had no session to end; a sign-in session is
		// not an ERP session, so the account page is still open to them.
		accept: func(kind, door string) bool {
			switch kind {
			case credPAT, credSAT, credCommunity:
				return baseline(kind, door)
			}
			return door == "account page"
		},
	},
	{
		name: "the app lost scope update",
		change: func(t *testing.T, w *doorsWorld) {
			w.reload(t, editDoorsApp("scope: read update sec", "scope: read sec"))
		},
		accept:  baseline,
		noScope: "update",
	},
	{
		name: "the app lost scope sec",
		change: func(t *testing.T, w *doorsWorld) {
			w.reload(t, editDoorsApp("scope: read update sec", "scope: read update"))
		},
		accept: func(kind, door string) bool { return door != "admin API" && baseline(kind, door) },
	},
	{
		name: "the user removed",
		change: func(t *testing.T, w *doorsWorld) {
			w.reload(t, func(yml string) string {
				return regexp.MustCompile(`(?m)^  - \{login: dora,.*\n`).ReplaceAllString(yml, "")
			})
		},
		accept: except(credUser, credPAT),
	},
	{
		name: "the user disabled",
		change: func(t *testing.T, w *doorsWorld) {
			w.reload(t, func(yml string) string {
				return strings.Replace(yml, "type: internal, admin: true}", "type: internal, admin: true, enabled: false}", 1)
			})
		},
		accept: except(credUser, credPAT),
	},
	{
		name: "the app no longer allows internal users",
		change: func(t *testing.T, w *doorsWorld) {
			w.reload(t, editDoorsApp("allow_internal_users: true", "allow_internal_users: false"))
		},
		// The account page is the user's own, not the app's.
		accept: func(kind, door string) bool {
			return (kind != credUser && kind != credPAT || door == "account page") && baseline(kind, door)
		},
	},
	{
		name: "the app no longer allows community users",
		change: func(t *testing.T, w *doorsWorld) {
			w.reload(t, editDoorsApp("allow_community_users: true", "allow_community_users: false"))
		},
		accept: func(kind, door string) bool {
			return (kind != credCommunity || door == "account page") && baseline(kind, door)
		},
	},
	{
		name: "the app's reference_tokens policy set to none",
		change: func(t *testing.T, w *doorsWorld) {
			w.reload(t, editDoorsApp("reference_tokens: authenticated_users", "reference_tokens: none"))
		},
		accept: except(credPAT, credSAT),
	},
	{
		name: "the app acts as another system user",
		change: func(t *testing.T, w *doorsWorld) {
			w.reload(t, editDoorsApp("system_user: svc-sync", "system_user: svc-other"))
		},
		accept: except(credService, credSAT),
	},
	{
		name: "the user's password changed",
		change: func(t *testing.T, w *doorsWorld) {
			w.reload(t, func(yml string) string {
				return regexp.MustCompile(`(\{login: dora, password_hash: )"[^"]+"`).
					ReplaceAllString(yml, `${1}"`+strings.ReplaceAll(otherPasswordHash, "$", "$$")+`"`)
			})
		},
		// Every refresh token of the user is revoked with the access tokens
		// issued from it, and the sign-in ends; a PAT is a credential of
		// its own and stays.
		accept: except(credUser),
	},
}

// otherPasswordHash is a valid argon2id hash of another password.
const otherPasswordHash = "$argon2id$v=19$m=65536,t=1,p=2$oeEs02YZLyEE6kRO+ik12Q$d9h+EFSvWmX86Yx9XM48GCPrRQu6uiv499V1qVG/tkM"

func TestOneRuleAtEveryDoor(t *testing.T) {
	for _, r := range doorRules {
		t.Run(r.name, func(t *testing.T) {
			w := newDoorsWorld(t)
			r.change(t, w)
			for _, k := range credKinds {
				c := w.creds[k]
				for _, d := range doors {
					got, ok := d.ask(t, w, c)
					if !ok {
						continue
					}
					if want := r.accept(k, d.name); got.accepted != want {
						t.Errorf("%s credential at the %s: %s, want accepted=%v", k, d.name, got, want)
					}
					if got.accepted && r.noScope != "" && strings.Contains(" "+got.scope+" ", " "+r.noScope+" ") {
						t.Errorf("%s credential at the %s: scope %q still honoured (%s)", k, d.name, r.noScope, got)
					}
				}
			}
			if r.name == "the user's password changed" || r.name == "the app lost scope update" {
				w.checkRefresh(t, r)
			}
		})
	}
}

// checkRefresh: a refresh after the change follows the same rule (the
// token endpoint is a door for refresh tokens).
func (w *doorsWorld) checkRefresh(t *testing.T, r rule) {
	t.Helper()
	tr := w.tokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {w.creds[credUser].refresh}})
	switch r.name {
	case "the user's password changed":
		if tr.status != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Errorf("refresh after a password change: %d %+v, want invalid_grant", tr.status, tr)
		}
	case "the app lost scope update":
		if tr.status != http.StatusOK {
			t.Fatalf("refresh: %d %+v", tr.status, tr)
		}
		c, err := w.g.verifier.Verify(context.Background(), tr.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		for _, sc := range c.Scope.Values {
			if sc == "update" {
				t.Errorf("refresh re-issued scope update the app no longer has: %v", c.Scope.Values)
			}
		}
	}
}
