package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/erpgate/erpgate/sampleapi"
)

// failoverWithin is how soon after the standby's promotion both replicas
// must serve again, without a restart (issue 22).
const failoverWithin = 5 * time.Second

// TestPrimaryFailover: two PostgreSQL 15 clusters on this machine, a
// primary and a synchronous streaming standby (a commit returns only once
// the standby has flushed it), and two replicas on a multi-host DSN with
// target_session_attrs=read-write. Under mixed load — sessions opened and
// ended, tokens revoked, refresh tokens rotated, reference tokens issued
// — the primary is stopped as by a crash and the standby promoted. Every
// write a replica acknowledged before the switch is on the new primary,
// the license counter agrees with the sessions, both replicas serve again
// within failoverWithin without a restart, and change notifications work
// on the new primary.
func TestPrimaryFailover(t *testing.T) {
	t.Parallel()
	pair := newStandbyPair(t)
	bin := erpgateBinary(t)

	upstream := httptest.NewServer(sampleapi.New())
	t.Cleanup(upstream.Close)
	upPort := upstream.Listener.Addr().(*net.TCPAddr).Port
	appName := "erpgate-failover-" + randomHex(4)
	dsn := pair.dsn(appName)
	a := prepareReplica(t, "A", dsn, upPort, "")
	b := prepareReplica(t, "B", dsn, upPort, a.PublicURL)
	for _, g := range []*Gateway{a, b} {
		// Room for every session the load opens: the cap is not under test.
		raw, err := os.ReadFile(g.ConfigPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(g.ConfigPath, []byte(strings.Replace(string(raw), "slots: 8", "slots: 100000", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.start(bin); err != nil {
		t.Fatalf("starting replica A: %v", err)
	}
	if err := b.start(bin); err != nil {
		t.Fatalf("starting replica B: %v", err)
	}
	both := []*Gateway{a, b}
	ops := a.token(t, opsClient, opsSecret)
	alice := signInAlice(t, a, b)

	l := &ledger{opened: map[string]string{}, ended: map[string]bool{}, revoked: map[string]bool{}, refresh: alice.RefreshToken}
	ctx, stopLoad := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for i, g := range both {
		other := both[1-i]
		wg.Go(func() { l.openSessions(ctx, g) })
		wg.Go(func() { l.endSessions(ctx, other, ops) })
		wg.Go(func() { l.revokeTokens(ctx, g) })
		wg.Go(func() { l.issueReferenceTokens(ctx, other, ops) })
	}
	wg.Go(func() { l.rotateRefresh(ctx, both) })

	time.Sleep(2 * time.Second) // load on the primary
	before := l.snapshot()
	if len(before.opened) < 10 || len(before.ended) == 0 || len(before.revoked) == 0 || len(before.refs) == 0 || before.rotations == 0 {
		stopLoad()
		wg.Wait()
		t.Fatalf("too little load before the switch: %d opened, %d ended, %d revoked, %d reference tokens, %d rotations",
			len(before.opened), len(before.ended), len(before.revoked), len(before.refs), before.rotations)
	}
	restoredBefore := []int{restoredCount(a), restoredCount(b)}
	keysBefore := a.jwksKeyIDs(t)

	pair.crashPrimary(t)
	pair.promoteStandby(t)

	// Both replicas serve a new caller again: a token, a session, a call.
	for _, g := range both {
		took, ok := within(failoverWithin+5*time.Second, func() bool {
			tok, err := rawToken(g, syncClient, syncSecret)
			if err != nil {
				return false
			}
			code, _, err := rawCall(g, personsPath, tok)
			return err == nil && code == http.StatusOK
		})
		if !ok || took > failoverWithin {
			t.Errorf("replica %s served a new caller %s after the promotion (ok=%v); want within %s", g.PublicURL, took.Round(time.Millisecond), ok, failoverWithin)
		} else {
			t.Logf("replica %s serves again %s after the promotion", g.PublicURL, took.Round(time.Millisecond))
		}
	}
	time.Sleep(time.Second) // load on the new primary
	stopLoad()
	wg.Wait()
	after := l.snapshot()
	t.Logf("acknowledged before the switch: %d sessions opened, %d ended, %d access tokens revoked, %d reference tokens, %d refresh rotations; by the end: %d, %d, %d, %d, %d",
		len(before.opened), len(before.ended), len(before.revoked), len(before.refs), before.rotations,
		len(after.opened), len(after.ended), len(after.revoked), len(after.refs), after.rotations)

	// Every acknowledged write is on the new primary — read there, not
	// from the replicas' caches.
	newPrimary := pair.standbyConfig(t)
	rows := pgRows(t, newPrimary, "SELECT id, ended_at IS NULL FROM sessions")
	open := map[string]bool{}
	for _, r := range rows {
		open[r[0]] = r[1] == "true"
	}
	for sid := range after.opened {
		isOpen, stored := open[sid]
		switch {
		case !stored:
			t.Errorf("session %s was opened (200 to its caller) but is not on the new primary", sid)
		case after.ended[sid] && isOpen:
			t.Errorf("session %s was ended (acknowledged) but is open on the new primary", sid)
		}
	}
	revokedRows := pgRows(t, newPrimary, "SELECT jti FROM revocations")
	stored := map[string]bool{}
	for _, r := range revokedRows {
		stored[r[0]] = true
	}
	for tok := range after.revoked {
		if _, c := jwtParts(t, tok); !stored[fmt.Sprint(c["jti"])] {
			t.Errorf("access token %v was revoked (200) but its jti is not on the new primary", c["jti"])
		}
	}
	keyRows := pgRows(t, newPrimary, "SELECT id FROM signing_keys")
	for _, kid := range keysBefore {
		if !slices.ContainsFunc(keyRows, func(r []string) bool { return r[0] == kid }) {
			t.Errorf("signing key %s, published before the switch, is not on the new primary", kid)
		}
	}
	counter := pgRows(t, newPrimary, "SELECT sum(open_sessions)::text, (SELECT count(*) FROM sessions WHERE ended_at IS NULL)::text FROM license_shards")
	if len(counter) != 1 || counter[0][0] != counter[0][1] {
		t.Errorf("license counter on the new primary %v; want its shards to sum to the open sessions", counter)
	}

	// …and the replicas act on it.
	for tok := range after.revoked {
		for _, g := range both {
			if code, _, err := rawCall(g, personsPath, tok); err != nil || code != http.StatusUnauthorized {
				t.Errorf("a token revoked before the switch answered %d (%v) at %s; want 401", code, err, g.PublicURL)
			}
		}
	}
	live := 0
	for sid, tok := range after.opened {
		if after.ended[sid] || after.revoked[tok] || live == 20 {
			continue
		}
		live++
		for _, g := range both {
			if code, _, err := rawCall(g, personsPath, tok); err != nil || code != http.StatusOK {
				t.Errorf("the token of session %s, open and unrevoked, answered %d (%v) at %s after the switch; want 200", sid, code, err, g.PublicURL)
			}
		}
	}
	checked := 0
	for sid, tok := range after.opened {
		if !after.ended[sid] || after.revoked[tok] || checked == 20 {
			continue
		}
		checked++
		for _, g := range both {
			if code, _, err := rawCall(g, personsPath, tok); err != nil || code != http.StatusUnauthorized {
				t.Errorf("the token of session %s, ended before the switch, answered %d (%v) at %s; want 401", sid, code, err, g.PublicURL)
			}
		}
	}
	for i, ref := range after.refs {
		g := both[i%2]
		if code, _, err := rawCall(g, personsPath, ref); err != nil || code != http.StatusOK {
			t.Errorf("a reference token issued before the switch answered %d (%v) at %s; want 200", code, err, g.PublicURL)
		}
	}
	if code, next := rawRefresh(a, after.refresh); code != http.StatusOK || next.RefreshToken == "" {
		t.Errorf("the last acknowledged refresh token: %d; want a rotation", code)
	}

	// Change notifications are listened for on the new primary: each
	// replica said so, and an end at one is refused at the other at once.
	for i, g := range both {
		if restoredCount(g) <= restoredBefore[i] {
			t.Errorf("replica %s did not log that its change notifications came back", g.PublicURL)
		}
	}
	tok, err := rawToken(a, syncClient, syncSecret)
	if err != nil {
		t.Fatal(err)
	}
	sid := sessionOf(t, a, tok)
	if resp := adminCall(t, a, http.MethodDelete, "/admin/sessions/"+url.PathEscape(sid), ops, ""); resp.Status/100 != 2 {
		t.Fatalf("ending a session after the switch: %s", resp)
	}
	expectRefused(t, b, tok, "a session ended at A after the switch")
}

// ledger is what the replicas acknowledged, by kind of write.
type ledger struct {
	mu        sync.Mutex
	opened    map[string]string // sid → the token whose call opened it (200)
	ended     map[string]bool   // sid ended by the admin API (2xx)
	revoked   map[string]bool   // access token revoked (RFC 7009, 200)
	refs      []string          // reference tokens issued (the admin API's 2xx)
	refresh   string            // the newest refresh token a rotation returned
	rotations int
}

// snapshot copies the ledger.
func (l *ledger) snapshot() *ledger {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := &ledger{opened: map[string]string{}, ended: map[string]bool{}, revoked: map[string]bool{},
		refs: append([]string(nil), l.refs...), refresh: l.refresh, rotations: l.rotations}
	for k, v := range l.opened {
		c.opened[k] = v
	}
	for k := range l.ended {
		c.ended[k] = true
	}
	for k := range l.revoked {
		c.revoked[k] = true
	}
	return c
}

// pick returns an opened session that is neither ended nor revoked, and
// its token; the caller may claim it by ending or revoking it.
func (l *ledger) pick(skip int) (sid, tok string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for s, tk := range l.opened {
		if l.ended[s] || l.revoked[tk] {
			continue
		}
		if n++; n > skip {
			return s, tk, true
		}
	}
	return "", "", false
}

// loadPause spaces each worker's writes, so the load is mixed rather
// than a flood of one kind.
const loadPause = 20 * time.Millisecond

func (l *ledger) openSessions(ctx context.Context, g *Gateway) {
	for ctx.Err() == nil {
		tok, err := rawToken(g, syncClient, syncSecret)
		if err == nil {
			if code, body, err := rawCall(g, personsPath, tok); err == nil && code == http.StatusOK {
				var p sampleapi.Persons
				if json.Unmarshal(body, &p) == nil && p.Auth.Session != "" {
					l.mu.Lock()
					l.opened[p.Auth.Session] = tok
					l.mu.Unlock()
				}
			}
		}
		sleepCtx(ctx, loadPause)
	}
}

func (l *ledger) endSessions(ctx context.Context, g *Gateway, ops string) {
	for ctx.Err() == nil {
		if sid, _, ok := l.pick(3); ok {
			req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, g.AdminURL+"/admin/sessions/"+url.PathEscape(sid), nil)
			req.Header.Set("Authorization", "Bearer "+ops)
			if resp, err := g.Client.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					l.mu.Lock()
					l.ended[sid] = true
					l.mu.Unlock()
				}
			}
		}
		sleepCtx(ctx, 2*loadPause)
	}
}

func (l *ledger) revokeTokens(ctx context.Context, g *Gateway) {
	for ctx.Err() == nil {
		if _, tok, ok := l.pick(5); ok && rawRevoke(g, syncClient, syncSecret, tok) == http.StatusOK {
			l.mu.Lock()
			l.revoked[tok] = true
			l.mu.Unlock()
		}
		sleepCtx(ctx, 3*loadPause)
	}
}

func (l *ledger) issueReferenceTokens(ctx context.Context, g *Gateway, ops string) {
	body := `{"type":"pat","app":"erpgate","user":"` + aliceLogin + `","scope":"read","expires_in":"1h"}`
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.AdminURL+"/admin/tokens", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+ops)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := g.Client.Do(req); err == nil {
			var out struct {
				Token string `json:"token"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 && out.Token != "" {
				l.mu.Lock()
				l.refs = append(l.refs, out.Token)
				l.mu.Unlock()
			}
		}
		sleepCtx(ctx, 5*loadPause)
	}
}

// rotateRefresh rotates alice's refresh token at the replicas in turn.
// Only an answer moves the ledger on: a rotation whose answer was lost
// leaves the ledger's token one step behind, which refresh_reuse_grace
// accepts once more.
func (l *ledger) rotateRefresh(ctx context.Context, gs []*Gateway) {
	for i := 0; ctx.Err() == nil; i++ {
		l.mu.Lock()
		cur := l.refresh
		l.mu.Unlock()
		if code, next := rawRefresh(gs[i%len(gs)], cur); code == http.StatusOK && next.RefreshToken != "" {
			l.mu.Lock()
			l.refresh = next.RefreshToken
			l.rotations++
			l.mu.Unlock()
		}
		sleepCtx(ctx, 5*loadPause)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// rawToken is a client-credentials token, for goroutines: no testing.T.
func rawToken(g *Gateway, clientID, secret string) (string, error) {
	resp, err := g.Client.PostForm(g.TokenURL(), url.Values{"grant_type": {"client_credentials"},
		"client_id": {clientID}, "client_secret": {secret}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tr tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		return "", fmt.Errorf("token: %d %v", resp.StatusCode, err)
	}
	return tr.AccessToken, nil
}

// standbyPair is two PostgreSQL clusters of this machine's server: a
// primary and its synchronous streaming standby, made for one test and
// dropped after it (pg_createcluster, pg_basebackup; root).
type standbyPair struct {
	version                string
	primary, standby       string // cluster names
	primaryPort, standbyPt int
}

// syncStandbyName is the standby's application_name, which the primary's
// synchronous_standby_names waits for.
const syncStandbyName = "erpgate_standby"

func newStandbyPair(t *testing.T) *standbyPair {
	t.Helper()
	_, err := exec.LookPath("pg_createcluster")
	requireDep(t, err == nil, "pg_createcluster (Debian's postgresql-common) for the failover clusters")
	requireDep(t, os.Geteuid() == 0, "root, to create and promote PostgreSQL clusters")
	versions, _ := os.ReadDir("/etc/postgresql")
	requireDep(t, len(versions) > 0, "a PostgreSQL server (/etc/postgresql is empty)")
	ports := freePorts(t, 2)
	id := randomHex(3)
	p := &standbyPair{version: versions[0].Name(), primary: "erpgate_fo_p_" + id, standby: "erpgate_fo_s_" + id,
		primaryPort: ports[0], standbyPt: ports[1]}
	t.Cleanup(func() {
		for _, c := range []string{p.primary, p.standby} {
			if out, err := exec.Command("pg_dropcluster", "--stop", p.version, c).CombinedOutput(); err != nil {
				t.Logf("pg_dropcluster %s: %v\n%s", c, err, out)
			}
		}
	})

	p.create(t, p.primary, p.primaryPort, "synchronous_standby_names = '"+syncStandbyName+"'\n")
	run(t, "pg_ctlcluster", p.version, p.primary, "start")
	p.create(t, p.standby, p.standbyPt, "")
	// pg_basebackup fills the standby's (empty) data directory, which
	// stays the postgres user's.
	dir := "/var/lib/postgresql/" + p.version + "/" + p.standby
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(dir + "/" + e.Name()); err != nil {
			t.Fatal(err)
		}
	}
	run(t, "runuser", "-u", "postgres", "--", "pg_basebackup", "-D", dir, "-R", "-X", "stream",
		"-d", fmt.Sprintf("host=127.0.0.1 port=%d user=postgres application_name=%s", p.primaryPort, syncStandbyName))
	run(t, "pg_ctlcluster", p.version, p.standby, "start")

	// Synchronous before any load: otherwise commits would not wait.
	primary := p.config(t, p.primaryPort)
	if _, ok := within(30*time.Second, func() bool {
		rows := pgRowsErr(primary, "SELECT sync_state FROM pg_stat_replication WHERE application_name = '"+syncStandbyName+"'")
		return len(rows) == 1 && rows[0][0] == "sync"
	}); !ok {
		t.Fatalf("the standby on port %d did not become synchronous", p.standbyPt)
	}
	return p
}

// create makes cluster name on port with trust on loopback and conf.
func (p *standbyPair) create(t *testing.T, name string, port int, conf string) {
	t.Helper()
	run(t, "pg_createcluster", p.version, name, "--port", fmt.Sprint(port), "--", "--auth-local=trust", "--auth-host=trust")
	conf = "listen_addresses = '127.0.0.1'\n" + conf
	if err := os.WriteFile("/etc/postgresql/"+p.version+"/"+name+"/conf.d/erpgate-failover.conf", []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// crashPrimary stops the primary as a crash would (immediate shutdown:
// no checkpoint, clients cut).
func (p *standbyPair) crashPrimary(t *testing.T) {
	t.Helper()
	run(t, "pg_ctlcluster", p.version, p.primary, "stop", "-m", "immediate")
}

func (p *standbyPair) promoteStandby(t *testing.T) {
	t.Helper()
	run(t, "pg_ctlcluster", p.version, p.standby, "promote")
}

// dsn is the replicas' store.dsn: both hosts, the writable one wanted.
func (p *standbyPair) dsn(app string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/postgres?sslmode=disable&target_session_attrs=read-write&connect_timeout=2&application_name=%s",
		p.primaryPort, p.standbyPt, app)
}

func (p *standbyPair) config(t *testing.T, port int) *pgx.ConnConfig {
	t.Helper()
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", port))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (p *standbyPair) standbyConfig(t *testing.T) *pgx.ConnConfig { return p.config(t, p.standbyPt) }

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// pgRows runs a query on its own connection and returns every row's
// columns as text.
func pgRows(t *testing.T, cfg *pgx.ConnConfig, sql string) [][]string {
	t.Helper()
	rows, err := pgQuery(cfg, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return rows
}

func pgRowsErr(cfg *pgx.ConnConfig, sql string) [][]string {
	rows, _ := pgQuery(cfg, sql)
	return rows
}

func pgQuery(cfg *pgx.ConnConfig, sql string) ([][]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = fmt.Sprint(v)
		}
		out = append(out, row)
	}
	return out, rows.Err()
}
