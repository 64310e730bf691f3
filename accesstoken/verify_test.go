package accesstoken

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/store/memory"
)

const issuer = "http://gateway.test/id"

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func setup(t testing.TB, cache int) (*Verifier, *signing.Keyring, *time.Time) {
	clock := now
	keys, err := signing.Open(context.Background(), signing.Config{
		Algorithm: "RS256", RotateEvery: time.Hour, MaxTokenTTL: time.Hour, Store: memory.New(),
		Clock: func() time.Time { return clock }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	v := New(Config{Issuer: issuer, KeySet: keys, Algorithms: signing.Algorithms,
		Clock: func() time.Time { return clock }, Leeway: 30 * time.Second, CacheSize: cache})
	return v, keys, &clock
}

func token(t testing.TB, keys *signing.Keyring, typ string, edit func(*claims.Access)) string {
	c := claims.Access{Issuer: issuer, Audience: []string{"DomainAPI"}, IssuedAt: now.Unix(), NotBefore: now.Unix(),
		Expiry: now.Add(time.Hour).Unix(), ID: "j", ClientID: "c", SessionID: "s", Scope: claims.Scopes{Values: []string{"read"}}}
	if edit != nil {
		edit(&c)
	}
	tok, err := keys.Sign(typ, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerify(t *testing.T) {
	for _, cache := range []int{0, 10} {
		v, keys, clock := setup(t, cache)
		ctx := context.Background()
		good := token(t, keys, signing.TypeAccessToken, nil)
		for _, tc := range []struct {
			name    string
			tok     string
			at      time.Time
			wantErr bool
		}{
			{"valid", good, now, false},
			{"valid again (cache)", good, now, false},
			{"within exp leeway", good, now.Add(time.Hour + 20*time.Second), false},
			{"expired", good, now.Add(time.Hour + 31*time.Second), true},
			{"nbf within leeway", token(t, keys, signing.TypeAccessToken, func(c *claims.Access) { c.NotBefore = now.Add(20 * time.Second).Unix() }), now, false},
			{"not yet valid", token(t, keys, signing.TypeAccessToken, func(c *claims.Access) { c.NotBefore = now.Add(time.Minute).Unix() }), now, true},
			{"id token", token(t, keys, signing.TypeIDToken, nil), now, true},
			{"wrong issuer", token(t, keys, signing.TypeAccessToken, func(c *claims.Access) { c.Issuer = "http://x/id" }), now, true},
			{"no jti", token(t, keys, signing.TypeAccessToken, func(c *claims.Access) { c.ID = "" }), now, true},
		} {
			*clock = tc.at
			_, err := v.Verify(ctx, tc.tok)
			if (err != nil) != tc.wantErr {
				t.Errorf("cache=%d %s: err = %v, wantErr %v", cache, tc.name, err, tc.wantErr)
			}
		}
	}
}

// BenchmarkVerify is the token check alone: a cache hit against a full
// signature verification.
func BenchmarkVerify(b *testing.B) {
	for _, tc := range []struct {
		name  string
		cache int
	}{{"cached", 1000}, {"uncached", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			v, keys, _ := setup(b, tc.cache)
			tok := token(b, keys, signing.TypeAccessToken, nil)
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRecentTokens: a verified token is found in front of the cache by
// its text, and a token that lands in the slot of a verified one (here a
// forgery: the same header and claims, another signature) is judged on
// its own and refused: a slot is chosen by a hash, but only the stored
// text itself matches.
func TestRecentTokens(t *testing.T) {
	v, keys, _ := setup(t, 10)
	ctx := context.Background()
	good := token(t, keys, signing.TypeAccessToken, nil)
	first, err := v.Verify(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	if v.recent.get(good) != first {
		t.Fatal("a verified token is not held in front of the cache")
	}
	slot := v.recent.slot(good)
	forged := ""
	for i := 0; forged == ""; i++ {
		if i > 1_000_000 {
			t.Fatal("no forgery found for the token's slot")
		}
		if c := fmt.Sprintf("%s%08d", good[:len(good)-8], i); c != good && v.recent.slot(c) == slot {
			forged = c
		}
	}
	if c, err := v.Verify(ctx, forged); err == nil {
		t.Fatalf("a forged token sharing a verified token's slot was accepted: %+v", c)
	}
	if again, err := v.Verify(ctx, good); err != nil || again != first {
		t.Fatalf("the verified token after the forgery: %v, %v", again, err)
	}
	if v, _, _ := setup(t, 0); v.recent.get(good) != nil {
		t.Fatal("without a cache, tokens are held in front of it")
	}
}
