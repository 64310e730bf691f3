package issuer

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

func (ts *testServer) takeClients(t *testing.T, sid string) map[string]string {
	t.Helper()
	got, err := ts.store.TakeSessionClients(t.Context(), sid)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range got {
		out[c.ClientID] = c.Subject
	}
	return out
}

// Every user token issue notes the app for the session (back-channel
// logout §2.5 must reach every RP the session touched): the code
// exchange, SSO into a second app, a refresh; client credentials, which
// have no sign-in session, note nothing.
func TestSessionClientsRecorded(t *testing.T) {
	ts := newTestServer(t, nil)
	b := newBrowser(t, ts)
	p := newPKCE()
	resp := b.login(authzQuery(webID, webRedirect, "openid offline_access read", p), "alice", "alice-pw")
	first := ts.exchange(t, webID, webSecret, codeForm(resp.Get("code"), webRedirect, p.verifier))
	if first.status != 200 {
		t.Fatalf("code exchange: %d %v", first.status, first.body)
	}
	sid := ts.accessClaims(t, first.body["access_token"].(string)).SessionID

	p2 := newPKCE()
	r2, _ := b.get(ts.issuer + "/connect/authorize?" + authzQuery("com.example/other", "https://other.example.com/cb", "openid", p2).Encode())
	code2 := redirectQuery(t, r2, "https://other.example.com/cb").Get("code")
	if res := ts.exchange(t, "com.example/other", "other", codeForm(code2, "https://other.example.com/cb", p2.verifier)); res.status != 200 {
		t.Fatalf("SSO exchange: %d %v", res.status, res.body)
	}
	if got := ts.takeClients(t, sid); len(got) != 2 || got[webID] != "alice" || got["com.example/other"] != "alice" {
		t.Errorf("after sign-in and SSO: %v, want both apps for alice", got)
	}

	*ts.now = ts.now.Add(time.Minute)
	ref := ts.exchange(t, webID, webSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.body["refresh_token"].(string)}})
	if ref.status != 200 {
		t.Fatalf("refresh: %d %v", ref.status, ref.body)
	}
	if got := ts.takeClients(t, sid); len(got) != 1 || got[webID] != "alice" {
		t.Errorf("after a refresh: %v, want the refreshing app", got)
	}

	cc := ts.token(t, url.Values{"grant_type": {"client_credentials"}}, syncID, syncSecret)
	if cc.status != 200 {
		t.Fatalf("client credentials: %d %v", cc.status, cc.body)
	}
	if got := ts.takeClients(t, ts.accessClaims(t, cc.body["access_token"].(string)).SessionID); len(got) != 0 {
		t.Errorf("client credentials noted %v; a service session has no sign-in to log out of", got)
	}
}

// The hybrid flow's front-channel ID token already gives the app the
// sid, so it is noted before the code is exchanged.
func TestSessionClientsRecordedForHybridIDToken(t *testing.T) {
	ts := newTestServer(t, nil)
	b := newBrowser(t, ts)
	q := authzQuery(webID, webRedirect, "openid read", newPKCE(), "response_type", "code id_token")
	resp, page := b.authzResponse(q, "alice", "alice-pw")
	got := readResponse(t, resp, page, webRedirect)
	idt := got.params.Get("id_token")
	if idt == "" {
		t.Fatalf("no ID token: %v", got.params)
	}
	if c := ts.takeClients(t, ts.idClaims(t, idt).SID); c[webID] != "alice" {
		t.Errorf("noted %v, want the hybrid app", c)
	}
}

type failingClients struct{}

func (failingClients) RecordSessionClient(context.Context, store.SessionClient) error {
	return errors.New("store down")
}

// Tokens an app could not be told to drop are not issued: a store that
// cannot note the app refuses the exchange (try again later).
func TestSessionClientsFailureRefusesTokens(t *testing.T) {
	ts := newTestServer(t, func(tc *testConfig) { tc.SessionClients = failingClients{} })
	p := newPKCE()
	resp := newBrowser(t, ts).login(authzQuery(webID, webRedirect, "openid read", p), "alice", "alice-pw")
	res := ts.exchange(t, webID, webSecret, codeForm(resp.Get("code"), webRedirect, p.verifier))
	if res.status != 503 || res.body["error"] != "temporarily_unavailable" || res.body["access_token"] != nil {
		t.Errorf("exchange with the store down = %d %v, want 503 temporarily_unavailable and no token", res.status, res.body)
	}
}

// An app that exchanges a user's token (RFC 8693) holds a token of the
// session from then on: it is noted for the session like the app that
// signed the user in. A service token's exchange notes nothing.
func TestSessionClientsRecordedForTokenExchange(t *testing.T) {
	ts := newExchangeServer(t)
	subject := ts.aliceToken(t)
	sid := ts.accessClaims(t, subject).SessionID
	ts.takeClients(t, sid) // the sign-in's own note
	if res := ts.token(t, exchangeForm(subject), midID, midSecret); res.status != 200 {
		t.Fatalf("exchange: %d %v", res.status, res.body)
	}
	if got := ts.takeClients(t, sid); len(got) != 1 || got[midID] != "alice" {
		t.Errorf("after the exchange: %v, want %s for alice", got, midID)
	}
	svc := ts.serviceToken(t)
	if res := ts.token(t, exchangeForm(svc), midID, midSecret); res.status != 200 {
		t.Fatalf("service exchange: %d %v", res.status, res.body)
	}
	if got := ts.takeClients(t, ts.accessClaims(t, svc).SessionID); len(got) != 0 {
		t.Errorf("a service token's exchange noted %v", got)
	}
}
