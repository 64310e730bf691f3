package testrp_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/erpgate/erpgate/backchannel"
	"github.com/erpgate/erpgate/internal/testrp"
	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/store/memory"
)

const issuer = "https://op.example.com/id"

// The RP is the judge of every back-channel test, so it must refuse
// what §2.6 refuses: each case is a token one rule alone makes invalid.
func TestRPRefusesWhatSection26Refuses(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys, err := signing.Open(t.Context(), signing.Config{Algorithm: "RS256", RotateEvery: 24 * time.Hour,
		MaxTokenTTL: time.Hour, Store: memory.New(), Clock: time.Now, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	other, err := signing.Open(t.Context(), signing.Config{Algorithm: "RS256", RotateEvery: 24 * time.Hour,
		MaxTokenTTL: time.Hour, Store: memory.New(), Clock: time.Now, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(keys.JWKS()) }))
	defer jwks.Close()
	rp := testrp.Start(t, issuer, oidc.NewRemoteKeySet(context.Background(), jwks.URL))

	valid := func() map[string]any {
		c, err := backchannel.NewClaims(issuer, backchannel.Logout{ClientID: "app", SessionID: "sid", Subject: "alice"}, time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]any{"iss": c.Issuer, "aud": c.Audience, "iat": c.IssuedAt, "exp": c.Expiry, "jti": c.ID,
			"sub": c.Subject, "sid": c.SessionID, "events": c.Events}
	}
	post := func(uri, tok string) int {
		resp, err := http.PostForm(uri, url.Values{"logout_token": {tok}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	sign := func(k *signing.Keyring, typ string, c map[string]any) string {
		tok, err := k.Sign(typ, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	if got := post(rp.URI("app"), sign(keys, backchannel.TokenType, valid())); got != http.StatusOK {
		t.Fatalf("a valid logout token: %d; refused: %v", got, rp.Rejected())
	}
	replayed := sign(keys, backchannel.TokenType, valid())
	if post(rp.URI("app"), replayed) != http.StatusOK || post(rp.URI("app"), replayed) != http.StatusBadRequest {
		t.Error("a replayed jti was accepted twice")
	}
	for _, tc := range []struct {
		name, uri, typ string
		keys           *signing.Keyring
		edit           func(map[string]any)
	}{
		{name: "typ JWT (an ID token's)", typ: "JWT"},
		{name: "nonce (§2.4: must not)", edit: func(c map[string]any) { c["nonce"] = "n" }},
		{name: "no events", edit: func(c map[string]any) { delete(c, "events") }},
		{name: "another event", edit: func(c map[string]any) { c["events"] = map[string]any{"urn:other": map[string]any{}} }},
		{name: "neither sub nor sid", edit: func(c map[string]any) { delete(c, "sub"); delete(c, "sid") }},
		{name: "another issuer", edit: func(c map[string]any) { c["iss"] = "https://evil.example.com" }},
		{name: "for another app", uri: rp.URI("other-app")},
		{name: "expired", edit: func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }},
		{name: "issued long ago", edit: func(c map[string]any) { c["iat"] = time.Now().Add(-time.Hour).Unix() }},
		{name: "no jti", edit: func(c map[string]any) { delete(c, "jti") }},
		{name: "signed by another key", keys: other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			if tc.edit != nil {
				tc.edit(c)
			}
			k, typ, uri := keys, backchannel.TokenType, rp.URI("app")
			if tc.keys != nil {
				k = tc.keys
			}
			if tc.typ != "" {
				typ = tc.typ
			}
			if tc.uri != "" {
				uri = tc.uri
			}
			before := len(rp.Rejected())
			if got := post(uri, sign(k, typ, c)); got != http.StatusBadRequest {
				t.Errorf("answered %d, want 400", got)
			}
			if rej := rp.Rejected(); len(rej) != before+1 {
				t.Errorf("not recorded as refused: %v", rej)
			} else {
				t.Logf("refused: %s", rej[len(rej)-1])
			}
		})
	}
	// §2.5: a form POST, nothing else.
	resp, err := http.Get(rp.URI("app") + "?logout_token=" + sign(keys, backchannel.TokenType, valid()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET with the token in the query: %d, want 400", resp.StatusCode)
	}
	if resp, err := http.Post(rp.URI("app"), "application/json", strings.NewReader(`{}`)); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("JSON body: %v %v, want 400", resp.StatusCode, err)
	}
	if n := len(rp.Received()); n != 2 {
		t.Errorf("accepted %d tokens, want the 2 valid ones", n)
	}
}
