package issuer

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/erpgate/erpgate/store"
)

var errStoreDown = errors.New("store unreachable (test)")

// downSessions is the store's identity sessions with their calls failing
// while down is set: a database that went away between two statements.
type downSessions struct {
	IdentitySessions
	down atomic.Bool
}

func (g *downSessions) IdentitySession(ctx context.Context, id string) (store.IdentitySession, error) {
	if g.down.Load() {
		return store.IdentitySession{}, errStoreDown
	}
	return g.IdentitySessions.IdentitySession(ctx, id)
}

func (g *downSessions) EndIdentitySession(ctx context.Context, id string, at time.Time) error {
	if g.down.Load() {
		return errStoreDown
	}
	return g.IdentitySessions.EndIdentitySession(ctx, id, at)
}

func newDownServer(t *testing.T) (*testServer, *downSessions) {
	t.Helper()
	var dg *downSessions
	ts := newTestServer(t, func(c *testConfig) {
		dg = &downSessions{IdentitySessions: c.IdentitySessions}
		c.IdentitySessions = dg
	})
	return ts, dg
}

// A store failure while refreshing is the server's trouble, not the
// grant's: 503 temporarily_unavailable, so the client tries again with
// the same refresh token instead of signing its user out (RFC 6749
// §4.1.2.1 defines the code for "a temporary overloading or maintenance
// of the server").
func TestRefreshStoreDownIs503(t *testing.T) {
	ts, dg := newDownServer(t)
	b := newBrowser(t, ts)
	p := newPKCE()
	resp := b.login(authzQuery(webID, webRedirect, "openid offline_access read", p), "alice", "alice-pw")
	first := ts.exchange(t, webID, webSecret, codeForm(resp.Get("code"), webRedirect, p.verifier))
	rt := first.body["refresh_token"].(string)
	refresh := func() tokenResult {
		return ts.exchange(t, webID, webSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	}

	dg.down.Store(true)
	res := refresh()
	if res.status != http.StatusServiceUnavailable || res.body["error"] != "temporarily_unavailable" {
		t.Fatalf("refresh with the store down: %d %v; want 503 temporarily_unavailable", res.status, res.body)
	}
	if res.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", res.header.Get("Cache-Control"))
	}

	dg.down.Store(false)
	if res := refresh(); res.status != http.StatusOK || res.body["refresh_token"] == rt {
		t.Fatalf("refresh once the store is back: %d %v", res.status, res.body)
	}
}

// A logout the store could not record is not reported as done: 503, and
// nothing is ended; once the store is back the same request signs out.
func TestEndSessionStoreDownIs503(t *testing.T) {
	ts, dg := newDownServer(t)
	b := newBrowser(t, ts)
	p := newPKCE()
	resp := b.login(authzQuery(webID, webRedirect, "openid offline_access read", p), "alice", "alice-pw")
	tok := ts.exchange(t, webID, webSecret, codeForm(resp.Get("code"), webRedirect, p.verifier))
	logout := ts.issuer + "/connect/endsession?" + url.Values{"id_token_hint": {tok.body["id_token"].(string)},
		"post_logout_redirect_uri": {"https://app.example.com/bye"}}.Encode()

	dg.down.Store(true)
	if r, _ := b.get(logout); r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Location") != "" {
		t.Fatalf("endsession with the store down: %d %q; want 503 and no redirect", r.StatusCode, r.Header.Get("Location"))
	}

	dg.down.Store(false)
	if r, _ := b.get(logout); r.StatusCode != http.StatusFound {
		t.Fatalf("endsession once the store is back: %d", r.StatusCode)
	}
	sid := ts.accessClaims(t, tok.body["access_token"].(string)).SessionID
	if s, err := ts.store.Session(context.Background(), sid); err != nil || s.EndReason != store.EndLogout {
		t.Fatalf("ERP session after the retried logout: %+v %v", s, err)
	}
}
