package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/erpgate/erpgate/sampleapi"
)

// The same rules across two replicas sharing PostgreSQL (SPEC §9): each
// change is made on replica A and every door of replica B gives the new
// answer within one second. The app is created at run time (admin API),
// so its kill switch is a store change that reaches B by LISTEN/NOTIFY.

// propagationBound is SPEC §4's "within one second".
const propagationBound = time.Second

// storedDoorsApp is created on A through the admin API.
const storedDoorsApp = "com.example/stored-doors"

// replicaRules are door rules whose change reaches the other replica
// through the store (a config reload is each replica's own), plus the
// kill switch of an app created at run time. The door rules make their
// changes on w.front and w.admin, which are replica A here.
var replicaRules = []rule{
	doorRule("nothing changed"),
	doorRule("every access token revoked (RFC 7009, admin API for reference tokens)"),
	doorRule("refresh token family revoked"),
	doorRule("sessions ended by an administrator"),
	doorRule("signed out (endsession with id_token_hint)"),
	{
		name:   "kill switch on A (admin API)",
		change: func(t *testing.T, w *doorsWorld) { w.setStoredAppEnabled(t, false) },
		accept: doorRule("kill switch: the app disabled by a config reload").accept,
	},
	{
		name: "kill switch on A, then off again",
		change: func(t *testing.T, w *doorsWorld) {
			w.setStoredAppEnabled(t, false)
			w.setStoredAppEnabled(t, true)
		},
		accept: doorRule("kill switch off again: reference tokens come back, ended sessions do not").accept,
	},
}

// doorRule is the door rule named name.
func doorRule(name string) rule {
	for _, r := range doorRules {
		if r.name == name {
			return r
		}
	}
	panic("no door rule " + name)
}

func TestOneRuleAtEveryDoorAcrossReplicas(t *testing.T) {
	for _, r := range replicaRules {
		t.Run(r.name, func(t *testing.T) {
			w := newReplicaDoorsWorld(t)
			r.change(t, w)
			changed := time.Now()
			// Ask every door until all answers are the rule's, at most for
			// the propagation bound (plus what one round of asking takes).
			for {
				wrong := w.wrongAnswers(t, r)
				if len(wrong) == 0 {
					t.Logf("every door of replica B answered by the rule %s after the change on A", time.Since(changed).Round(time.Millisecond))
					return
				}
				if time.Since(changed) > propagationBound {
					for _, msg := range wrong {
						t.Error(msg)
					}
					t.Fatalf("replica B still answered %d times against the rule %s after the change on A", len(wrong), time.Since(changed).Round(time.Millisecond))
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// wrongAnswers asks every door of B about every credential.
func (w *doorsWorld) wrongAnswers(t *testing.T, r rule) []string {
	var wrong []string
	for _, k := range credKinds {
		for _, d := range doors {
			got, ok := d.ask(t, w, w.creds[k])
			if ok && got.accepted != r.accept(k, d.name) {
				wrong = append(wrong, fmt.Sprintf("%s credential at the %s of B: %s, want accepted=%v", k, d.name, got, r.accept(k, d.name)))
			}
		}
	}
	return wrong
}

// newReplicaDoorsWorld starts replicas A and B on one new PostgreSQL
// schema, creates the doors app on A at run time, and obtains the
// credentials on A with their sessions opened on B.
func newReplicaDoorsWorld(t *testing.T) *doorsWorld {
	t.Helper()
	dsn := replicaSchemaDSN(t)
	up := httptest.NewServer(sampleapi.New())
	t.Cleanup(up.Close)
	fronts := []*httptest.Server{httptest.NewUnstartedServer(nil), httptest.NewUnstartedServer(nil)}
	raw, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Both replicas are one issuer: same public_url (A's address); B is
	// called at its own address, so it is an allowed host (else 421).
	yml := doorsConfig(strings.NewReplacer(
		"http://localhost:8080", "http://"+fronts[0].Listener.Addr().String(),
		"http://127.0.0.1:8081", up.URL,
		"driver: sqlite ", "driver: postgres",
		"dsn: data/erpgate.db", "dsn: "+fmt.Sprintf("%q", dsn),
	).Replace(string(raw))) + fmt.Sprintf("allowed_hosts: [%q]\n", fronts[1].Listener.Addr().String())
	gs, admins := startReplicas(t, yml, fronts)
	var reps []*replica
	for i, front := range fronts {
		reps = append(reps, &replica{front: front, admin: admins[i]})
	}
	w := &doorsWorld{front: reps[0].front, admin: reps[0].admin, g: gs[0], at: reps[1], yml: yml}
	w.app, w.secret = storedDoorsApp, w.createStoredApp(t)
	// B learns of the new app by its app sync before anyone uses it there.
	deadline := time.Now().Add(5 * time.Second)
	for gs[1].directory.App(storedDoorsApp) == nil {
		if time.Now().After(deadline) {
			t.Fatal("replica B never saw the app created on A")
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.obtainCredentials(t)
	return w
}

// createStoredApp creates the doors app on A through the admin API and
// returns its secret.
func (w *doorsWorld) createStoredApp(t *testing.T) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"uri": storedDoorsApp, "name": "Stored doors", "type": "confidential", "system_user": "svc-sync",
		"scope": "read update sec", "redirect_uris": []string{doorsRedirect},
		"allow_internal_users": true, "allow_community_users": true, "reference_tokens": "authenticated_users",
	})
	req, _ := http.NewRequest(http.MethodPost, w.admin.URL+"/admin/apps", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+w.clientToken(t, opsApp, opsSecret))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ClientSecret string `json:"client_secret"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated || out.ClientSecret == "" {
		t.Fatalf("create app: %d %v", resp.StatusCode, err)
	}
	return out.ClientSecret
}

// setStoredAppEnabled flips the kill switch of the stored app on A.
func (w *doorsWorld) setStoredAppEnabled(t *testing.T, enabled bool) {
	t.Helper()
	verb := "disable"
	if enabled {
		verb = "enable"
	}
	status, body := call(t, http.MethodPost, w.admin.URL+"/admin/apps/"+url.PathEscape(storedDoorsApp)+"/"+verb, w.clientToken(t, opsApp, opsSecret))
	if status != http.StatusOK {
		t.Fatalf("%s app: %d %s", verb, status, body)
	}
}

// replicaSchemaDSN is a new schema on the test PostgreSQL server
// ($ERPGATE_TEST_POSTGRES_DSN, else the local one), dropped at the end.
// Without a server the test skips, except in CI, where it fails.
func replicaSchemaDSN(t *testing.T) string {
	t.Helper()
	base := os.Getenv("ERPGATE_TEST_POSTGRES_DSN")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		msg := fmt.Sprintf("no PostgreSQL server at %s: %v", base, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	defer conn.Close(context.Background())
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "erpgate_doors_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			c.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestKillSwitchInFlight: while clients keep calling replica B with the
// app's service token and SAT, the app is disabled on A. Every call that
// starts more than propagationBound after the switch is refused, and no
// call is answered with anything but 200 (before) or 401 (after).
func TestKillSwitchInFlight(t *testing.T) {
	w := newReplicaDoorsWorld(t)
	type result struct {
		start  time.Time
		status int
	}
	stop := make(chan struct{})
	results := make(chan result, 1<<16)
	var running sync.WaitGroup
	for _, k := range []string{credService, credSAT, credService, credSAT} {
		tok := w.creds[k].token
		running.Go(func() {
			for n := 0; n < 20000; n++ { // bounded, whatever happens
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				req, _ := http.NewRequest(http.MethodGet, w.at.front.URL+sampleapi.PersonsPath, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				results <- result{start, resp.StatusCode}
				time.Sleep(time.Millisecond) // about 1,000 calls a second each, at most
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // calls in flight
	switched := time.Now()
	w.setStoredAppEnabled(t, false)
	time.Sleep(propagationBound + 500*time.Millisecond)
	close(stop)
	running.Wait()
	close(results)
	var before, late, after int
	for r := range results {
		switch {
		case r.status != http.StatusOK && r.status != http.StatusUnauthorized:
			t.Errorf("call at %s after the switch: status %d", r.start.Sub(switched), r.status)
		case r.start.Before(switched) && r.status == http.StatusOK:
			before++
		case r.start.After(switched.Add(propagationBound)):
			after++
			if r.status != http.StatusUnauthorized {
				late++
			}
		}
	}
	if before == 0 || after == 0 {
		t.Fatalf("no calls around the switch: %d before, %d after", before, after)
	}
	if late > 0 {
		t.Errorf("%d of %d calls started more than %s after the kill switch were still let through", late, after, propagationBound)
	}
}
