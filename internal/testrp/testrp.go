package testrp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

const (
	eventType = "http://schemas.openid.net/event/backchannel-logout"
	typ       = "logout+jwt"
	// maxAge refuses a token issued longer ago than this (§2.6 step 3:
	// "The iat Claim can be used to reject tokens that were issued too far
	// away from the current time").
	maxAge = 5 * time.Minute
)

// Logout is a logout token the RP accepted.
type Logout struct {
	ClientID  string // the app whose URI received it (its aud)
	Subject   string
	SessionID string
	ID        string // jti
	IssuedAt  time.Time
	Expiry    time.Time
}

// RP is a test relying party listening on loopback: each app's
// backchannel_logout_uri is URI(clientID).
type RP struct {
	*httptest.Server
	issuer string
	keys   oidc.KeySet

	mu       sync.Mutex
	got      []Logout
	rejected []string
	jtis     map[string]bool
	answer   func(clientID string, n int) int // status for the n-th valid token (from 1); nil: 200
	arrived  chan struct{}
}

// Start starts an RP that trusts keys for tokens of issuer; it closes
// when the test ends.
func Start(t testing.TB, issuer string, keys oidc.KeySet) *RP {
	rp := New(t)
	rp.Trust(issuer, keys)
	return rp
}

// New starts an RP that trusts no issuer yet (it refuses every token)
// so that its URIs can go into the issuer's config; Trust or Discover
// then names the issuer.
func New(t testing.TB) *RP {
	rp := &RP{jtis: map[string]bool{}, arrived: make(chan struct{}, 1024)}
	rp.Server = httptest.NewServer(http.HandlerFunc(rp.serve))
	t.Cleanup(rp.Close)
	return rp
}

// Trust makes the RP accept tokens of issuer signed by keys.
func (rp *RP) Trust(issuer string, keys oidc.KeySet) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.issuer, rp.keys = issuer, keys
}

// Discover makes the RP trust issuer with the keys its discovery
// document names (jwks_uri), as a real RP finds them.
func (rp *RP) Discover(t testing.TB, ctx context.Context, issuer string) {
	t.Helper()
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("testrp: discovery of %s: %v", issuer, err)
	}
	var meta struct {
		JWKS      string `json:"jwks_uri"`
		Supported bool   `json:"backchannel_logout_supported"`
		Session   bool   `json:"backchannel_logout_session_supported"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKS == "" {
		t.Fatalf("testrp: discovery of %s: jwks_uri %q, %v", issuer, meta.JWKS, err)
	}
	if !meta.Supported || !meta.Session {
		t.Errorf("testrp: discovery of %s: backchannel_logout_supported %v, backchannel_logout_session_supported %v; want both",
			issuer, meta.Supported, meta.Session)
	}
	rp.Trust(issuer, oidc.NewRemoteKeySet(context.WithoutCancel(ctx), meta.JWKS))
}

// URI is the backchannel_logout_uri of clientID at this RP.
func (rp *RP) URI(clientID string) string {
	return rp.URL + "/logout/" + url.PathEscape(clientID)
}

// Answer makes the RP answer the n-th valid token for an app (from 1)
// with the status f returns, instead of 200.
func (rp *RP) Answer(f func(clientID string, n int) int) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.answer = f
}

// Received returns the tokens accepted so far.
func (rp *RP) Received() []Logout {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]Logout(nil), rp.got...)
}

// Rejected returns why each refused request was refused.
func (rp *RP) Rejected() []string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]string(nil), rp.rejected...)
}

// Wait waits until n tokens were accepted, or timeout, and returns those
// accepted.
func (rp *RP) Wait(n int, timeout time.Duration) []Logout {
	deadline := time.After(timeout)
	for {
		if got := rp.Received(); len(got) >= n {
			return got
		}
		select {
		case <-rp.arrived:
		case <-deadline:
			return rp.Received()
		}
	}
}

func (rp *RP) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store") // §2.8
	clientID, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/logout/"))
	if err == nil {
		var l Logout
		l, err = rp.judge(r, clientID)
		if err == nil {
			rp.mu.Lock()
			rp.got = append(rp.got, l)
			n := 0
			for _, g := range rp.got {
				if g.ClientID == clientID {
					n++
				}
			}
			status := http.StatusOK
			if rp.answer != nil {
				status = rp.answer(clientID, n)
			}
			if status != http.StatusOK {
				rp.got = rp.got[:len(rp.got)-1] // not accepted: let it come again
				delete(rp.jtis, l.ID)
			}
			rp.mu.Unlock()
			select {
			case rp.arrived <- struct{}{}:
			default:
			}
			w.WriteHeader(status)
			return
		}
	}
	rp.mu.Lock()
	rp.rejected = append(rp.rejected, err.Error())
	rp.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": err.Error()})
}

// judge validates the request and its logout token (§2.5, §2.6).
func (rp *RP) judge(r *http.Request, clientID string) (Logout, error) {
	if r.Method != http.MethodPost {
		return Logout{}, fmt.Errorf("method %s, want POST", r.Method)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return Logout{}, fmt.Errorf("Content-Type %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		return Logout{}, err
	}
	if len(r.URL.Query()) != 0 {
		return Logout{}, errors.New("parameters in the query string")
	}
	raw := r.PostForm.Get("logout_token")
	if raw == "" {
		return Logout{}, errors.New("no logout_token")
	}
	// Explicit typing (§2.4): read the header with go-jose.
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.PS256, jose.EdDSA})
	if err != nil || len(jws.Signatures) != 1 {
		return Logout{}, fmt.Errorf("not a JWS: %v", err)
	}
	if got, _ := jws.Signatures[0].Header.ExtraHeaders[jose.HeaderType].(string); got != typ && got != "application/"+typ {
		return Logout{}, fmt.Errorf("typ %q, want %s", got, typ)
	}
	// §2.6 step 3: signature, iss, aud, exp as for an ID token.
	rp.mu.Lock()
	issuer, keys := rp.issuer, rp.keys
	rp.mu.Unlock()
	if keys == nil {
		return Logout{}, errors.New("no issuer trusted yet")
	}
	v := oidc.NewVerifier(issuer, keys, &oidc.Config{ClientID: clientID,
		SupportedSigningAlgs: []string{"RS256", "ES256", "PS256", "EdDSA"}})
	tok, err := v.Verify(r.Context(), raw)
	if err != nil {
		return Logout{}, fmt.Errorf("verify: %w", err)
	}
	var c struct {
		Subject string                     `json:"sub"`
		SID     string                     `json:"sid"`
		JTI     string                     `json:"jti"`
		IAT     *int64                     `json:"iat"`
		Events  map[string]json.RawMessage `json:"events"`
		Nonce   *json.RawMessage           `json:"nonce"`
	}
	if err := tok.Claims(&c); err != nil {
		return Logout{}, err
	}
	now := time.Now()
	switch {
	case c.IAT == nil || time.Unix(*c.IAT, 0).After(now.Add(time.Minute)) || time.Unix(*c.IAT, 0).Before(now.Add(-maxAge)):
		return Logout{}, fmt.Errorf("iat missing or more than %s from now", maxAge)
	case c.Subject == "" && c.SID == "": // step 4
		return Logout{}, errors.New("neither sub nor sid")
	case c.Events == nil || string(c.Events[eventType]) != "{}": // step 5
		return Logout{}, fmt.Errorf("events %v lack %s: {}", c.Events, eventType)
	case c.Nonce != nil: // step 6
		return Logout{}, errors.New("a nonce: this is not a logout token")
	case c.JTI == "":
		return Logout{}, errors.New("no jti")
	}
	rp.mu.Lock()
	seen := rp.jtis[c.JTI]
	rp.jtis[c.JTI] = true
	rp.mu.Unlock()
	if seen { // step 7: replay
		return Logout{}, fmt.Errorf("jti %s seen before", c.JTI)
	}
	return Logout{ClientID: clientID, Subject: c.Subject, SessionID: c.SID, ID: c.JTI,
		IssuedAt: time.Unix(*c.IAT, 0), Expiry: tok.Expiry}, nil
}
