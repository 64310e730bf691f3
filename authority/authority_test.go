package authority_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/internal/testauth"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
)

// Doors as the gateway has them: the proxy opens the session; the admin
// API, userinfo and introspection only check it.
var (
	proxyDoor  = authority.Door{Audiences: []string{"DomainAPI"}, OpenSession: true}
	portalDoor = authority.Door{Audiences: []string{"DomainAPI"}, OpenSession: true, AllowCommunity: true}
	checkDoor  = authority.Door{Audiences: testauth.Audiences}
)

const (
	web  = testauth.WebApp
	sync = testauth.SyncApp
)

func bearer(tok string) authority.Credential {
	return authority.Credential{Source: authority.SourceBearer, Token: tok}
}

func apiKey(tok string) authority.Credential {
	return authority.Credential{Source: authority.SourceAPIKey, Token: tok}
}

// use makes one proxied call with cred (opening its session) and fails
// the test if it is refused.
func use(t *testing.T, a *testauth.Auth, cred authority.Credential) *authority.Caller {
	t.Helper()
	c, ref := a.Authority.Authenticate(context.Background(), cred, proxyDoor)
	if ref != nil {
		t.Fatalf("call before the change refused: %v", ref)
	}
	return c
}

// noSession fails unless the store has no session sid.
func noSession(t *testing.T, a *testauth.Auth, sid string) {
	t.Helper()
	if s, err := a.Store.Session(context.Background(), sid); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session %s = %+v, %v; want none opened", sid, s, err)
	}
}

// sessionOf is the reference-token session id of a PAT or SAT.
func sessionOf(id string) string { return store.ReferenceSessionPrefix + id }

// failingSessions is a session store that does not answer.
type failingSessions struct{ *memory.Store }

func (failingSessions) OpenSession(context.Context, store.Session, store.License) (store.Session, error) {
	return store.Session{}, errors.New("store: connection refused")
}

// TestAuthenticate: one row per rule of SPEC §4 "One rule at every door"
// and §5; each row changes one thing and expects one answer.
func TestAuthenticate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*testauth.Config)
		// given mints the credential and changes the state.
		given func(t *testing.T, a *testauth.Auth) authority.Credential
		door  authority.Door
		want  string // the refusal's reason; "" accepted
		check func(t *testing.T, a *testauth.Auth, c *authority.Caller)
	}{
		// The token itself.
		{name: "valid user JWT", door: proxyDoor,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				return bearer(a.UserToken("alice", web, "sid-a"))
			},
			check: func(t *testing.T, a *testauth.Auth, c *authority.Caller) {
				if c.User.Login != "alice" || c.App.ID != web || c.Reference != nil || c.Claims.Subject != "alice" {
					t.Errorf("caller = user %q app %q reference %v", c.User.Login, c.App.ID, c.Reference)
				}
				if c.Session.ID != "sid-a" || c.Session.Kind != store.SessionUser || c.Session.NoSlot {
					t.Errorf("session = %+v, want sid-a opened", c.Session)
				}
			}},
		{name: "valid service JWT", door: proxyDoor,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				return bearer(a.ServiceToken(sync, "sid-s", "read"))
			},
			check: func(t *testing.T, a *testauth.Auth, c *authority.Caller) {
				if c.User.Login != "svc-sync" || c.App.ID != sync || c.Session.Kind != store.SessionService {
					t.Errorf("caller = user %q app %q session %+v", c.User.Login, c.App.ID, c.Session)
				}
			}},
		{name: "valid JWT at a door that opens no session", door: checkDoor,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				return bearer(a.UserToken("alice", web, "sid-a"))
			},
			check: func(t *testing.T, a *testauth.Auth, c *authority.Caller) {
				if c.Session.ID != "" {
					t.Errorf("session = %+v, want none", c.Session)
				}
				noSession(t, a, "sid-a")
			}},
		{name: "bad signature", door: proxyDoor, want: authority.ReasonInvalidToken,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				one := strings.Split(a.UserToken("alice", web, "sid-a"), ".")
				other := strings.Split(a.UserToken("alice", web, "sid-b"), ".")
				return bearer(one[0] + "." + one[1] + "." + other[2])
			}},
		{name: "signed by another instance", door: proxyDoor, want: authority.ReasonInvalidToken,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				return bearer(testauth.New(t, testauth.Config{}).UserToken("alice", web, "sid-a"))
			}},
		{name: "expired", door: proxyDoor, want: authority.ReasonInvalidToken,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				c := a.UserClaims("alice", web, "sid-a")
				c.Expiry = a.Now().Add(-testauth.Leeway - time.Second).Unix()
				return bearer(a.Sign(c))
			}},
		{name: "expired within the leeway", door: proxyDoor,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				c := a.UserClaims("alice", web, "sid-a")
				c.Expiry = a.Now().Add(-testauth.Leeway / 2).Unix()
				return bearer(a.Sign(c))
			}},
		{name: "expired after its first use (cached verification)", door: proxyDoor, want: authority.ReasonInvalidToken,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.UserToken("alice", web, "sid-a"))
				use(t, a, cred)
				a.Clock.Advance(testauth.TokenTTL + testauth.Leeway + time.Second)
				return cred
			}},
		{name: "wrong typ (an ID token)", door: proxyDoor, want: authority.ReasonInvalidToken,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				return bearer(a.SignAs(signing.TypeIDToken, a.UserClaims("alice", web, "sid-a")))
			}},
		{name: "other issuer", door: proxyDoor, want: authority.ReasonInvalidToken,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				c := a.UserClaims("alice", web, "sid-a")
				c.Issuer = "http://evil.test/id"
				return bearer(a.Sign(c))
			}},
		{name: "no sid", door: proxyDoor, want: authority.ReasonInvalidToken,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				return bearer(a.ServiceToken(sync, "", "read"))
			}},
		{name: "API key header with a JWT", door: proxyDoor, want: authority.ReasonInvalidToken,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				return apiKey(a.UserToken("alice", web, "sid-a"))
			}},
		{name: "unknown reference token", door: proxyDoor, want: authority.ReasonInvalidToken,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				return apiKey(reftoken.Prefix + strings.Repeat("A", 43))
			}},
		{name: "no credential", door: proxyDoor, want: authority.ReasonMissing,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential { return authority.Credential{} }},
		{name: "wrong audience", door: proxyDoor, want: authority.ReasonWrongAudience,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				c := a.UserClaims("alice", web, "sid-a")
				c.Audience = []string{"TableAPI"}
				return bearer(a.Sign(c))
			},
			check: func(t *testing.T, a *testauth.Auth, _ *authority.Caller) { noSession(t, a, "sid-a") }},

		// Revocation and sessions.
		{name: "revoked jti", door: proxyDoor, want: authority.ReasonRevoked,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				a.Revoke("jti-sid-a")
				return bearer(a.UserToken("alice", web, "sid-a"))
			}},
		{name: "revoked after its first use (cached verification)", door: proxyDoor, want: authority.ReasonRevoked,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.UserToken("alice", web, "sid-a"))
				use(t, a, cred)
				a.Revoke("jti-sid-a")
				return cred
			}},
		{name: "revoked, at a door that opens no session", door: checkDoor, want: authority.ReasonRevoked,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				a.Revoke("jti-sid-a")
				return bearer(a.UserToken("alice", web, "sid-a"))
			}},
		{name: "revoked reference token", door: proxyDoor, want: authority.ReasonInvalidToken,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				pat := a.PAT(web, "alice")
				use(t, a, apiKey(pat.Value))
				if _, err := a.ReferenceTokens.Revoke(context.Background(), pat.Token.ID, ""); err != nil {
					t.Fatal(err)
				}
				return apiKey(pat.Value)
			}},
		{name: "session ended by logout before any call", door: proxyDoor, want: authority.ReasonSessionEnded,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.UserToken("alice", web, "sid-a"))
				a.EndSession("sid-a", store.EndLogout)
				return cred
			}},
		{name: "session ended by logout", door: proxyDoor, want: authority.ReasonSessionEnded,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.UserToken("alice", web, "sid-a"))
				use(t, a, cred)
				a.EndSession("sid-a", store.EndLogout)
				return cred
			}},
		{name: "session ended by logout, at a door that opens no session", door: checkDoor, want: authority.ReasonSessionEnded,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.UserToken("alice", web, "sid-a"))
				a.EndSession("sid-a", store.EndLogout)
				return cred
			}},
		{name: "session ended by an administrator", door: proxyDoor, want: authority.ReasonSessionEnded,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.UserToken("alice", web, "sid-a"))
				use(t, a, cred)
				a.EndSession("sid-a", store.EndAdmin)
				return cred
			}},
		{name: "session ended by an administrator, at a door that opens no session", door: checkDoor, want: authority.ReasonSessionEnded,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.UserToken("alice", web, "sid-a"))
				use(t, a, cred)
				a.EndSession("sid-a", store.EndAdmin)
				return cred
			}},
		{name: "session ended by idleness reopens", door: proxyDoor,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.UserToken("alice", web, "sid-a"))
				use(t, a, cred)
				a.Clock.Advance(testauth.IdleTimeout + time.Minute)
				if err := a.Sessions.Reap(context.Background()); err != nil {
					t.Fatal(err)
				}
				return cred
			},
			check: func(t *testing.T, a *testauth.Auth, c *authority.Caller) {
				if !c.Session.OpenedAt.Equal(a.Now()) {
					t.Errorf("session = %+v, want reopened now", c.Session)
				}
			}},
		{name: "reference token's session ended by an administrator reopens", door: proxyDoor,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				pat := a.PAT(web, "alice")
				use(t, a, apiKey(pat.Value))
				a.Clock.Advance(time.Minute)
				a.EndSession(sessionOf(pat.Token.ID), store.EndAdmin)
				return apiKey(pat.Value)
			},
			check: func(t *testing.T, a *testauth.Auth, c *authority.Caller) {
				if c.Session.ID != sessionOf(c.Reference.ID) || !c.Session.OpenedAt.Equal(a.Now()) {
					t.Errorf("session = %+v, want a new one opened now", c.Session)
				}
			}},
		{name: "reference token's session ended by an administrator, at a door that opens no session", door: checkDoor,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				sat := a.SAT(sync)
				use(t, a, apiKey(sat.Value))
				a.EndSession(sessionOf(sat.Token.ID), store.EndAdmin)
				return apiKey(sat.Value)
			}},
		{name: "license exhausted", cfg: func(c *testauth.Config) { c.Slots = 1 }, door: proxyDoor,
			want: authority.ReasonLicenseExhausted,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				use(t, a, bearer(a.UserToken("bob", web, "sid-b")))
				return bearer(a.UserToken("alice", web, "sid-a"))
			}},
		{name: "session store down", door: proxyDoor, want: authority.ReasonUnavailable,
			cfg: func(c *testauth.Config) {
				st := memory.New()
				c.Store, c.SessionStore = st, failingSessions{st}
			},
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				return bearer(a.UserToken("alice", web, "sid-a"))
			}},

		// The app and the user, as they are now.
		{name: "app unknown", door: proxyDoor, want: authority.ReasonAppUnknown,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.UserToken("alice", web, "sid-a"))
				a.RemoveApp(web)
				return cred
			}},
		{name: "app disabled", door: proxyDoor, want: authority.ReasonAppDisabled,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.ServiceToken(sync, "sid-s", "read"))
				use(t, a, cred)
				a.EditApp(sync, func(app *directory.App) { app.Enabled = false })
				return cred
			}},
		{name: "app disabled, at a door that opens no session", door: checkDoor, want: authority.ReasonAppDisabled,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.UserToken("alice", web, "sid-a"))
				a.EditApp(web, func(app *directory.App) { app.Enabled = false })
				return cred
			}},
		{name: "app disabled, reference token", door: proxyDoor, want: authority.ReasonAppDisabled,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				pat := a.PAT(web, "alice")
				use(t, a, apiKey(pat.Value))
				a.EditApp(web, func(app *directory.App) { app.Enabled = false })
				return apiKey(pat.Value)
			}},
		{name: "app enabled again: reference token accepted", door: proxyDoor,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				pat := a.PAT(web, "alice")
				use(t, a, apiKey(pat.Value))
				a.EditApp(web, func(app *directory.App) { app.Enabled = false })
				a.EndSession(sessionOf(pat.Token.ID), store.EndAppDisabled) // as the gateway's enforce does
				if _, ref := a.Authority.Authenticate(context.Background(), apiKey(pat.Value), proxyDoor); ref == nil || ref.Reason != authority.ReasonAppDisabled {
					t.Fatalf("while disabled: %v, want app_disabled", ref)
				}
				a.Clock.Advance(time.Minute)
				a.EditApp(web, func(app *directory.App) { app.Enabled = true })
				return apiKey(pat.Value)
			},
			check: func(t *testing.T, a *testauth.Auth, c *authority.Caller) {
				if !c.Session.OpenedAt.Equal(a.Now()) {
					t.Errorf("session = %+v, want a new one opened now", c.Session)
				}
			}},
		{name: "app enabled again: an ended JWT session stays ended", door: proxyDoor, want: authority.ReasonSessionEnded,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.UserToken("alice", web, "sid-a"))
				use(t, a, cred)
				a.EditApp(web, func(app *directory.App) { app.Enabled = false })
				a.EndSession("sid-a", store.EndAppDisabled) // as the gateway's enforce does
				a.EditApp(web, func(app *directory.App) { app.Enabled = true })
				return cred
			}},
		{name: "user removed", door: proxyDoor, want: authority.ReasonUserUnknown,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.UserToken("alice", web, "sid-a"))
				use(t, a, cred)
				a.RemoveUser("alice")
				return cred
			}},
		{name: "user disabled", door: proxyDoor, want: authority.ReasonUserUnknown,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.UserToken("alice", web, "sid-a"))
				use(t, a, cred)
				a.EditUser("alice", func(u *directory.User) { u.Disabled = true })
				return cred
			}},
		{name: "user disabled, at a door that opens no session", door: checkDoor, want: authority.ReasonUserUnknown,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.UserToken("alice", web, "sid-a"))
				a.EditUser("alice", func(u *directory.User) { u.Disabled = true })
				return cred
			}},
		{name: "user removed, reference token", door: proxyDoor, want: authority.ReasonUserUnknown,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				pat := a.PAT(web, "alice")
				a.RemoveUser("alice")
				return apiKey(pat.Value)
			}},
		{name: "system user removed", door: proxyDoor, want: authority.ReasonUserUnknown,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.ServiceToken(sync, "sid-s", "read"))
				a.RemoveUser("svc-sync")
				return cred
			}},
		{name: "app no longer allows the user's type", door: proxyDoor, want: authority.ReasonUserNotAllowed,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.UserToken("alice", web, "sid-a"))
				use(t, a, cred)
				a.EditApp(web, func(app *directory.App) { app.AllowInternalUsers = false })
				return cred
			}},
		{name: "user's type changed to one the app does not allow", door: portalDoor, want: authority.ReasonUserNotAllowed,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.UserToken("alice", web, "sid-a"))
				a.EditApp(web, func(app *directory.App) { app.AllowCommunityUsers = false })
				a.EditUser("alice", func(u *directory.User) { u.Type = directory.TypeCommunity })
				return cred
			}},
		{name: "app no longer allows the PAT's user type", door: proxyDoor, want: authority.ReasonUserNotAllowed,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				pat := a.PAT(web, "alice")
				a.EditApp(web, func(app *directory.App) { app.AllowInternalUsers = false })
				return apiKey(pat.Value)
			}},
		{name: "service token whose app's system_user changed", door: proxyDoor, want: authority.ReasonUserNotAllowed,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.ServiceToken(sync, "sid-s", "read"))
				use(t, a, cred)
				a.EditApp(sync, func(app *directory.App) { app.SystemUser = "svc-other" })
				return cred
			}},
		{name: "SAT whose app's system_user changed", door: proxyDoor, want: authority.ReasonUserNotAllowed,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				sat := a.SAT(sync)
				a.EditApp(sync, func(app *directory.App) { app.SystemUser = "svc-other" })
				return apiKey(sat.Value)
			}},
		{name: "reference token after reference_tokens became none", door: proxyDoor, want: authority.ReasonReferenceOff,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				pat := a.PAT(web, "alice")
				use(t, a, apiKey(pat.Value))
				a.EditApp(web, func(app *directory.App) { app.ReferenceTokens = directory.ReferenceTokensNone })
				return apiKey(pat.Value)
			}},
		{name: "JWT after reference_tokens became none", door: proxyDoor,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				a.EditApp(web, func(app *directory.App) { app.ReferenceTokens = directory.ReferenceTokensNone })
				return bearer(a.UserToken("alice", web, "sid-a"))
			}},

		// Community users (ERP.net: no API access unless the route allows it).
		{name: "community user at a door without AllowCommunity", door: proxyDoor, want: authority.ReasonCommunityUser,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				return bearer(a.UserToken("carol", web, "sid-c", "read"))
			},
			check: func(t *testing.T, a *testauth.Auth, _ *authority.Caller) { noSession(t, a, "sid-c") }},
		{name: "community PAT at a door without AllowCommunity", door: proxyDoor, want: authority.ReasonCommunityUser,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				return apiKey(a.PAT(web, "carol", "read").Value)
			}},
		{name: "community user with AllowCommunity", door: portalDoor,
			cfg: func(c *testauth.Config) { c.Slots = 1 },
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				return bearer(a.UserToken("carol", web, "sid-c", "read"))
			},
			check: func(t *testing.T, a *testauth.Auth, c *authority.Caller) {
				if c.User.Login != "carol" || !c.Session.NoSlot {
					t.Errorf("caller %q session %+v, want carol without a slot", c.User.Login, c.Session)
				}
				noSession(t, a, "sid-c")
				use(t, a, bearer(a.UserToken("alice", web, "sid-a"))) // the only slot is still free
			}},

		{name: "community user turned internal takes a slot with a token issued before", door: portalDoor,
			cfg: func(c *testauth.Config) { c.Slots = 1 },
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				tok := a.UserToken("carol", web, "sid-c", "read") // user_type ExternalCommunityUser
				a.EditUser("carol", func(u *directory.User) { u.Type = directory.TypeInternal })
				return bearer(tok)
			},
			check: func(t *testing.T, a *testauth.Auth, c *authority.Caller) {
				if c.Session.NoSlot || c.Session.ID != "sid-c" {
					t.Errorf("session %+v: an internal user must hold a slot, whatever the token says", c.Session)
				}
			}},

		// Scopes: the token's that the app still has.
		{name: "app loses update: the caller's claims no longer carry it", door: proxyDoor,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				cred := bearer(a.UserToken("alice", web, "sid-a", "openid", "profile", "offline_access", "read", "update"))
				if c := use(t, a, cred); !slices.Contains(c.Claims.Scope.Values, "update") {
					t.Fatalf("scopes before the change = %v", c.Claims.Scope.Values)
				}
				a.EditApp(web, func(app *directory.App) { app.Scopes = []string{"read", "sec"} })
				return cred
			},
			check: func(t *testing.T, a *testauth.Auth, c *authority.Caller) {
				want := []string{"openid", "profile", "offline_access", "read"}
				if !slices.Equal(c.Claims.Scope.Values, want) || c.Claims.ScopeString() != strings.Join(want, " ") {
					t.Errorf("scopes = %v %q, want %v", c.Claims.Scope.Values, c.Claims.ScopeString(), want)
				}
				// The verified token's shared claims were not changed:
				// given update back, the token has it again.
				a.EditApp(web, func(app *directory.App) { app.Scopes = []string{"read", "update", "sec"} })
				again := use(t, a, bearer(a.Sign(tokenClaims(t, a, c))))
				if !slices.Contains(again.Claims.Scope.Values, "update") {
					t.Errorf("scopes after update came back = %v", again.Claims.Scope.Values)
				}
			}},
		{name: "app loses update: reference token", door: proxyDoor,
			given: func(t *testing.T, a *testauth.Auth) authority.Credential {
				pat := a.PAT(web, "alice", "read", "update")
				a.EditApp(web, func(app *directory.App) { app.Scopes = []string{"read"} })
				return apiKey(pat.Value)
			},
			check: func(t *testing.T, a *testauth.Auth, c *authority.Caller) {
				if !slices.Equal(c.Claims.Scope.Values, []string{"read"}) {
					t.Errorf("scopes = %v, want [read]", c.Claims.Scope.Values)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg testauth.Config
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			a := testauth.New(t, cfg)
			cred := tc.given(t, a)
			c, ref := a.Authority.Authenticate(context.Background(), cred, tc.door)
			switch {
			case tc.want == "" && ref != nil:
				t.Fatalf("refused: %v; want accepted", ref)
			case tc.want != "" && ref == nil:
				t.Fatalf("accepted as %q; want refused %s", c.Claims.Principal(), tc.want)
			case tc.want != "" && ref.Reason != tc.want:
				t.Fatalf("refused %v; want %s", ref, tc.want)
			case ref == nil && (c.Claims == nil || c.App == nil || c.User == nil):
				t.Fatalf("accepted caller is incomplete: %+v", c)
			}
			if tc.check != nil {
				tc.check(t, a, c)
			}
		})
	}
}

// tokenClaims are the claims of the user token the caller c came with,
// as issued (the same jti and sid).
func tokenClaims(t *testing.T, a *testauth.Auth, c *authority.Caller) claims.Access {
	t.Helper()
	tc := a.UserClaims(c.Claims.Subject, c.Claims.ClientID, c.Claims.SessionID, "openid", "profile", "offline_access", "read", "update")
	tc.IssuedAt, tc.NotBefore, tc.Expiry = c.Claims.IssuedAt, c.Claims.NotBefore, c.Claims.Expiry
	return tc
}

// TestRefusalStatus: each reason's HTTP status (refusal.go).
func TestRefusalStatus(t *testing.T) {
	for reason, want := range map[string]int{
		authority.ReasonMissing: 401, authority.ReasonInvalidRequest: 400, authority.ReasonInvalidToken: 401,
		authority.ReasonWrongAudience: 401, authority.ReasonRevoked: 401, authority.ReasonSessionEnded: 401,
		authority.ReasonAppUnknown: 401, authority.ReasonAppDisabled: 401, authority.ReasonUserUnknown: 401,
		authority.ReasonUserNotAllowed: 401, authority.ReasonReferenceOff: 401, authority.ReasonCommunityUser: 403,
		authority.ReasonLicenseExhausted: 403, authority.ReasonUnavailable: 503,
	} {
		ref := &authority.Refusal{Reason: reason}
		if got := ref.Status(); got != want {
			t.Errorf("%s: Status() = %d, want %d", reason, got, want)
		}
		if got, wantRefused := ref.TokenRefused(), want == 401 && reason != authority.ReasonMissing; got != wantRefused {
			t.Errorf("%s: TokenRefused() = %v, want %v", reason, got, wantRefused)
		}
	}
}

// TestReplicas: a change made through one process's services holds in
// another sharing the store once its sync loops ran (each runs every
// second in the gateway: SPEC §4 "within one second").
func TestReplicas(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	a := testauth.New(t, testauth.Config{Store: st})
	b := testauth.New(t, testauth.Config{Store: st})
	// An app created at run time (admin API), known to both.
	created := a.Now()
	svc := directory.App{ID: "com.example/stored", SystemUser: "svc-other", Scopes: []string{"read"}, Enabled: true,
		SecretHash: []byte("x"), CreatedAt: created, UpdatedAt: created}
	if err := st.CreateApp(ctx, svc); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*testauth.Auth{a, b} {
		if err := r.Directory.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tokens := map[string]authority.Credential{
		"revoked":        bearer(a.UserToken("alice", web, "sid-a")),
		"session ended":  bearer(a.UserToken("bob", web, "sid-b")),
		"stored app off": bearer(a.ServiceToken(svc.ID, "sid-x", "read")),
	}
	for name, cred := range tokens {
		if _, ref := b.Authority.Authenticate(ctx, cred, proxyDoor); ref != nil {
			t.Fatalf("%s: refused before the change: %v", name, ref)
		}
	}

	a.Clock.Advance(time.Second)
	b.Clock.Advance(time.Second)
	a.Revoke("jti-sid-a")
	a.EndSession("sid-b", store.EndAdmin)
	svc.Enabled, svc.UpdatedAt = false, a.Now()
	if err := st.UpdateApp(ctx, svc); err != nil {
		t.Fatal(err)
	}
	// What b's loops do each second.
	if err := b.Revocations.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Sessions.SyncEnded(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Directory.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"revoked": authority.ReasonRevoked, "session ended": authority.ReasonSessionEnded,
		"stored app off": authority.ReasonAppDisabled,
	} {
		if _, ref := b.Authority.Authenticate(ctx, tokens[name], proxyDoor); ref == nil || ref.Reason != want {
			t.Errorf("%s: at the other replica %v, want %s", name, ref, want)
		}
	}
}

// TestReferenceTokenUses: every reference token presented at a door that
// records uses is counted by outcome (erpgate_reference_token_uses_total);
// introspection and JWTs are not.
func TestReferenceTokenUses(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry(), metrics.Build{})
	a := testauth.New(t, testauth.Config{Metrics: m})
	ctx := context.Background()
	pat := a.PAT(web, "alice")
	for _, c := range []struct {
		cred authority.Credential
		door authority.Door
	}{
		{apiKey(pat.Value), proxyDoor},
		{bearer(pat.Value), checkDoor},
		{apiKey(pat.Value), authority.Door{Audiences: testauth.Audiences, Inspect: true}}, // not a use
		{apiKey(reftoken.Prefix + strings.Repeat("A", 64)), proxyDoor},
		{bearer(a.UserToken("alice", web, "sid-a")), proxyDoor}, // a JWT
	} {
		a.Authority.Authenticate(ctx, c.cred, c.door)
	}
	if _, err := a.ReferenceTokens.Revoke(ctx, pat.Token.ID, ""); err != nil {
		t.Fatal(err)
	}
	a.Authority.Authenticate(ctx, apiKey(pat.Value), proxyDoor)

	want := "# HELP erpgate_reference_token_uses_total Reference tokens presented, by outcome (allowed or the refusal reason).\n" +
		"# TYPE erpgate_reference_token_uses_total counter\n" +
		"erpgate_reference_token_uses_total{outcome=\"allowed\"} 2\n" +
		"erpgate_reference_token_uses_total{outcome=\"invalid_token\"} 2\n"
	if err := testutil.CollectAndCompare(m.ReferenceTokenUses, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
