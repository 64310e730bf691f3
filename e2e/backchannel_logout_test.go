package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/internal/testrp"
)

// TestBackchannelLogout: the built binary tells a relying party on
// loopback (internal/testrp, which judges every logout token as OpenID
// Connect Back-Channel Logout 1.0 §2.6 says, with the keys it finds
// through the gateway's discovery document) that alice's session ended:
// once when she logs out (RP-initiated logout with id_token_hint), once
// when an administrator ends her next session through the admin API, and
// once when one ends the one after with `erpgate sessions end`, and once
// when `erpgate users password` changes a stored user's password. Each
// logout is measured and audited.
func TestBackchannelLogout(t *testing.T) {
	t.Parallel()
	rp := testrp.New(t)
	const spaEntry = "    post_logout_redirect_uris: [http://127.0.0.1:5173/]\n"
	g := startGateway(t, gatewayOptions{Edit: func(cfg string) string {
		if !strings.Contains(cfg, spaEntry) {
			t.Fatal("config.example.yaml changed shape: no SPA post_logout_redirect_uris line")
		}
		return strings.Replace(cfg, spaEntry, spaEntry+"    backchannel_logout_uri: "+rp.URI(spaClient)+"\n", 1)
	}})
	rp.Discover(t, t.Context(), g.Issuer())

	sidOf := func(tr userTokens) string {
		t.Helper()
		_, c := jwtParts(t, tr.IDToken)
		sid, _ := c["sid"].(string)
		if sid == "" {
			t.Fatalf("ID token without sid: %v", c)
		}
		return sid
	}
	expect := func(n int, sid, how string) {
		t.Helper()
		start := time.Now()
		got := rp.Wait(n, 10*time.Second)
		if len(got) != n {
			t.Fatalf("%s: the RP accepted %d logout tokens, want %d; refused: %v", how, len(got), n, rp.Rejected())
		}
		l := got[n-1]
		if l.ClientID != spaClient || l.SessionID != sid || l.Subject != aliceLogin {
			t.Errorf("%s: logout token %+v, want aud %s, sid %s, sub %s", how, l, spaClient, sid, aliceLogin)
		}
		t.Logf("%s: logout token verified by the RP %s after the end", how, time.Since(start).Round(time.Millisecond))
	}

	// 1. RP-initiated logout: no proxied call was made, so no ERP
	// session was ever opened; the sign-in still ends, and the app hears.
	tr := signInAlice(t, g, g)
	sid := sidOf(tr)
	if r := g.call(t, http.MethodGet, g.Issuer()+"/connect/endsession?id_token_hint="+url.QueryEscape(tr.IDToken), ""); r.Status != http.StatusOK {
		t.Fatalf("endsession: %s", r)
	}
	expect(1, sid, "logout")

	// 2. An administrator ends the session the next sign-in's call opened.
	tr = signInAlice(t, g, g)
	sid = sidOf(tr)
	if r := g.call(t, http.MethodGet, g.PublicURL+personsPath, tr.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("proxied call: %s", r)
	}
	ops := g.token(t, adminCLIClient, adminCLISecret)
	if r := adminCall(t, g, http.MethodDelete, "/admin/sessions/"+url.PathEscape(sid), ops, ""); r.Status != http.StatusOK {
		t.Fatalf("DELETE /admin/sessions/%s: %s", sid, r)
	}
	expect(2, sid, "admin end")
	time.Sleep(300 * time.Millisecond)
	if n := len(rp.Received()); n != 2 {
		t.Errorf("%d logout tokens, want exactly 2", n)
	}

	if m := g.metrics(t); !strings.Contains(m, `erpgate_backchannel_logout_total{result="delivered"} 2`) {
		t.Errorf("metrics lack two delivered logout tokens:\n%s", grepMetric(m, "erpgate_backchannel"))
	}
	delivered := 0
	for _, e := range auditEvents(t, g.Stderr()) {
		if e.Event == "logout.backchannel" && e.Reason == "delivered" && e.ClientID == spaClient && e.Subject == aliceLogin {
			delivered++
		}
	}
	if delivered != 2 {
		t.Errorf("%d logout.backchannel delivered audit events, want 2", delivered)
	}

	// 3. An administrator ends a session with the CLI, its own process on
	// the gateway's store: the CLI made the end, so the CLI tells the app.
	tr = signInAlice(t, g, g)
	sid = sidOf(tr)
	if r := g.call(t, http.MethodGet, g.PublicURL+personsPath, tr.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("proxied call: %s", r)
	}
	stdout, stderr, code := runCLI(t, "", "sessions", "end", "--config", g.ConfigPath, "--", sid)
	if code != 0 {
		t.Fatalf("sessions end: exit %d\n%s%s", code, stdout, stderr)
	}
	expect(3, sid, "CLI end")
	cliDelivered := false
	for _, e := range auditEvents(t, stderr) {
		cliDelivered = cliDelivered || e.Event == "logout.backchannel" && e.Reason == "delivered" && e.Session == sid
	}
	if !cliDelivered {
		t.Errorf("the CLI wrote no logout.backchannel delivered audit line:\n%s", stderr)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(rp.Received()); n != 3 {
		t.Errorf("%d logout tokens, want exactly 3 (the gateway must not tell the CLI's end again)", n)
	}

	// 4. `erpgate users password` signs a stored user out everywhere: her
	// sign-in ends, and the app she signed in to hears of it from the CLI.
	const erin, erinPassword = "erin", "erin-first-Passw0rd"
	// Created through the gateway's admin API, which knows her at once.
	if r := adminCall(t, g, http.MethodPost, "/admin/users", ops,
		`{"login": "`+erin+`", "type": "internal", "password": "`+erinPassword+`"}`); r.Status != http.StatusCreated {
		t.Fatalf("POST /admin/users: %s", r)
	}
	tr = signInAs(t, g, g, erin, erinPassword)
	sid = sidOf(tr)
	if stdout, stderr, code := runCLI(t, "erin-second-Passw0rd\n", "users", "password", "--config", g.ConfigPath, "--", erin); code != 0 {
		t.Fatalf("users password: exit %d\n%s%s", code, stdout, stderr)
	}
	got := rp.Wait(4, 10*time.Second)
	if len(got) != 4 || got[3].SessionID != sid || got[3].Subject != erin || got[3].ClientID != spaClient {
		t.Fatalf("after a password change: %+v, want a 4th token for erin's sid %s", got, sid)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(rp.Received()); n != 4 {
		t.Errorf("%d logout tokens, want exactly 4", n)
	}
}

// grepMetric returns the lines of a metrics page that contain name.
func grepMetric(page, name string) string {
	var out []string
	for _, l := range strings.Split(page, "\n") {
		if strings.Contains(l, name) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
