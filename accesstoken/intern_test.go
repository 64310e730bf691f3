package accesstoken

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"unsafe"

	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/signing"
)

// Two tokens of one app share the values they repeat but keep their own
// jti and sid, and read back exactly as signed.
func TestVerifySharesRepeatedClaims(t *testing.T) {
	v, keys, _ := setup(t, 10)
	ctx := context.Background()
	edit := func(id string) func(*claims.Access) {
		return func(c *claims.Access) {
			c.ID, c.SessionID = "jti-"+id, "sid-"+id
			c.Audience = []string{"DomainAPI", "Other"}
			c.Scope.Values = []string{"read", "update"}
			c.ClientSystemUser, c.ClientSystemUserType = "svc", "system"
		}
	}
	a, err := v.Verify(ctx, token(t, keys, signing.TypeAccessToken, edit("a")))
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.Verify(ctx, token(t, keys, signing.TypeAccessToken, edit("b")))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "jti-a" || b.ID != "jti-b" || a.SessionID != "sid-a" || b.SessionID != "sid-b" {
		t.Errorf("jti/sid = %q %q / %q %q", a.ID, a.SessionID, b.ID, b.SessionID)
	}
	if !slices.Equal(b.Audience, []string{"DomainAPI", "Other"}) || !slices.Equal(b.Scope.Values, []string{"read", "update"}) ||
		b.ScopeString() != "read update" || b.Issuer != issuer || b.ClientID != "c" || b.ClientSystemUser != "svc" {
		t.Errorf("claims = %+v", b)
	}
	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }
	if &a.Audience[0] != &b.Audience[0] || &a.Scope.Values[0] != &b.Scope.Values[0] ||
		!same(a.Issuer, b.Issuer) || !same(a.ClientID, b.ClientID) ||
		!same(a.ClientSystemUser, b.ClientSystemUser) || !same(a.ClientSystemUserType, b.ClientSystemUserType) {
		t.Error("repeated values are not shared between the two tokens' claims")
	}
	if cap(a.Audience) != len(a.Audience) {
		t.Error("a shared list has spare capacity: an append would write into it")
	}
}

func TestInternerLists(t *testing.T) {
	in := newInterner()
	first := in.list([]string{"a\x00b"})
	// Joined with NUL, both lists have the same key; only an equal list
	// may be shared.
	if got := in.list([]string{"a", "b"}); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("list(a, b) = %q", got)
	}
	if got := in.list([]string{"a\x00b"}); &got[0] != &first[0] {
		t.Error("an equal list was not shared")
	}
	if got := in.list(nil); got != nil {
		t.Errorf("list(nil) = %q", got)
	}
}

func TestInternerIsBounded(t *testing.T) {
	in := newInterner()
	for i := range 2 * internLimit {
		s := "v" + strconv.Itoa(i)
		if got := in.str(s); got != s {
			t.Fatalf("str(%q) = %q", s, got)
		}
	}
	if n := len(in.strs) + len(in.lists); n != internLimit {
		t.Errorf("%d values kept, want the bound %d", n, internLimit)
	}
}
