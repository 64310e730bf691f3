package issuer

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/dpop"
	"github.com/erpgate/erpgate/dpop/dpoptest"
)

// tokenWithProof is a token request carrying the DPoP headers proofs
// (none for nil), authenticated with client_secret_basic unless secret
// is "" (a public client names itself in the form).
func (ts *testServer) tokenWithProof(t *testing.T, clientID, secret string, form url.Values, proofs ...string) tokenResult {
	t.Helper()
	if secret == "" {
		form.Set("client_id", clientID)
	}
	req, _ := http.NewRequest(http.MethodPost, ts.issuer+"/connect/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return tokenResult{resp.StatusCode, resp.Header, body}
}

func (ts *testServer) tokenURL() string { return ts.issuer + "/connect/token" }

// TestDPoPClientCredentials: with a proof, the access token is bound to
// its key (cnf.jkt, token_type DPoP; RFC 9449 §5, §6.1); without one it
// is a bearer token; a proof that is wrong for this request, or spent
// already, is refused with invalid_dpop_proof and issues nothing.
func TestDPoPClientCredentials(t *testing.T) {
	ts := newTestServer(t, nil)
	key := dpoptest.NewKey(t)
	cc := func() url.Values { return url.Values{"grant_type": {"client_credentials"}} }

	proof := key.Proof("POST", ts.tokenURL(), "", *ts.now)
	res := ts.tokenWithProof(t, syncID, syncSecret, cc(), proof)
	if res.status != 200 || res.body["token_type"] != "DPoP" {
		t.Fatalf("with a proof: %d %v", res.status, res.body)
	}
	if c := ts.accessClaims(t, res.body["access_token"].(string)); c.BoundKey() != key.JKT() {
		t.Errorf("cnf.jkt %q, want the proof key's %q", c.BoundKey(), key.JKT())
	}
	res = ts.tokenWithProof(t, syncID, syncSecret, cc())
	if res.status != 200 || res.body["token_type"] != "Bearer" || ts.accessClaims(t, res.body["access_token"].(string)).Confirmation != nil {
		t.Errorf("without a proof: %d %v, want an unbound bearer token", res.status, res.body)
	}

	for _, tc := range []struct {
		name   string
		proofs []string
	}{
		{"the same proof again", []string{proof}},
		{"for another URL", []string{key.Proof("POST", ts.issuer+"/connect/introspect", "", *ts.now)}},
		{"for GET", []string{key.Proof("GET", ts.tokenURL(), "", *ts.now)}},
		{"two minutes old", []string{key.Proof("POST", ts.tokenURL(), "", ts.now.Add(-2*time.Minute))}},
		{"two proofs", []string{key.Proof("POST", ts.tokenURL(), "", *ts.now), key.Proof("POST", ts.tokenURL(), "", *ts.now)}},
		{"not a JWT", []string{"garbage"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := ts.tokenWithProof(t, syncID, syncSecret, cc(), tc.proofs...)
			if res.status != 400 || res.body["error"] != "invalid_dpop_proof" || res.body["access_token"] != nil {
				t.Errorf("%d %v, want 400 invalid_dpop_proof", res.status, res.body)
			}
		})
	}
}

// TestDPoPRequired: an app with dpop: required gets no token without a
// proof.
func TestDPoPRequired(t *testing.T) {
	ts := newTestServer(t, func(c *testConfig) {
		for i := range c.Apps {
			if c.Apps[i].ID == syncID {
				c.Apps[i].DPoPRequired = true
			}
		}
	})
	cc := url.Values{"grant_type": {"client_credentials"}}
	if res := ts.tokenWithProof(t, syncID, syncSecret, cc); res.status != 400 || res.body["error"] != "invalid_dpop_proof" {
		t.Errorf("without a proof: %d %v, want invalid_dpop_proof", res.status, res.body)
	}
	key := dpoptest.NewKey(t)
	if res := ts.tokenWithProof(t, syncID, syncSecret, cc, key.Proof("POST", ts.tokenURL(), "", *ts.now)); res.status != 200 || res.body["token_type"] != "DPoP" {
		t.Errorf("with a proof: %d %v", res.status, res.body)
	}
}

// TestDPoPPublicClientRefresh: a public client's refresh token is bound
// to the key of the code exchange (RFC 9449 §5): a refresh without a
// proof, or with another key's, is refused; with the key it works, and
// the successor stays bound. A confidential client's refresh token is not
// bound: it may refresh with a new key, and gets tokens bound to that one.
func TestDPoPPublicClientRefresh(t *testing.T) {
	ts := newTestServer(t, nil)
	const spa, spaRedirect = "com.example/spa", "http://127.0.0.1:5000/cb"
	key, thief := dpoptest.NewKey(t), dpoptest.NewKey(t)

	b := newBrowser(t, ts)
	p := newPKCE()
	code := b.login(authzQuery(spa, spaRedirect, "openid offline_access read", p), "alice", "alice-pw").Get("code")
	first := ts.tokenWithProof(t, spa, "", codeForm(code, spaRedirect, p.verifier), key.Proof("POST", ts.tokenURL(), "", *ts.now))
	if first.status != 200 || first.body["token_type"] != "DPoP" || first.body["refresh_token"] == nil {
		t.Fatalf("code exchange with a proof: %d %v", first.status, first.body)
	}
	if c := ts.accessClaims(t, first.body["access_token"].(string)); c.BoundKey() != key.JKT() {
		t.Errorf("the access token's cnf.jkt %q, want %q", c.BoundKey(), key.JKT())
	}
	refresh := func(rt string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	}
	rt := first.body["refresh_token"].(string)
	for name, proofs := range map[string][]string{
		"no proof":        nil,
		"another's proof": {thief.Proof("POST", ts.tokenURL(), "", *ts.now)},
	} {
		if res := ts.tokenWithProof(t, spa, "", refresh(rt), proofs...); res.status != 400 || res.body["error"] != "invalid_dpop_proof" {
			t.Errorf("refresh with %s: %d %v, want invalid_dpop_proof", name, res.status, res.body)
		}
	}
	second := ts.tokenWithProof(t, spa, "", refresh(rt), key.Proof("POST", ts.tokenURL(), "", *ts.now))
	if second.status != 200 || second.body["token_type"] != "DPoP" {
		t.Fatalf("refresh with the key: %d %v", second.status, second.body)
	}
	if res := ts.tokenWithProof(t, spa, "", refresh(second.body["refresh_token"].(string))); res.status != 400 {
		t.Errorf("the successor without a proof: %d %v, want it bound too", res.status, res.body)
	}

	// A confidential client.
	p2 := newPKCE()
	code2 := newBrowser(t, ts).login(authzQuery(webID, webRedirect, "openid offline_access read", p2), "alice", "alice-pw").Get("code")
	web := ts.tokenWithProof(t, webID, webSecret, codeForm(code2, webRedirect, p2.verifier), key.Proof("POST", ts.tokenURL(), "", *ts.now))
	if web.status != 200 {
		t.Fatalf("web code exchange: %d %v", web.status, web.body)
	}
	next := dpoptest.NewKey(t)
	moved := ts.tokenWithProof(t, webID, webSecret, refresh(web.body["refresh_token"].(string)), next.Proof("POST", ts.tokenURL(), "", *ts.now))
	if c := ts.accessClaims(t, moved.body["access_token"].(string)); moved.status != 200 || c.BoundKey() != next.JKT() {
		t.Errorf("a confidential client's refresh with a new key: %d %v, want a token bound to it", moved.status, moved.body)
	}
}

// TestDPoPNonce: with server nonces, a token request whose proof has none
// gets use_dpop_nonce and a nonce in DPoP-Nonce (RFC 9449 §8); the retry
// with it gets the token, and its answer carries a nonce too.
func TestDPoPNonce(t *testing.T) {
	ts := newTestServer(t, func(c *testConfig) {
		n, err := dpop.NewNonces([]byte("operator secret"), 0, func() time.Time { return testNow })
		if err != nil {
			t.Fatal(err)
		}
		c.DPoP = dpop.New(dpop.Config{Clock: func() time.Time { return testNow }, Nonces: n})
	})
	key := dpoptest.NewKey(t)
	cc := func() url.Values { return url.Values{"grant_type": {"client_credentials"}} }
	first := ts.tokenWithProof(t, syncID, syncSecret, cc(), key.Proof("POST", ts.tokenURL(), "", *ts.now))
	nonce := first.header.Get("DPoP-Nonce")
	if first.status != 400 || first.body["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("a proof without a nonce: %d %v (DPoP-Nonce %q), want use_dpop_nonce with a nonce", first.status, first.body, nonce)
	}
	retry := ts.tokenWithProof(t, syncID, syncSecret, cc(), key.ProofWithNonce("POST", ts.tokenURL(), "", nonce, *ts.now))
	if retry.status != 200 || retry.body["token_type"] != "DPoP" || retry.header.Get("DPoP-Nonce") == "" {
		t.Errorf("the retry with the nonce: %d %v", retry.status, retry.body)
	}
	if res := ts.tokenWithProof(t, syncID, syncSecret, cc(), key.ProofWithNonce("POST", ts.tokenURL(), "", "made-up", *ts.now)); res.body["error"] != "use_dpop_nonce" {
		t.Errorf("a made-up nonce: %d %v", res.status, res.body)
	}
}
