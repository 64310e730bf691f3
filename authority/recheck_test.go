package authority_test

import (
	"context"
	"testing"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/internal/testauth"
	"github.com/erpgate/erpgate/store"
)

// Recheck refuses a caller let through before once its token is revoked,
// its app disabled, its user removed or disabled, or its session ended
// for good; it opens no session and slides none.
func TestRecheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(a *testauth.Auth)
		want   string // refusal reason; "" for none
	}{
		{"unchanged", func(*testauth.Auth) {}, ""},
		{"token revoked", func(a *testauth.Auth) { a.Revoke("jti-alice") }, authority.ReasonRevoked},
		{"app disabled", func(a *testauth.Auth) { a.EditApp(web, func(x *directory.App) { x.Enabled = false }) }, authority.ReasonAppDisabled},
		{"user disabled", func(a *testauth.Auth) { a.EditUser("alice", func(u *directory.User) { u.Disabled = true }) }, authority.ReasonUserUnknown},
		{"logout", func(a *testauth.Auth) { a.EndSession("sid-a", store.EndLogout) }, authority.ReasonSessionEnded},
		{"administrator", func(a *testauth.Auth) { a.EndSession("sid-a", store.EndAdmin) }, authority.ReasonSessionEnded},
		// An idle end is not for good: the token's next call opens a new
		// session. (Live connections hear of it as an end: package live.)
		{"idle end", func(a *testauth.Auth) { a.EndSession("sid-a", store.EndIdle) }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := testauth.New(t, testauth.Config{})
			c := a.UserClaims("alice", web, "sid-a", "read")
			c.ID = "jti-alice"
			caller := use(t, a, bearer(a.Sign(c)))
			tc.change(a)
			ref := a.Authority.Recheck(context.Background(), caller)
			switch {
			case tc.want == "" && ref != nil:
				t.Fatalf("refused: %v", ref)
			case tc.want != "" && (ref == nil || ref.Reason != tc.want):
				t.Fatalf("got %v, want reason %s", ref, tc.want)
			}
		})
	}
}

// A reference token's caller is refused once the token is revoked, on the
// revocation list alone (no store read), and once its app allows no
// reference tokens.
func TestRecheckReferenceToken(t *testing.T) {
	a := testauth.New(t, testauth.Config{})
	pat := a.PAT(web, "alice", "read")
	caller := use(t, a, apiKey(pat.Value))
	if ref := a.Authority.Recheck(context.Background(), caller); ref != nil {
		t.Fatalf("live PAT refused: %v", ref)
	}
	a.EditApp(web, func(x *directory.App) { x.ReferenceTokens = directory.ReferenceTokensNone })
	if ref := a.Authority.Recheck(context.Background(), caller); ref == nil || ref.Reason != authority.ReasonReferenceOff {
		t.Fatalf("PAT of an app without reference tokens: %v", ref)
	}
	b := testauth.New(t, testauth.Config{})
	pat = b.PAT(web, "alice", "read")
	caller = use(t, b, apiKey(pat.Value))
	if _, err := b.ReferenceTokens.Revoke(context.Background(), pat.Token.ID, ""); err != nil {
		t.Fatal(err)
	}
	if ref := b.Authority.Recheck(context.Background(), caller); ref == nil || ref.Reason != authority.ReasonRevoked {
		t.Fatalf("revoked PAT: %v", ref)
	}
}
