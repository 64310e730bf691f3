package gateway

import (
	"cmp"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/dpop/dpoptest"
	"github.com/erpgate/erpgate/sampleapi"
)

// DPoP at every door (RFC 9449 §7): a bound token is honoured only with
// the DPoP scheme and a fresh proof by its key for this request, at each
// door of the doors list that takes a token; introspection, which is
// asked about a token rather than presented with it, names the key.

// dpopCreds are bound credentials of the doors app: a service token and
// a user's (the code flow as the doors app, its exchange with a proof).
// With dpop.require_nonce, the token requests retry with the nonce they
// are given (RFC 9449 §8), and nonce is the last one.
func (w *doorsWorld) dpopCreds(t *testing.T) (creds []*doorsCred, nonce string) {
	t.Helper()
	key := dpoptest.NewKey(t)
	tokenURL := w.front.URL + "/id/connect/token"
	proofOf := func(form url.Values) doorsTokenResponse {
		for {
			req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(w.app), url.QueryEscape(w.secret))
			req.Header.Set("DPoP", key.ProofWithNonce(http.MethodPost, tokenURL, "", nonce, time.Now()))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var tr doorsTokenResponse
			_ = json.NewDecoder(resp.Body).Decode(&tr)
			resp.Body.Close()
			tr.status = resp.StatusCode
			given := resp.Header.Get("DPoP-Nonce")
			if tr.Error != "use_dpop_nonce" || nonce != "" || given == "" {
				nonce = cmp.Or(given, nonce)
				return tr
			}
			nonce = given // once
		}
	}
	svc := proofOf(url.Values{"grant_type": {"client_credentials"}})
	if svc.status != http.StatusOK {
		t.Fatalf("client credentials with a proof: %+v", svc)
	}
	// A user token: dora's refresh token, refreshed with a proof.
	user := w.signIn(t, "dora")
	ref := proofOf(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {user.refresh}})
	if ref.status != http.StatusOK {
		t.Fatalf("refresh with a proof: %+v", ref)
	}
	return []*doorsCred{
		{kind: credService, token: svc.AccessToken, key: key},
		{kind: credUser, token: ref.AccessToken, key: key, browser: user.browser, jar: user.jar},
	}, nonce
}

// tokenDoorNames are the doors a token is presented to.
var presentedTo = func(name string) bool { return tokenDoor(name) && name != "introspection" }

// TestDPoPAtEveryDoor: each way of presenting a bound token, at every
// door that takes a token.
func TestDPoPAtEveryDoor(t *testing.T) {
	w := newDoorsWorld(t)
	creds, _ := w.dpopCreds(t)
	other := dpoptest.NewKey(t)
	for _, tc := range []struct {
		name    string
		present func(c *doorsCred) func(req *http.Request, method, url string)
		accept  bool
	}{
		{"DPoP scheme, a fresh proof by the key", nil, true},
		{"sent as a bearer token", func(c *doorsCred) func(*http.Request, string, string) {
			return func(req *http.Request, _, _ string) { req.Header.Set("Authorization", "Bearer "+c.token) }
		}, false},
		{"sent as a bearer token, with a valid proof", func(c *doorsCred) func(*http.Request, string, string) {
			return func(req *http.Request, method, u string) {
				req.Header.Set("Authorization", "Bearer "+c.token)
				req.Header.Set("DPoP", c.key.Proof(method, u, c.token, time.Now()))
			}
		}, false},
		{"DPoP scheme without a proof", func(c *doorsCred) func(*http.Request, string, string) {
			return func(req *http.Request, _, _ string) { req.Header.Set("Authorization", "DPoP "+c.token) }
		}, false},
		{"a proof by another key", func(c *doorsCred) func(*http.Request, string, string) {
			return func(req *http.Request, method, u string) {
				req.Header.Set("Authorization", "DPoP "+c.token)
				req.Header.Set("DPoP", other.Proof(method, u, c.token, time.Now()))
			}
		}, false},
		{"a proof for another URL", func(c *doorsCred) func(*http.Request, string, string) {
			return func(req *http.Request, method, _ string) {
				req.Header.Set("Authorization", "DPoP "+c.token)
				req.Header.Set("DPoP", c.key.Proof(method, w.front.URL+"/api/domain/odata/Other", c.token, time.Now()))
			}
		}, false},
		{"a proof for another method", func(c *doorsCred) func(*http.Request, string, string) {
			return func(req *http.Request, _, u string) {
				req.Header.Set("Authorization", "DPoP "+c.token)
				req.Header.Set("DPoP", c.key.Proof(http.MethodDelete, u, c.token, time.Now()))
			}
		}, false},
		{"a proof without the token's hash", func(c *doorsCred) func(*http.Request, string, string) {
			return func(req *http.Request, method, u string) {
				req.Header.Set("Authorization", "DPoP "+c.token)
				req.Header.Set("DPoP", c.key.Proof(method, u, "", time.Now()))
			}
		}, false},
		{"a proof made two minutes ago", func(c *doorsCred) func(*http.Request, string, string) {
			return func(req *http.Request, method, u string) {
				req.Header.Set("Authorization", "DPoP "+c.token)
				req.Header.Set("DPoP", c.key.Proof(method, u, c.token, time.Now().Add(-2*time.Minute)))
			}
		}, false},
		{"a proof replayed", func(c *doorsCred) func(*http.Request, string, string) {
			seen := map[string]string{}
			return func(req *http.Request, method, u string) {
				p, ok := seen[method+u]
				if !ok { // spend it once, then send it again
					p = c.key.Proof(method, u, c.token, time.Now())
					seen[method+u] = p
					first, _ := http.NewRequest(method, req.URL.String(), nil)
					first.Header = req.Header.Clone()
					first.Header.Set("Authorization", "DPoP "+c.token)
					first.Header.Set("DPoP", p)
					if resp, err := http.DefaultClient.Do(first); err == nil {
						resp.Body.Close()
					}
				}
				req.Header.Set("Authorization", "DPoP "+c.token)
				req.Header.Set("DPoP", p)
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range creds {
				c.present = nil
				if tc.present != nil {
					c.present = tc.present(c)
				}
				for _, d := range doors {
					if !presentedTo(d.name) {
						continue
					}
					v, ok := d.ask(t, w, c)
					if !ok {
						continue
					}
					if v.accepted != tc.accept {
						t.Errorf("%s token at %s: %v, want accepted %v", c.kind, d.name, v, tc.accept)
					}
					if !tc.accept && v.status != http.StatusUnauthorized {
						t.Errorf("%s token at %s: %v, want 401", c.kind, d.name, v)
					}
				}
			}
		})
	}

	// Introspection names the key (RFC 9449 §6.2).
	for _, c := range creds {
		req, _ := http.NewRequest(http.MethodPost, w.front.URL+"/id/connect/introspect",
			strings.NewReader(url.Values{"token": {c.token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(opsApp), url.QueryEscape(opsSecret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		status, body := resp.StatusCode, string(b)
		if status != http.StatusOK || !strings.Contains(body, `"active":true`) || !strings.Contains(body, `"jkt":"`+c.key.JKT()+`"`) ||
			!strings.Contains(body, `"token_type":"DPoP"`) {
			t.Errorf("introspection of the %s token: %d %s, want active with cnf.jkt and token_type DPoP", c.kind, status, body)
		}
	}
}

// TestDPoPNonceAtEveryDoor: with dpop.require_nonce, a proof without the
// server's nonce is refused at every door with use_dpop_nonce and a nonce
// to retry with (RFC 9449 §9), and the nonce the token endpoint handed
// out works at every door.
func TestDPoPNonceAtEveryDoor(t *testing.T) {
	w := newDoorsWorldWith(t, "dpop: {require_nonce: true}\n")
	creds, nonce := w.dpopCreds(t)
	if nonce == "" {
		t.Fatal("the token endpoint handed out no nonce")
	}
	for _, withNonce := range []bool{false, true} {
		for _, c := range creds {
			c.present = func(req *http.Request, method, u string) {
				n := ""
				if withNonce {
					n = nonce
				}
				req.Header.Set("Authorization", "DPoP "+c.token)
				req.Header.Set("DPoP", c.key.ProofWithNonce(method, u, c.token, n, time.Now()))
			}
			for _, d := range doors {
				if !presentedTo(d.name) {
					continue
				}
				if v, ok := d.ask(t, w, c); ok && v.accepted != withNonce {
					t.Errorf("%s token at %s, nonce %v: %v", c.kind, d.name, withNonce, v)
				}
			}
		}
	}
	// The refusal says what to do.
	c := creds[0]
	c.present = nil
	req, _ := http.NewRequest(http.MethodGet, w.front.URL+sampleapi.PersonsPath, nil)
	req.Header.Set("Authorization", "DPoP "+c.token)
	req.Header.Set("DPoP", c.key.Proof(http.MethodGet, w.front.URL+sampleapi.PersonsPath, c.token, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.Contains(ch, `error="use_dpop_nonce"`) || resp.Header.Get("DPoP-Nonce") == "" {
		t.Errorf("no nonce at the proxy: %d %q nonce %q", resp.StatusCode, ch, resp.Header.Get("DPoP-Nonce"))
	}
}
