package e2e

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/erpgate/erpgate/sampleapi"
)

// PostgreSQL for the replica test: $ERPGATE_TEST_POSTGRES_DSN (as for
// store/postgres), else a local server with trust authentication.
const (
	pgDSNEnv     = "ERPGATE_TEST_POSTGRES_DSN"
	pgDefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// SPEC §9: "A session ended or a token revoked on one replica is refused
// by every other within one second."
const propagation = time.Second

// recoverWait bounds how long the gateways may take to notice that the
// database is back (or that their connections were dropped).
const recoverWait = 10 * time.Second

// A service app allowed scope sec, so the test can use the admin API.
const (
	opsClient = "com.example/ops"
	opsSecret = "ops-e2e-secret"
)

// The public sample app of config.example.yaml signs alice in.
const spaScope = "openid offline_access read"

// TestReplicasPostgres runs two `erpgate serve` processes on one
// PostgreSQL schema with one sample upstream and checks SPEC §9 end to
// end: tokens and apps of one replica work on the other, ends and
// revocations reach the other within a second, the license cap holds
// across both, refresh rotation has one winner, two replicas starting
// on an empty database share one signing key, dropped connections and a
// database outage are survived without a restart, and one replica killed
// with SIGKILL leaves the other serving.
func TestReplicasPostgres(t *testing.T) {
	t.Parallel()
	pg := requirePostgres(t)
	bin := erpgateBinary(t)
	start := time.Now()

	schema := "erpgate_e2e_" + randomHex(6)
	if err := pgExec(t, pg, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("CREATE SCHEMA: %v", err)
	}
	t.Cleanup(func() {
		if err := pgExec(t, pg, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("DROP SCHEMA %s: %v", schema, err)
		}
	})
	// Both replicas reach the database through a proxy the test can cut,
	// and name their connections so the test can drop exactly theirs.
	proxy := startTCPProxy(t, net.JoinHostPort(pg.Host, strconv.Itoa(int(pg.Port))))
	appName := "erpgate-e2e-" + randomHex(6)
	dsn := replicaDSN(pg, proxy.Addr(), schema, appName)

	upstream := httptest.NewServer(sampleapi.New())
	t.Cleanup(upstream.Close)
	upPort := upstream.Listener.Addr().(*net.TCPAddr).Port

	// Replicas behind one load balancer share public_url, so their
	// tokens carry one issuer; here it is A's address.
	a := prepareReplica(t, "A", dsn, upPort, "")
	b := prepareReplica(t, "B", dsn, upPort, a.PublicURL)

	// Two replicas starting together on an empty database.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, g := range []*Gateway{a, b} {
		wg.Go(func() { errs[i] = g.start(bin) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("starting replica %s: %v", []string{"A", "B"}[i], err)
		}
	}
	both := []*Gateway{a, b}

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("OneSigningKey", func(t *testing.T) {
		ka, kb := a.jwksKeyIDs(t), b.jwksKeyIDs(t)
		if len(ka) != 1 || !slices.Equal(ka, kb) {
			t.Fatalf("JWKS after starting together: A %v, B %v; want the same single key", ka, kb)
		}
		ha, _ := jwtParts(t, a.token(t, syncClient, syncSecret))
		hb, _ := jwtParts(t, b.token(t, syncClient, syncSecret))
		if ha["kid"] != ka[0] || hb["kid"] != ka[0] {
			t.Errorf("tokens signed with kid %v (A) and %v (B); want %s", ha["kid"], hb["kid"], ka[0])
		}
	})

	ops := a.token(t, opsClient, opsSecret)

	step("LicenseCapAcrossReplicas", func(t *testing.T) {
		// license.slots 8 with one reserved seat (admin): 7 for svc-sync.
		const callers, slots = 12, 7
		tokens := make([]string, callers)
		for i := range tokens {
			tokens[i] = both[i%2].token(t, syncClient, syncSecret)
		}
		type result struct {
			status int
			body   []byte
			err    error
		}
		res := make([]result, callers)
		gate := make(chan struct{})
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				<-gate
				// Issued by one replica, first used on the other.
				res[i].status, res[i].body, res[i].err = rawCall(both[(i+1)%2], personsPath, tokens[i])
			})
		}
		close(gate)
		wg.Wait()
		var won []int
		for i, r := range res {
			switch {
			case r.err != nil:
				t.Fatalf("caller %d: %v", i, r.err)
			case r.status == http.StatusOK:
				won = append(won, i)
			case r.status == http.StatusForbidden && strings.Contains(string(r.body), "MaximumLicenseCountExceeded"):
			default:
				t.Fatalf("caller %d: %d %s", i, r.status, r.body)
			}
		}
		if len(won) != slots {
			t.Fatalf("%d of %d first calls on two replicas got a session; license.slots leaves %d", len(won), callers, slots)
		}

		// Both replicas know each winner's session; the administrator
		// ends them on A; B refuses their tokens within a second.
		var sids []string
		for _, i := range won {
			sids = append(sids, sessionOf(t, a, tokens[i]))
			sessionOf(t, b, tokens[i])
		}
		for _, sid := range sids {
			if resp := adminCall(t, a, http.MethodDelete, "/admin/sessions/"+url.PathEscape(sid), ops, ""); resp.Status != http.StatusOK {
				t.Fatalf("DELETE /admin/sessions/%s on A: %s", sid, resp)
			}
		}
		for _, i := range won {
			expectRefused(t, b, tokens[i], "a token whose session an administrator ended on A")
		}
	})

	tokA := a.token(t, syncClient, syncSecret)
	tokB := b.token(t, syncClient, syncSecret)

	step("TokensWorkOnBothReplicas", func(t *testing.T) {
		sA := sessionOf(t, b, tokA)
		if s := sessionOf(t, a, tokA); s != sA {
			t.Errorf("one token, two sessions: %s on B, %s on A", sA, s)
		}
		sB := sessionOf(t, a, tokB)
		if s := sessionOf(t, b, tokB); s != sB {
			t.Errorf("one token, two sessions: %s on A, %s on B", sB, s)
		}
	})

	step("RevocationReachesTheOther", func(t *testing.T) {
		revoke(t, a, syncClient, syncSecret, tokA)
		expectRefused(t, b, tokA, "an access token revoked on A")
	})

	step("AppCreatedAndDisabledOnA", func(t *testing.T) {
		const uri = "com.example/replica-app"
		body := `{"uri":"` + uri + `","name":"Replica test","type":"confidential","system_user":"svc-sync","scope":"read"}`
		resp := adminCall(t, a, http.MethodPost, "/admin/apps", ops, body)
		var created struct {
			ClientSecret string `json:"client_secret"`
		}
		if resp.Status != http.StatusCreated || json.Unmarshal(resp.Body, &created) != nil || created.ClientSecret == "" {
			t.Fatalf("POST /admin/apps on A: %s", resp)
		}
		var last response
		took, ok := within(propagation, func() bool {
			last, _ = b.requestToken(t, uri, created.ClientSecret, secretPost)
			return last.Status == http.StatusOK
		})
		if !ok {
			t.Fatalf("B does not issue tokens to the app created on A after %s: %s", took, last)
		}
		t.Logf("app created on A usable on B after %s", took.Round(time.Millisecond))

		resp = adminCall(t, a, http.MethodPost, "/admin/apps/"+url.PathEscape(uri)+"/disable", ops, "")
		if resp.Status != http.StatusOK {
			t.Fatalf("disable on A: %s", resp)
		}
		took, ok = within(propagation, func() bool {
			last, _ = b.requestToken(t, uri, created.ClientSecret, secretPost)
			return last.Status == http.StatusUnauthorized
		})
		if !ok {
			t.Fatalf("B still issues tokens to the app disabled on A after %s: %s", took, last)
		}
	})

	var alice userTokens
	step("RefreshRotationAcrossReplicas", func(t *testing.T) {
		first := signInAlice(t, a, b) // signed in on A, code redeemed on B
		sessionOf(t, a, first.AccessToken)
		sessionOf(t, b, first.AccessToken)

		// Concurrent refreshes of one token on both replicas, inside
		// refresh_reuse_grace (2s): one rotation, every caller gets the
		// same successor.
		const callers = 6
		out := make([]userTokens, callers)
		codes := make([]int, callers)
		gate := make(chan struct{})
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				<-gate
				codes[i], out[i] = rawRefresh(both[i%2], first.RefreshToken)
			})
		}
		close(gate)
		wg.Wait()
		for i := range callers {
			if codes[i] != http.StatusOK {
				t.Fatalf("concurrent refresh %d on %s: %d %s %s", i, []string{"A", "B"}[i%2], codes[i], out[i].Error, out[i].ErrorDescription)
			}
			if out[i].RefreshToken != out[0].RefreshToken || out[i].AccessToken != out[0].AccessToken {
				t.Fatalf("concurrent refreshes of one token returned different successors: two live refresh tokens")
			}
		}
		if out[0].RefreshToken == first.RefreshToken {
			t.Fatal("refresh did not rotate the refresh token")
		}
		// The successor works once more, on either replica.
		code, next := rawRefresh(b, out[0].RefreshToken)
		if code != http.StatusOK {
			t.Fatalf("refreshing the successor on B: %d %s", code, next.Error)
		}
		alice = next
		sessionOf(t, a, alice.AccessToken)
		sessionOf(t, b, alice.AccessToken)
	})

	step("LogoutOnAReachesB", func(t *testing.T) {
		u := a.Issuer() + "/connect/endsession?" + url.Values{"id_token_hint": {alice.IDToken}}.Encode()
		if resp := a.call(t, http.MethodGet, u, ""); resp.Status != http.StatusOK {
			t.Fatalf("endsession on A: %s", resp)
		}
		expectRefused(t, b, alice.AccessToken, "alice's token after she logged out on A")
	})

	step("ConnectionsDropped", func(t *testing.T) {
		restoredBefore := []int{restoredCount(a), restoredCount(b)}
		// Every connection of the two replicas (pool and LISTEN), and
		// only theirs: other packages' tests share the server.
		if err := pgExec(t, pg, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = $1 AND pid <> pg_backend_pid() AND application_name = $2`, pg.Database, appName); err != nil {
			t.Fatalf("pg_terminate_backend: %v", err)
		}
		for i, g := range both {
			if _, ok := within(recoverWait, func() bool { return restoredCount(g) > restoredBefore[i] }); !ok {
				t.Fatalf("replica %s did not re-establish its change notifications", []string{"A", "B"}[i])
			}
			waitReady(t, g, true)
		}
		// A dropped connection may fail the one statement that meets it;
		// then everything works again.
		tok := eventually(t, "a token issued on B after the drop", func() (string, bool) {
			resp, tr := b.requestToken(t, syncClient, syncSecret, secretPost)
			return tr.AccessToken, resp.Status == http.StatusOK
		})
		eventually(t, "a new session on A after the drop", func() (string, bool) {
			return "", a.call(t, http.MethodGet, a.PublicURL+personsPath, tok).Status == http.StatusOK
		})
		sessionOf(t, b, tok)
		eventually(t, "revoking on B after the drop", func() (string, bool) {
			return "", rawRevoke(b, syncClient, syncSecret, tok) == http.StatusOK
		})
		expectRefused(t, a, tok, "a token revoked on B after the connections were dropped")
	})

	step("DatabaseOutage", func(t *testing.T) {
		restoredBefore := []int{restoredCount(a), restoredCount(b)}
		outageTok := a.token(t, syncClient, syncSecret) // client credentials need no store
		proxy.SetDown(true)
		for _, g := range both {
			waitReady(t, g, false)
		}
		// Sessions the replicas know go on; new ones are refused cleanly.
		for _, g := range both {
			sessionOf(t, g, tokB) // known: 200, or the test fails
			resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, outageTok)
			if resp.Status != http.StatusServiceUnavailable {
				t.Errorf("new session on %s during the outage: %s; want 503", g.PublicURL, resp)
			}
			checkJSONError(t, resp, "temporarily_unavailable")
			code, tr := rawRefresh(g, alice.RefreshToken)
			if code != http.StatusServiceUnavailable || tr.Error != "temporarily_unavailable" {
				t.Errorf("refresh_token grant on %s during the outage: %d %q; want 503 temporarily_unavailable", g.PublicURL, code, tr.Error)
			}
		}

		proxy.SetDown(false)
		for i, g := range both {
			waitReady(t, g, true)
			if _, ok := within(recoverWait, func() bool { return restoredCount(g) > restoredBefore[i] }); !ok {
				t.Fatalf("replica %s did not re-establish its change notifications after the outage", []string{"A", "B"}[i])
			}
		}
		eventually(t, "the session refused during the outage", func() (string, bool) {
			return "", b.call(t, http.MethodGet, b.PublicURL+personsPath, outageTok).Status == http.StatusOK
		})
		// Nothing was lost: sessions opened before the outage are still
		// open in the store, revocations and logouts still hold.
		resp := adminCall(t, b, http.MethodGet, "/admin/sessions", ops, "")
		var list struct {
			Sessions []struct {
				ID string `json:"id"`
			} `json:"sessions"`
		}
		if resp.Status != http.StatusOK || json.Unmarshal(resp.Body, &list) != nil {
			t.Fatalf("GET /admin/sessions: %s", resp)
		}
		sB := sessionOf(t, a, tokB)
		if !slices.ContainsFunc(list.Sessions, func(s struct {
			ID string `json:"id"`
		}) bool {
			return s.ID == sB
		}) {
			t.Errorf("session %s opened before the outage is not listed after it", sB)
		}
		for _, g := range both {
			for _, tok := range []string{tokA, alice.AccessToken} {
				if resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, tok); resp.Status != http.StatusUnauthorized {
					t.Errorf("a token refused before the outage is answered %s on %s after it", resp, g.PublicURL)
				}
			}
		}
		// Prompt propagation is back.
		revoke(t, b, syncClient, syncSecret, outageTok)
		expectRefused(t, a, outageTok, "a token revoked on B after the outage")
	})

	step("ReplicaKilled", func(t *testing.T) {
		issuedByB := b.token(t, syncClient, syncSecret)
		sessionOf(t, b, issuedByB)
		b.kill() // SIGKILL: no shutdown, no last flush
		sessionOf(t, a, issuedByB)
		sessionOf(t, a, a.token(t, syncClient, syncSecret))
		revoke(t, a, syncClient, syncSecret, issuedByB)

		// B comes back on the same database and knows what happened
		// while it was away.
		if err := b.start(bin); err != nil {
			t.Fatalf("restarting B: %v", err)
		}
		if ka, kb := a.jwksKeyIDs(t), b.jwksKeyIDs(t); !slices.Equal(ka, kb) {
			t.Errorf("JWKS after B restarted: A %v, B %v", ka, kb)
		}
		if resp := b.call(t, http.MethodGet, b.PublicURL+personsPath, issuedByB); resp.Status != http.StatusUnauthorized {
			t.Errorf("token revoked on A while B was down: B answers %s; want 401", resp)
		}
		sessionOf(t, b, tokB)
	})

	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("the replica test took %s; keep it under a minute", d.Round(time.Second))
	}
}

// requirePostgres returns the server's config, or skips (fails in CI)
// when none answers.
func requirePostgres(t *testing.T) *pgx.ConnConfig {
	t.Helper()
	base := os.Getenv(pgDSNEnv)
	if base == "" {
		base = pgDefaultDSN
	}
	cfg, err := pgx.ParseConfig(base)
	if err == nil {
		err = pgExec(t, cfg, "SELECT 1")
	}
	requireDep(t, err == nil, fmt.Sprintf("a PostgreSQL server at %s (set %s): %v", base, pgDSNEnv, err))
	return cfg
}

// pgExec runs sql on a connection of its own, straight to the server.
func pgExec(t *testing.T, cfg *pgx.ConnConfig, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// replicaDSN is the gateways' store.dsn: the server's database and user,
// through the proxy at addr, in schema, with connections named app.
func replicaDSN(pg *pgx.ConnConfig, addr, schema, app string) string {
	u := url.URL{Scheme: "postgres", Host: addr, Path: "/" + pg.Database, User: url.User(pg.User)}
	if pg.Password != "" {
		u.User = url.UserPassword(pg.User, pg.Password)
	}
	u.RawQuery = url.Values{"sslmode": {"disable"}, "search_path": {schema}, "application_name": {app},
		"connect_timeout": {"3"}}.Encode()
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// pgDSNMark stands for the DSN in deriveConfig's output until
// replicaConfig puts the real one in.
const pgDSNMark = "postgres-dsn-here"

var driverSQLite = regexp.MustCompile(`\bdriver: sqlite\b`)

// prepareReplica writes the config of one `erpgate serve` replica on
// dsn, forwarding to the upstream on upstreamPort, and stops it (SIGTERM)
// when the test ends. Start it with g.start. publicURL, if set, is the
// config's public_url (the issuer of every replica); the gateway's
// PublicURL stays its own listen address, where the test calls it.
func prepareReplica(t *testing.T, name, dsn string, upstreamPort int, publicURL string) *Gateway {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join(root, "config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{Dir: t.TempDir(), command: "serve", Client: &http.Client{Timeout: httpTimeout}}
	g.ConfigPath = filepath.Join(g.Dir, "erpgate.yaml")
	p := freePorts(t, 2)
	g.PublicURL = fmt.Sprintf("http://127.0.0.1:%d", p[0])
	g.AdminURL = fmt.Sprintf("http://127.0.0.1:%d", p[1])
	g.Upstream = fmt.Sprintf("127.0.0.1:%d", upstreamPort)
	cfg := deriveConfig(t, string(example), p[0], p[1], upstreamPort, pgDSNMark)

	edits := []struct{ what, old, new string }{
		// Replica B is called at its own address: allowed_hosts lets that
		// Host in beside public_url's (SPEC §4: otherwise 421).
		{"public_url", "public_url: " + g.PublicURL, "public_url: " + cmp.Or(publicURL, g.PublicURL) +
			fmt.Sprintf("\nallowed_hosts: [\"127.0.0.1:%d\"]", p[0])},
		{"store dsn", `dsn: "` + pgDSNMark + `"`, "dsn: " + strconv.Quote(dsn)},
		{"license slots", "slots: 10", "slots: 8"},
		{"apps", "\nroutes:", fmt.Sprintf(`
  - uri: %s
    name: Operations (e2e)
    type: confidential
    secret_hash: %s
    system_user: svc-sync
    scope: read sec

routes:`, opsClient, secretHashB64(opsSecret))},
	}
	if n := len(driverSQLite.FindAllString(cfg, -1)); n != 1 {
		t.Fatalf("config.example.yaml has %d `driver: sqlite`, want 1; update e2e/replicas_test.go", n)
	}
	cfg = driverSQLite.ReplaceAllString(cfg, "driver: postgres")
	for _, e := range edits {
		if strings.Count(cfg, e.old) != 1 {
			t.Fatalf("config.example.yaml: cannot set the %s (%q); update e2e/replicas_test.go", e.what, e.old)
		}
		cfg = strings.Replace(cfg, e.old, e.new, 1)
	}
	if err := os.WriteFile(g.ConfigPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.Stop(t)
		if t.Failed() {
			t.Logf("replica %s (erpgate serve) stdout:\n%s", name, g.Stdout())
			t.Logf("replica %s (erpgate serve) stderr:\n%s", name, g.Stderr())
		}
	})
	return g
}

func secretHashB64(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// within calls cond every 20ms until it holds or d has passed, and says
// how long it took.
func within(d time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > d {
			return time.Since(start), false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eventually retries f for up to recoverWait and returns its value.
func eventually(t *testing.T, what string, f func() (string, bool)) string {
	t.Helper()
	var v string
	if _, ok := within(recoverWait, func() bool {
		var ok bool
		v, ok = f()
		return ok
	}); !ok {
		t.Fatalf("%s: still failing after %s", what, recoverWait)
	}
	return v
}

// expectRefused waits up to propagation for g to answer 401 to token.
func expectRefused(t *testing.T, g *Gateway, token, what string) {
	t.Helper()
	var last response
	took, ok := within(propagation, func() bool {
		last = g.call(t, http.MethodGet, g.PublicURL+personsPath, token)
		return last.Status == http.StatusUnauthorized
	})
	if !ok {
		t.Fatalf("%s is still answered %s by %s after %s; want 401 within %s", what, last, g.PublicURL, took.Round(time.Millisecond), propagation)
	}
	t.Logf("%s refused by the other replica after %s", what, took.Round(time.Millisecond))
}

// waitReady waits until /readyz says ready (or, with want false, not).
func waitReady(t *testing.T, g *Gateway, want bool) {
	t.Helper()
	var state string
	if _, ok := within(recoverWait, func() bool {
		var ready bool
		ready, state = g.ready()
		return ready == want
	}); !ok {
		t.Fatalf("%s/readyz still answers %s; want ready=%v", g.AdminURL, state, want)
	}
}

// restoredCount counts the times g logged that its change notifications
// came back after a loss.
func restoredCount(g *Gateway) int {
	return strings.Count(g.Stderr(), "change notifications restored")
}

// adminCall sends an admin API request with a bearer token.
func adminCall(t *testing.T, g *Gateway, method, path, token, body string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, g.AdminURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return g.do(t, req)
}

// revoke revokes an access token at g (RFC 7009), failing the test if
// g does not answer 200.
func revoke(t *testing.T, g *Gateway, clientID, secret, token string) {
	t.Helper()
	if code := rawRevoke(g, clientID, secret, token); code != http.StatusOK {
		t.Fatalf("revocation at %s: %d", g.PublicURL, code)
	}
}

func rawRevoke(g *Gateway, clientID, secret, token string) int {
	form := url.Values{"token": {token}, "client_id": {clientID}, "client_secret": {secret}}
	resp, err := g.Client.PostForm(g.Issuer()+"/connect/revocation", form)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// rawCall is call for goroutines: no testing.T.
func rawCall(g *Gateway, path, token string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, g.PublicURL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := g.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// userTokens is a token response with the ID token.
type userTokens struct {
	tokenResponse
	IDToken string `json:"id_token"`
}

// rawRefresh runs the refresh_token grant for the public sample app.
func rawRefresh(g *Gateway, refresh string) (int, userTokens) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {spaClient}}
	resp, err := g.Client.PostForm(g.TokenURL(), form)
	if err != nil {
		return 0, userTokens{}
	}
	defer resp.Body.Close()
	var tr userTokens
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	return resp.StatusCode, tr
}

// signInAlice signs alice in to the public sample app at login (the
// authorization request and the login form) and redeems the code at
// redeem, with PKCE.
func signInAlice(t *testing.T, login, redeem *Gateway) userTokens {
	t.Helper()
	return signInAs(t, login, redeem, aliceLogin, alicePassword)
}

// signInAs is signInAlice for the user user with password pw.
func signInAs(t *testing.T, login, redeem *Gateway, user, pw string) userTokens {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: httpTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	verifier := randomHex(32)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {spaClient}, "redirect_uri": {spaRedirect}, "response_type": {"code"},
		"scope": {spaScope}, "state": {"st"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}

	get := func(u string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	resp, _ := get(login.Issuer() + "/connect/authorize?" + q.Encode())
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("authorize: %d %v", resp.StatusCode, err)
	}
	resp, page := get(loc.String())
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="password"`) {
		t.Fatalf("login page: %d", resp.StatusCode)
	}
	form := url.Values{"login": {user}, "password": {pw}}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	resp, err = c.PostForm(login.Issuer()+"/account/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err = resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), spaRedirect) {
		t.Fatalf("login: %d, redirected to %v", resp.StatusCode, loc)
	}
	code := loc.Query().Get("code")

	tresp, err := c.PostForm(redeem.TokenURL(), url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {spaRedirect}, "client_id": {spaClient}, "code_verifier": {verifier}})
	if err != nil {
		t.Fatal(err)
	}
	defer tresp.Body.Close()
	var tr userTokens
	if err := json.NewDecoder(tresp.Body).Decode(&tr); err != nil || tresp.StatusCode != http.StatusOK ||
		tr.AccessToken == "" || tr.RefreshToken == "" || tr.IDToken == "" {
		t.Fatalf("code redeemed at the other replica: %d %+v %v", tresp.StatusCode, tr, err)
	}
	return tr
}

// sessionOf calls the persons endpoint at g with token, requires 200 and
// returns the session the upstream was told.
func sessionOf(t *testing.T, g *Gateway, token string) string {
	t.Helper()
	resp := g.call(t, http.MethodGet, g.PublicURL+personsPath, token)
	if resp.Status != http.StatusOK {
		t.Fatalf("GET persons at %s: %s", g.PublicURL, resp)
	}
	s := decodePersons(t, resp).Auth.Session
	if s == "" {
		t.Fatalf("GET persons at %s: the upstream got no session", g.PublicURL)
	}
	return s
}
