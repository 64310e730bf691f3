package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/backchannel"
	"github.com/erpgate/erpgate/internal/testrp"
	"github.com/erpgate/erpgate/sampleapi"
	"github.com/erpgate/erpgate/store"
)

// Back-channel logout (OpenID Connect Back-Channel Logout 1.0) across
// the gateway: every way a session ends tells each app that got tokens
// for it, once, with a token a relying party accepts (§2.6, checked by
// internal/testrp with the keys discovery publishes).

const (
	secondApp    = "com.example/bcl-second" // dora signs in to it by SSO, in the doors app's session
	secondSecret = "bcl-second-secret"
	bystanderApp = "com.example/bcl-bystander" // registers a URI, never gets tokens
)

// logoutConfig gives the doors app a backchannel_logout_uri at rp and
// adds the SSO app and the bystander, both with URIs there too.
func logoutConfig(yml string, rp *testrp.RP) string {
	yml = editDoorsApp("    name: Doors\n", "    name: Doors\n    backchannel_logout_uri: "+rp.URI(doorsApp)+"\n")(yml)
	apps := fmt.Sprintf(`apps:
  - uri: %s
    name: Second
    secret_hash: %s
    scope: read
    redirect_uris: [%s]
    allow_internal_users: true
    backchannel_logout_uri: %s
  - uri: %s
    name: Bystander
    secret_hash: %s
    scope: read
    redirect_uris: [%s]
    allow_internal_users: true
    backchannel_logout_uri: %s
    backchannel_logout_session_required: true
`, secondApp, SecretHash(secondSecret), doorsRedirect, rp.URI(secondApp),
		bystanderApp, SecretHash("bystander"), doorsRedirect, rp.URI(bystanderApp))
	return strings.Replace(yml, "apps:\n", apps, 1)
}

// logoutWorld is the doors world with its apps' logout URIs at rp, and
// dora signed in to the second app too, by SSO (same sid).
type logoutWorld struct {
	*doorsWorld
	rp *testrp.RP
}

func newLogoutWorld(t *testing.T, edit func(string) string) *logoutWorld {
	t.Helper()
	rp := testrp.New(t)
	front, g, cfgPath := startWithEditedConfig(t, func(yml string) string {
		yml = logoutConfig(doorsConfig(yml), rp)
		if edit != nil {
			yml = edit(yml)
		}
		return yml
	})
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	w := &doorsWorld{front: front, g: g, app: doorsApp, secret: doorsSecret, yml: string(raw)}
	w.admin = httptest.NewServer(g.admin)
	t.Cleanup(w.admin.Close)
	w.at = &replica{front: w.front, admin: w.admin}
	rp.Discover(t, t.Context(), front.URL+"/id")
	w.obtainCredentials(t)
	lw := &logoutWorld{doorsWorld: w, rp: rp}
	lw.sso(t, w.creds[credUser], secondApp, secondSecret)
	return lw
}

// sso signs c's browser in to app silently (its identity cookie) with
// the code flow and PKCE, and exchanges the code: app now holds tokens
// for c's sign-in session.
func (w *doorsWorld) sso(t *testing.T, c *doorsCred, app, secret string) {
	t.Helper()
	verifier := strings.Repeat("s", 50)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {app}, "redirect_uri": {doorsRedirect}, "response_type": {"code"}, "scope": {"openid read"},
		"state": {"st-sso"}, "nonce": {"n-sso"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	resp, err := c.browser.Get(w.front.URL + "/id/connect/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || !strings.HasPrefix(loc.String(), doorsRedirect) || loc.Query().Get("code") == "" {
		t.Fatalf("SSO into %s: %d %v %v", app, resp.StatusCode, loc, err)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {doorsRedirect}, "code_verifier": {verifier}}
	req, _ := http.NewRequest(http.MethodPost, w.front.URL+"/id/connect/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(app), url.QueryEscape(secret))
	tr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(tr.Body)
	tr.Body.Close()
	if tr.StatusCode != http.StatusOK {
		t.Fatalf("SSO code exchange for %s: %d %s", app, tr.StatusCode, body)
	}
}

// logoutKey is one token received: which app, about which session.
type logoutKey struct{ app, sid, sub string }

// expectLogouts waits for want (each once) at w's RP, then a while more,
// and fails on any token missing, any extra one (a second token for an
// end, one for an app that never got tokens), and any the RP refused.
func expectLogouts(t *testing.T, rp *testrp.RP, want []logoutKey) {
	t.Helper()
	start := time.Now()
	rp.Wait(len(want), 10*time.Second)
	took := time.Since(start)
	time.Sleep(300 * time.Millisecond) // room for a duplicate to arrive
	got := map[logoutKey]int{}
	var keys []string
	for _, l := range rp.Received() {
		k := logoutKey{l.ClientID, l.SessionID, l.Subject}
		got[k]++
		keys = append(keys, fmt.Sprint(k))
	}
	sort.Strings(keys)
	for _, k := range want {
		if got[k] != 1 {
			t.Errorf("%+v: %d logout tokens, want 1 (received %v)", k, got[k], keys)
		}
		delete(got, k)
	}
	for k, n := range got {
		t.Errorf("unexpected: %d logout tokens for %+v", n, k)
	}
	if rej := rp.Rejected(); len(rej) != 0 {
		t.Errorf("the RP refused: %v", rej)
	}
	t.Logf("%d logout tokens verified by the RP, %s after the end", len(want), took.Round(time.Millisecond))
}

// Every way a session ends → exactly one logout token per app that got
// tokens for it: the doors app and, by SSO in the same session, the
// second app; never the bystander, which got none; never for a service
// or reference-token session.
func TestBackchannelLogoutEveryEnd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(string) string
		end   func(t *testing.T, w *logoutWorld)
		carol bool // the community user's sign-in ends too (she has tokens of the doors app, no ERP session)
	}{
		{name: "end_session logout", end: func(t *testing.T, w *logoutWorld) {
			doorRule("signed out (endsession with id_token_hint)").change(t, w.doorsWorld)
		}, carol: true},
		{name: "admin end via the admin API", end: func(t *testing.T, w *logoutWorld) {
			doorRule("sessions ended by an administrator").change(t, w.doorsWorld)
		}},
		{name: "idle reap",
			edit: func(yml string) string { return strings.Replace(yml, "idle_timeout: 20m", "idle_timeout: 2s", 1) },
			end: func(t *testing.T, w *logoutWorld) {
				time.Sleep(2100 * time.Millisecond)
				if err := w.g.sessions.Reap(t.Context()); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "app disabled (kill switch)", end: func(t *testing.T, w *logoutWorld) {
			doorRule("kill switch: the app disabled by a config reload").change(t, w.doorsWorld)
		}},
		{name: "user disabled", end: func(t *testing.T, w *logoutWorld) {
			doorRule("the user disabled").change(t, w.doorsWorld)
		}},
		{name: "password change", end: func(t *testing.T, w *logoutWorld) {
			doorRule("the user's password changed").change(t, w.doorsWorld)
		}},
		{name: "user removed", end: func(t *testing.T, w *logoutWorld) {
			doorRule("the user removed").change(t, w.doorsWorld)
		}},
		{name: "app no longer allows the user's type", end: func(t *testing.T, w *logoutWorld) {
			doorRule("the app no longer allows internal users").change(t, w.doorsWorld)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newLogoutWorld(t, tc.edit)
			if got := w.rp.Received(); len(got) != 0 {
				t.Fatalf("logout tokens before any end: %+v", got)
			}
			dora := w.creds[credUser]
			tc.end(t, w)
			want := []logoutKey{{doorsApp, dora.sid, "dora"}, {secondApp, dora.sid, "dora"}}
			if tc.carol {
				carol := ts(t, w, w.creds[credCommunity])
				want = append(want, logoutKey{doorsApp, carol, "carol"})
			}
			expectLogouts(t, w.rp, want)
		})
	}
}

// ts is the sid of c's tokens (a community user's calls open no session,
// so c.sid is empty): read from its ID token as the RP would.
func ts(t *testing.T, w *logoutWorld, c *doorsCred) string {
	t.Helper()
	payload, err := w.g.keys.Verify(c.idToken, "JWT")
	if err != nil {
		t.Fatal(err)
	}
	var id struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(payload, &id); err != nil || id.SID == "" {
		t.Fatalf("ID token sid: %v", err)
	}
	return id.SID
}

// An app that answers 503 is tried again and counted once delivered; the
// metric and the audit line say so.
func TestBackchannelLogoutRetriedAndMeasured(t *testing.T) {
	w := newLogoutWorld(t, nil)
	fails := 1
	w.rp.Answer(func(app string, n int) int {
		if app == secondApp && fails > 0 {
			fails--
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	doorRule("sessions ended by an administrator").change(t, w.doorsWorld)
	dora := w.creds[credUser]
	// The retry comes after the default backoff (4s).
	expectLogouts(t, w.rp, []logoutKey{{doorsApp, dora.sid, "dora"}, {secondApp, dora.sid, "dora"}})
	status, body := call(t, http.MethodGet, w.admin.URL+"/metrics", "")
	if status != http.StatusOK || !strings.Contains(body, `erpgate_backchannel_logout_total{result="delivered"} 2`) ||
		!strings.Contains(body, "erpgate_backchannel_logout_queued 0") {
		var lines []string
		for _, l := range strings.Split(body, "\n") {
			if strings.Contains(l, "backchannel") {
				lines = append(lines, l)
			}
		}
		t.Errorf("metrics: %d\n%s", status, strings.Join(lines, "\n"))
	}
}

// Two replicas on one PostgreSQL database: a session ended on A gives
// each app exactly one logout token, not one per replica (B hears of the
// end by its sync, not Here); an idle end reaped by both replicas at
// once is also told once.
func TestBackchannelLogoutAcrossReplicas(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(string) string
		end   func(t *testing.T, w *logoutWorld, b *Gateway)
		carol bool
	}{
		{name: "admin end on A", end: func(t *testing.T, w *logoutWorld, _ *Gateway) {
			doorRule("sessions ended by an administrator").change(t, w.doorsWorld)
		}},
		// dora's session is open on B, carol's never opened (a tombstone).
		{name: "logout on A", end: func(t *testing.T, w *logoutWorld, _ *Gateway) {
			doorRule("signed out (endsession with id_token_hint)").change(t, w.doorsWorld)
		}, carol: true},
		{name: "idle, reaped by both at once",
			edit: func(yml string) string { return strings.Replace(yml, "idle_timeout: 20m", "idle_timeout: 2s", 1) },
			end: func(t *testing.T, w *logoutWorld, b *Gateway) {
				time.Sleep(2100 * time.Millisecond)
				done := make(chan error, 2)
				for _, g := range []*Gateway{w.g, b} {
					go func() { done <- g.sessions.Reap(context.Background()) }()
				}
				for range 2 {
					if err := <-done; err != nil {
						t.Fatal(err)
					}
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, b := newReplicaLogoutWorld(t, tc.edit)
			dora := w.creds[credUser]
			tc.end(t, w, b)
			want := []logoutKey{{doorsApp, dora.sid, "dora"}, {secondApp, dora.sid, "dora"}}
			if tc.carol {
				want = append(want, logoutKey{doorsApp, ts(t, w, w.creds[credCommunity]), "carol"})
			}
			// Past B's end sync (1s): B hears of the ends, and must not
			// tell the apps again.
			time.Sleep(1500 * time.Millisecond)
			expectLogouts(t, w.rp, want)
		})
	}
}

// newReplicaLogoutWorld is newLogoutWorld on two replicas sharing one
// new PostgreSQL schema: changes and sign-ins on A; B runs too (its
// loops sync ends, and it would send if it took an end for its own).
func newReplicaLogoutWorld(t *testing.T, edit func(string) string) (*logoutWorld, *Gateway) {
	t.Helper()
	dsn := replicaSchemaDSN(t)
	rp := testrp.New(t)
	up := httptest.NewServer(sampleapi.New())
	t.Cleanup(up.Close)
	fronts := []*httptest.Server{httptest.NewUnstartedServer(nil), httptest.NewUnstartedServer(nil)}
	raw, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yml := logoutConfig(doorsConfig(strings.NewReplacer(
		"http://localhost:8080", "http://"+fronts[0].Listener.Addr().String(),
		"http://127.0.0.1:8081", up.URL,
		"driver: sqlite ", "driver: postgres",
		"dsn: data/erpgate.db", "dsn: "+fmt.Sprintf("%q", dsn),
	).Replace(string(raw))), rp) + fmt.Sprintf("allowed_hosts: [%q]\n", fronts[1].Listener.Addr().String())
	if edit != nil {
		yml = edit(yml)
	}
	gs, admins := startReplicas(t, yml, fronts)
	w := &doorsWorld{front: fronts[0], admin: admins[0], g: gs[0], app: doorsApp, secret: doorsSecret, yml: yml}
	w.at = &replica{front: fronts[1], admin: admins[1]}
	rp.Discover(t, t.Context(), fronts[0].URL+"/id")
	w.obtainCredentials(t)
	lw := &logoutWorld{doorsWorld: w, rp: rp}
	lw.sso(t, w.creds[credUser], secondApp, secondSecret)
	return lw, gs[1]
}

// The janitor forgets an app's record of a session once every token it
// could hold for it has expired (the longest refresh token lifetime, or
// the sign-in's), and keeps a record refreshed since.
func TestSweepSessionClients(t *testing.T) {
	_, g, _ := startWithConfigFile(t)
	f := g.current().file
	retention := sessionClientRetention(f)
	if retention < f.Tokens.RefreshTokenTTL.D() || retention < identitySessionTTL || retention < f.Tokens.AccessTokenTTL.D() {
		t.Fatalf("retention %s is shorter than a token or sign-in it covers", retention)
	}
	now := time.Now()
	for sid, seen := range map[string]time.Time{
		"stale": now.Add(-retention - time.Hour),
		"fresh": now.Add(-retention + time.Hour),
	} {
		if err := g.store.RecordSessionClient(t.Context(), store.SessionClient{SessionID: sid, ClientID: "app", Subject: "alice", SeenAt: seen}); err != nil {
			t.Fatal(err)
		}
	}
	g.sweep(t.Context())
	for sid, want := range map[string]int{"stale": 0, "fresh": 1} {
		got, err := g.store.TakeSessionClients(t.Context(), sid)
		if err != nil || len(got) != want {
			t.Errorf("%s: %d records (%v), want %d", sid, len(got), err, want)
		}
	}
}

// Cross-JWT confusion (Back-Channel Logout §4.1 "Cross-JWT Confusion"
// and RFC 8725 §3.11): a logout token, signed by the very keys that sign
// access and ID tokens, is neither an access token at the proxy nor an
// id_token_hint that logs the session out: its typ (logout+jwt) and its
// missing claims keep it apart.
func TestLogoutTokenIsNoOtherToken(t *testing.T) {
	front, g, _ := startWithConfigFile(t)
	const sid = "sid-confusion"
	access := mint(t, g, "alice", sid, false, "read")
	if status, body := call(t, http.MethodGet, front.URL+sampleapi.PersonsPath, access); status != http.StatusOK {
		t.Fatalf("proxied call: %d %s", status, body)
	}
	now := time.Now()
	c, err := backchannel.NewClaims(g.file.Issuer(), backchannel.Logout{ClientID: mintApp, SessionID: sid, Subject: "alice"}, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	logout, err := g.keys.Sign(backchannel.TokenType, c)
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := call(t, http.MethodGet, front.URL+sampleapi.PersonsPath, logout); status != http.StatusUnauthorized {
		t.Errorf("a logout token as a bearer token: %d, want 401", status)
	}
	resp, err := http.Get(front.URL + "/id/connect/endsession?id_token_hint=" + url.QueryEscape(logout))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s := sessionRecord(t, g, sid); !s.Open() {
		t.Errorf("a logout token as id_token_hint ended the session (%s, status %d)", s.EndReason, resp.StatusCode)
	}
}
