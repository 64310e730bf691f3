package issuer

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/dpop/dpoptest"
	"github.com/erpgate/erpgate/store"
)

// The exchanging app: a middle-tier service that receives users' tokens
// and calls the next API on their behalf.
const (
	midID     = "com.example/middle"
	midSecret = "middle-secret"
)

// exchangeApps are the test apps with the middle tier allowed token
// exchange, and a twin that is not.
func exchangeApps() []directory.App {
	return append(testApps(),
		directory.App{ID: midID, SecretHash: sha(midSecret), Scopes: []string{"read", "update"}, Enabled: true,
			AllowInternalUsers: true, TokenExchange: true},
		directory.App{ID: "com.example/middle-off", SecretHash: sha("mo"), Scopes: []string{"read", "update"}, Enabled: true,
			AllowInternalUsers: true},
		directory.App{ID: "com.example/middle-narrow", SecretHash: sha("mn"), Scopes: []string{"read"}, Enabled: true,
			AllowInternalUsers: true, TokenExchange: true},
		directory.App{ID: "com.example/public-x", Public: true, Scopes: []string{"read"}, Enabled: true,
			AllowInternalUsers: true, TokenExchange: true, RedirectURIs: []string{"http://127.0.0.1:5001/cb"}},
	)
}

func newExchangeServer(t *testing.T) *testServer {
	return newTestServer(t, func(c *testConfig) { c.Apps = exchangeApps() })
}

// exchangeForm is an RFC 8693 §2.1 request for subject, with extra
// parameters as key, value pairs.
func exchangeForm(subject string, kv ...string) url.Values {
	f := url.Values{
		"grant_type":         {GrantTokenExchange},
		"subject_token":      {subject},
		"subject_token_type": {TokenTypeAccessToken},
		"audience":           {"TableAPI"},
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			f.Del(kv[i])
			continue
		}
		f.Set(kv[i], kv[i+1])
	}
	return f
}

// serviceToken is a client-credentials token of the sync app (read update).
func (ts *testServer) serviceToken(t *testing.T) string {
	t.Helper()
	res := ts.token(t, form("grant_type", "client_credentials"), syncID, syncSecret)
	if res.status != 200 {
		t.Fatalf("client credentials: %d %v", res.status, res.body)
	}
	return res.body["access_token"].(string)
}

// aliceToken is alice's access token from the web app (read update).
func (ts *testServer) aliceToken(t *testing.T) string {
	t.Helper()
	b := newBrowser(t, ts)
	p := newPKCE()
	q := b.login(authzQuery(webID, webRedirect, "openid read update", p), "alice", "alice-pw")
	res := ts.exchange(t, webID, webSecret, codeForm(q.Get("code"), webRedirect, p.verifier))
	if res.status != 200 {
		t.Fatalf("code exchange: %d %v", res.status, res.body)
	}
	return res.body["access_token"].(string)
}

// TestTokenExchangeIssues: the happy path of RFC 8693 §2.2.1 — a token
// for the requested audience alone, same subject, sid and user claims,
// act naming the exchanging client, no refresh token.
func TestTokenExchangeIssues(t *testing.T) {
	ts := newExchangeServer(t)
	subject := ts.aliceToken(t)
	sc := ts.accessClaims(t, subject)

	res := ts.token(t, exchangeForm(subject), midID, midSecret)
	if res.status != 200 {
		t.Fatalf("exchange: %d %v", res.status, res.body)
	}
	b := res.body
	if b["issued_token_type"] != TokenTypeAccessToken || b["token_type"] != "Bearer" || b["expires_in"] != float64(3600) || b["scope"] != "openid read update" {
		t.Errorf("response = %v", b)
	}
	if _, ok := b["refresh_token"]; ok {
		t.Error("an exchange must not issue a refresh token")
	}
	if res.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", res.header.Get("Cache-Control"))
	}
	c := ts.accessClaims(t, b["access_token"].(string))
	if c.Subject != "alice" || c.UserID != sc.UserID || c.Name != sc.Name || c.SessionID != sc.SessionID || c.ClientID != webID ||
		strings.Join(c.Audience, ",") != "TableAPI" || c.ID == sc.ID || c.ID == "" || c.Issuer != ts.issuer {
		t.Errorf("exchanged claims = %+v", c)
	}
	if c.Actor == nil || c.Actor.Subject != midID || c.Actor.Actor != nil {
		t.Errorf("act = %+v, want {sub: %s}", c.Actor, midID)
	}
	if got := testutil.ToFloat64(ts.metrics.TokensIssued.WithLabelValues("token_exchange", midID)); got != 1 {
		t.Errorf("erpgate_tokens_issued_total{grant_type=token_exchange} = %v, want 1", got)
	}

	// The jwt token type names the same token (RFC 8693 §3).
	res = ts.token(t, exchangeForm(subject, "subject_token_type", TokenTypeJWT, "audience", "", "resource", "DomainAPI"), midID, midSecret)
	if res.status != 200 || strings.Join(ts.accessClaims(t, res.body["access_token"].(string)).Audience, ",") != "DomainAPI" {
		t.Errorf("jwt subject type, resource: %d %v", res.status, res.body)
	}
}

// TestTokenExchangeNestsActors: exchanging an exchanged token puts the
// new actor outermost (RFC 8693 §4.1: "the outermost act claim
// represents the current actor"), and introspection reports act.
func TestTokenExchangeNestsActors(t *testing.T) {
	ts := newExchangeServer(t)
	first := ts.token(t, exchangeForm(ts.serviceToken(t)), midID, midSecret).body["access_token"].(string)
	res := ts.token(t, exchangeForm(first, "audience", "DomainAPI"), "com.example/middle-narrow", "mn")
	if res.status != 200 {
		t.Fatalf("second exchange: %d %v", res.status, res.body)
	}
	c := ts.accessClaims(t, res.body["access_token"].(string))
	if c.Actor == nil || c.Actor.Subject != "com.example/middle-narrow" || c.Actor.Actor == nil || c.Actor.Actor.Subject != midID {
		t.Fatalf("act = %+v, want middle-narrow acting after middle", c.Actor)
	}
	if c.ClientSystemUser != "svc-sync" || c.ClientID != syncID || strings.Join(c.Scope.Values, " ") != "read" {
		t.Errorf("claims = %+v", c)
	}

	intro := ts.introspect(t, res.body["access_token"].(string))
	act, _ := intro["act"].(map[string]any)
	if intro["active"] != true || act["sub"] != "com.example/middle-narrow" {
		t.Errorf("introspection = %v, want active with act", intro)
	}
}

// setDirectory changes the exchange test apps and users, as a reload or
// the admin API would.
func (ts *testServer) setDirectory(t *testing.T, app func(*directory.App), user func(*directory.User)) {
	t.Helper()
	apps, users := exchangeApps(), testUsers()
	for i := range apps {
		if app != nil {
			app(&apps[i])
		}
	}
	for i := range users {
		if user != nil {
			user(&users[i])
		}
	}
	ts.directory.SetConfig(apps, users)
	if err := ts.directory.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestTokenExchangeScopes: the scope of an exchanged token is at most the
// subject token's and the exchanging app's (RFC 8693 §2.1 scope; RFC 6749
// §3.3): narrowing works, anything wider is invalid_scope.
func TestTokenExchangeScopes(t *testing.T) {
	ts := newExchangeServer(t)
	svc := ts.serviceToken(t) // read update
	for _, tc := range []struct {
		name, app, secret, scope string
		want                     string // granted scope, or the error
	}{
		{"omitted: subject's and app's", midID, midSecret, "", "read update"},
		{"narrowed", midID, midSecret, "read", "read"},
		{"omitted, narrow app", "com.example/middle-narrow", "mn", "", "read"},
		{"wider than the app", "com.example/middle-narrow", "mn", "update", "invalid_scope"},
		{"not in the subject token", midID, midSecret, "read sec", "invalid_scope"},
		{"offline_access", midID, midSecret, "offline_access", "invalid_scope"},
		{"malformed", midID, midSecret, "read\"x", "invalid_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := ts.token(t, exchangeForm(svc, "scope", tc.scope), tc.app, tc.secret)
			if strings.HasPrefix(tc.want, "invalid_") {
				if res.status != 400 || res.body["error"] != tc.want {
					t.Fatalf("got %d %v, want %s", res.status, res.body, tc.want)
				}
				return
			}
			if res.status != 200 || res.body["scope"] != tc.want {
				t.Fatalf("got %d %v, want scope %q", res.status, res.body, tc.want)
			}
			if got := ts.accessClaims(t, res.body["access_token"].(string)).Scope.Values; strings.Join(got, " ") != tc.want {
				t.Errorf("scope claim %v, want %q", got, tc.want)
			}
		})
	}
}

// TestTokenExchangeRefusals: who may exchange, what, for what (RFC 8693
// §2.2.2 and §5's security considerations: a client exchanges only what
// it is allowed to, for targets the server knows, and a token that may
// no longer act is never traded for a fresh one).
func TestTokenExchangeRefusals(t *testing.T) {
	ts := newExchangeServer(t)
	svc := ts.serviceToken(t)
	for _, tc := range []struct {
		name, app, secret string
		form              url.Values
		status            int
		code              string
	}{
		{"app without token_exchange", "com.example/middle-off", "mo", exchangeForm(svc), 400, "unauthorized_client"},
		{"public client", "com.example/public-x", "", exchangeForm(svc), 400, "unauthorized_client"},
		{"wrong secret", midID, "nope", exchangeForm(svc), 401, "invalid_client"},
		{"unknown audience", midID, midSecret, exchangeForm(svc, "audience", "https://evil.example"), 400, "invalid_target"},
		{"unknown resource", midID, midSecret, exchangeForm(svc, "resource", "Other"), 400, "invalid_target"},
		{"no audience", midID, midSecret, exchangeForm(svc, "audience", ""), 400, "invalid_request"},
		{"no subject token", midID, midSecret, exchangeForm("", "subject_token", ""), 400, "invalid_request"},
		{"no subject token type", midID, midSecret, exchangeForm(svc, "subject_token_type", ""), 400, "invalid_request"},
		{"id token type", midID, midSecret, exchangeForm(svc, "subject_token_type", "urn:ietf:params:oauth:token-type:id_token"), 400, "invalid_request"},
		{"refresh token requested", midID, midSecret, exchangeForm(svc, "requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"), 400, "invalid_request"},
		{"actor token", midID, midSecret, exchangeForm(svc, "actor_token", svc, "actor_token_type", TokenTypeAccessToken), 400, "invalid_request"},
		{"not a token of ours", midID, midSecret, exchangeForm("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"), 400, "invalid_request"},
		{"tampered token", midID, midSecret, exchangeForm(svc[:len(svc)-4] + "AAAA"), 400, "invalid_request"},
		{"reference token", midID, midSecret, exchangeForm("enrt_abcdef"), 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var res tokenResult
			if tc.secret == "" {
				res = ts.exchange(t, tc.app, "", tc.form)
			} else {
				res = ts.token(t, tc.form, tc.app, tc.secret)
			}
			if res.status != tc.status || res.body["error"] != tc.code {
				t.Fatalf("got %d %v, want %d %s", res.status, res.body, tc.status, tc.code)
			}
			if _, ok := res.body["access_token"]; ok {
				t.Error("a refused exchange issued a token")
			}
		})
	}
	if got := testutil.ToFloat64(ts.metrics.TokenErrors.WithLabelValues("token_exchange", "invalid_target")); got != 2 {
		t.Errorf("erpgate_token_errors_total{grant_type=token_exchange,error=invalid_target} = %v, want 2", got)
	}
}

// TestTokenExchangeJudgesSubject: the subject token is judged by the
// credential authority as every door does. Each case breaks one rule and
// the exchange must refuse.
func TestTokenExchangeJudgesSubject(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		user    bool // alice's token rather than the sync service's
		breakIt func(t *testing.T, ts *testServer, tok string)
	}{
		{"revoked", false, func(t *testing.T, ts *testServer, tok string) {
			c := ts.accessClaims(t, tok)
			if err := ts.revoked.Revoke(ctx, c.ID, time.Unix(c.Expiry, 0)); err != nil {
				t.Fatal(err)
			}
		}},
		{"expired", false, func(t *testing.T, ts *testServer, tok string) { *ts.now = ts.now.Add(time.Hour + time.Minute) }},
		{"session ended", true, func(t *testing.T, ts *testServer, tok string) {
			if _, err := ts.sessions.End(ctx, ts.accessClaims(t, tok).SessionID, store.EndLogout); err != nil {
				t.Fatal(err)
			}
		}},
		{"subject's app kill-switched", false, func(t *testing.T, ts *testServer, tok string) {
			ts.setDirectory(t, func(a *directory.App) {
				if a.ID == syncID {
					a.Enabled = false
				}
			}, nil)
		}},
		{"user disabled", true, func(t *testing.T, ts *testServer, tok string) {
			ts.setDirectory(t, nil, func(u *directory.User) { u.Disabled = u.Login == "alice" })
		}},
		{"user removed", true, func(t *testing.T, ts *testServer, tok string) {
			ts.setDirectory(t, nil, func(u *directory.User) {
				if u.Login == "alice" {
					u.Login = "alice-gone"
				}
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newExchangeServer(t)
			var tok string
			if tc.user {
				tok = ts.aliceToken(t)
			} else {
				tok = ts.serviceToken(t)
			}
			if res := ts.token(t, exchangeForm(tok), midID, midSecret); res.status != 200 {
				t.Fatalf("before: %d %v", res.status, res.body) // the case must break something that worked
			}
			tc.breakIt(t, ts, tok)
			res := ts.token(t, exchangeForm(tok), midID, midSecret)
			if res.status != 400 || res.body["error"] != "invalid_request" {
				t.Fatalf("got %d %v, want invalid_request (RFC 8693 §2.2.2)", res.status, res.body)
			}
		})
	}
}

// TestTokenExchangeLifetime: an exchanged token never outlives its
// subject token (what ends the subject token must end what it was traded
// for), and never the configured access-token lifetime.
func TestTokenExchangeLifetime(t *testing.T) {
	ts := newExchangeServer(t)
	svc := ts.serviceToken(t)
	sc := ts.accessClaims(t, svc)
	*ts.now = ts.now.Add(50 * time.Minute) // 10 minutes left of the subject's hour
	res := ts.token(t, exchangeForm(svc), midID, midSecret)
	if res.status != 200 || res.body["expires_in"] != float64(600) {
		t.Fatalf("got %d %v, want expires_in 600", res.status, res.body)
	}
	if c := ts.accessClaims(t, res.body["access_token"].(string)); c.Expiry != sc.Expiry || c.IssuedAt != ts.now.Unix() {
		t.Errorf("exp %d iat %d, want exp %d (the subject's) iat now", c.Expiry, c.IssuedAt, sc.Expiry)
	}
}

// TestTokenExchangeOnlyForItsAudience: the exchanged token is refused at
// a route of another audience — asked of the credential authority exactly
// as the proxy asks it — and accepted at a route of its own.
func TestTokenExchangeOnlyForItsAudience(t *testing.T) {
	ts := newExchangeServer(t)
	svc := ts.serviceToken(t)
	tok := ts.token(t, exchangeForm(svc), midID, midSecret).body["access_token"].(string)
	door := func(aud string) *authority.Refusal {
		_, ref := ts.authority.Authenticate(context.Background(), authority.Credential{Source: authority.SourceBearer, Token: tok},
			authority.Door{Audiences: []string{aud}, OpenSession: true})
		return ref
	}
	if ref := door("DomainAPI"); ref == nil || ref.Reason != authority.ReasonWrongAudience {
		t.Errorf("at a DomainAPI route: %v, want %s", ref, authority.ReasonWrongAudience)
	}
	if ref := door("TableAPI"); ref != nil {
		t.Errorf("at a TableAPI route: %v, want allowed", ref)
	}
	// The subject token itself still works where it did.
	_, ref := ts.authority.Authenticate(context.Background(), authority.Credential{Source: authority.SourceBearer, Token: svc},
		authority.Door{Audiences: []string{"DomainAPI"}, OpenSession: true})
	if ref != nil {
		t.Errorf("subject token at DomainAPI: %v", ref)
	}
}

// TestTokenExchangeActorKillSwitch: disabling the exchanging app refuses
// the tokens it got by exchange at every door, as its own (authority,
// actor.go); the subject token is not affected.
func TestTokenExchangeActorKillSwitch(t *testing.T) {
	ts := newExchangeServer(t)
	svc := ts.serviceToken(t)
	tok := ts.token(t, exchangeForm(svc), midID, midSecret).body["access_token"].(string)
	judge := func(raw string) *authority.Refusal {
		_, ref := ts.authority.Authenticate(context.Background(), authority.Credential{Source: authority.SourceBearer, Token: raw},
			authority.Door{Audiences: []string{"TableAPI"}})
		return ref
	}
	if ref := judge(tok); ref != nil {
		t.Fatalf("before: %v", ref)
	}
	ts.setDirectory(t, func(a *directory.App) { a.Enabled = a.Enabled && a.ID != midID }, nil)
	if ref := judge(tok); ref == nil || ref.Reason != authority.ReasonAppDisabled {
		t.Errorf("actor disabled: %v, want %s", ref, authority.ReasonAppDisabled)
	}
	if ref := judge(svc); ref != nil {
		t.Errorf("the subject token: %v, want allowed", ref)
	}
	ts.setDirectory(t, func(a *directory.App) {
		if a.ID == midID {
			a.ID = "com.example/middle-renamed"
		}
	}, nil)
	if ref := judge(tok); ref == nil || ref.Reason != authority.ReasonAppUnknown {
		t.Errorf("actor gone: %v, want %s", ref, authority.ReasonAppUnknown)
	}
}

// TestTokenExchangeDPoP: a DPoP-bound subject token is exchanged only with
// a proof by its key (otherwise whoever copied it could trade it for an
// unbound one, RFC 9449 §7.1's concern); the new token is bound to that
// key too.
func TestTokenExchangeDPoP(t *testing.T) {
	ts := newExchangeServer(t)
	key, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
	res := ts.tokenWithProof(t, syncID, syncSecret, url.Values{"grant_type": {"client_credentials"}}, key.Proof("POST", ts.tokenURL(), "", *ts.now))
	if res.status != 200 || res.body["token_type"] != "DPoP" {
		t.Fatalf("bound token: %d %v", res.status, res.body)
	}
	bound := res.body["access_token"].(string)

	for _, tc := range []struct {
		name   string
		proofs []string
	}{
		{"without a proof", nil},
		{"with another key's proof", []string{other.Proof("POST", ts.tokenURL(), "", *ts.now)}},
	} {
		res := ts.tokenWithProof(t, midID, midSecret, exchangeForm(bound), tc.proofs...)
		if res.status != 400 || res.body["error"] != "invalid_request" {
			t.Errorf("%s: %d %v, want invalid_request", tc.name, res.status, res.body)
		}
	}
	res = ts.tokenWithProof(t, midID, midSecret, exchangeForm(bound), key.Proof("POST", ts.tokenURL(), "", *ts.now))
	if res.status != 200 || res.body["token_type"] != "DPoP" {
		t.Fatalf("with the key's proof: %d %v", res.status, res.body)
	}
	if c := ts.accessClaims(t, res.body["access_token"].(string)); c.BoundKey() != key.JKT() {
		t.Errorf("cnf.jkt = %q, want the key's %q", c.BoundKey(), key.JKT())
	}
}

// TestUpstreamToken: the gateway's own exchange for a route's upstream
// (proxy/exchange.go): the caller's subject and sid, aud the upstream's
// alone, the route's scopes, act naming the gateway (nesting an earlier
// actor), at most ttl and never past the caller's token.
func TestUpstreamToken(t *testing.T) {
	ts := newExchangeServer(t)
	srv := ts.Config.Handler.(*Server)
	caller := ts.accessClaims(t, ts.token(t, exchangeForm(ts.aliceToken(t)), midID, midSecret).body["access_token"].(string))

	tok, exp, err := srv.UpstreamToken(&caller, "erp-billing-internal", []string{"read"}, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c := ts.accessClaims(t, tok)
	if strings.Join(c.Audience, ",") != "erp-billing-internal" || strings.Join(c.Scope.Values, " ") != "read" ||
		c.Subject != "alice" || c.SessionID != caller.SessionID || c.ClientID != caller.ClientID || c.ID == caller.ID ||
		c.Expiry != ts.now.Add(5*time.Minute).Unix() || !exp.Equal(time.Unix(c.Expiry, 0)) || c.Confirmation != nil {
		t.Errorf("claims = %+v", c)
	}
	if c.Actor == nil || c.Actor.Subject != claims.GatewayActor || c.Actor.Actor == nil || c.Actor.Actor.Subject != midID {
		t.Errorf("act = %+v, want the gateway acting after %s", c.Actor, midID)
	}
	// Capped by the caller's token.
	*ts.now = time.Unix(caller.Expiry, 0).Add(-time.Minute)
	if _, exp, err := srv.UpstreamToken(&caller, "erp-billing-internal", []string{"read"}, 5*time.Minute); err != nil || exp.Unix() != caller.Expiry {
		t.Errorf("near the caller's expiry: exp %v err %v, want %v", exp, err, time.Unix(caller.Expiry, 0))
	}
	*ts.now = time.Unix(caller.Expiry, 0)
	if _, _, err := srv.UpstreamToken(&caller, "erp-billing-internal", []string{"read"}, 5*time.Minute); err == nil {
		t.Error("an expired caller got an upstream token")
	}
}

// TestTokenExchangeReservedActor: no app may exchange as the gateway's
// actor name, which the authority never checks against the directory.
func TestTokenExchangeReservedActor(t *testing.T) {
	ts := newTestServer(t, func(c *testConfig) {
		c.Apps = append(exchangeApps(), directory.App{ID: claims.GatewayActor, SecretHash: sha("g"), Scopes: []string{"read"},
			Enabled: true, TokenExchange: true})
	})
	res := ts.token(t, exchangeForm(ts.serviceToken(t)), claims.GatewayActor, "g")
	if res.status != 400 || res.body["error"] != "unauthorized_client" {
		t.Fatalf("got %d %v, want unauthorized_client", res.status, res.body)
	}
}

// BenchmarkUpstreamToken is what a miss of the proxy's exchange cache
// costs: one upstream token minted and signed (RS256 here).
//
//	go test ./issuer -run '^$' -bench UpstreamToken -benchmem
func BenchmarkUpstreamToken(b *testing.B) {
	ts := newTestServer(b, nil)
	srv := ts.Config.Handler.(*Server)
	caller := claims.Access{Issuer: ts.issuer, Audience: []string{"DomainAPI"}, Expiry: ts.now.Add(time.Hour).Unix(),
		ID: "jti-1", ClientID: syncID, SessionID: "sid-1", ClientSystemUser: "svc-sync", Scope: claims.Scopes{Values: []string{"read"}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := srv.UpstreamToken(&caller, "erp-billing-internal", []string{"read"}, 5*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTokenExchangeRevocationCascades: revoking a token revokes what was
// exchanged from it, at every door, however many exchanges away
// (exchanged_from); the subject token names the exchanged one nowhere, so
// revoking the exchanged token leaves the subject alone.
func TestTokenExchangeRevocationCascades(t *testing.T) {
	ctx := context.Background()
	ts := newExchangeServer(t)
	svc := ts.serviceToken(t)
	first := ts.token(t, exchangeForm(svc), midID, midSecret).body["access_token"].(string)
	second := ts.token(t, exchangeForm(first), "com.example/middle-narrow", "mn").body["access_token"].(string)
	edge, _, err := ts.Config.Handler.(*Server).UpstreamToken(ptr(ts.accessClaims(t, second)), "erp-billing-internal", []string{"read"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	sc := ts.accessClaims(t, svc)
	if got := ts.accessClaims(t, edge).ExchangedFrom; len(got) != 3 || got[2] != sc.ID {
		t.Fatalf("exchanged_from = %v, want three, ending with the subject's %s", got, sc.ID)
	}
	active := func(tok string) bool {
		_, ref := ts.authority.Authenticate(ctx, authority.Credential{Source: authority.SourceBearer, Token: tok}, authority.Door{Inspect: true})
		return ref == nil
	}
	for name, tok := range map[string]string{"subject": svc, "first": first, "second": second, "edge": edge} {
		if !active(tok) {
			t.Fatalf("%s refused before any revocation", name)
		}
	}
	fc := ts.accessClaims(t, first)
	if err := ts.revoked.Revoke(ctx, fc.ID, time.Unix(fc.Expiry, 0)); err != nil {
		t.Fatal(err)
	}
	if !active(svc) {
		t.Error("revoking the exchanged token revoked its subject")
	}
	for name, tok := range map[string]string{"first": first, "second": second, "edge": edge} {
		if active(tok) {
			t.Errorf("%s still active after the first exchange was revoked", name)
		}
	}
	if intro := ts.introspect(t, edge); intro["active"] != false {
		t.Errorf("introspection of the edge token = %v, want inactive", intro)
	}
}

func ptr[T any](v T) *T { return &v }
