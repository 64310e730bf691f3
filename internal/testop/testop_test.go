package testop

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const (
	redirectURI = "https://rp.example/cb"
	afterLogout = "https://rp.example/signed-out"
)

func start(t *testing.T, issuer string) *Provider {
	return Start(t, Options{
		Clients: []Client{{ID: "rp", Secret: "rp-secret", RedirectURIs: []string{redirectURI}, PostLogoutRedirectURIs: []string{afterLogout}}},
		Accounts: []Account{{ID: "alice-sub", Claims: map[string]any{
			"email": "alice@example.com", "email_verified": true, "preferred_username": "alice",
			"name": "Alice Example", "groups": []string{"erp-admins", "staff"}, "tid": "tenant-1",
		}}},
		Issuer: issuer,
	})
}

func TestDiscovery(t *testing.T) {
	p := start(t, "")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	op, err := oidc.NewProvider(ctx, p.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	if p.Issuer() != p.URL() || !strings.HasPrefix(p.URL(), "http://127.0.0.1:") {
		t.Errorf("Issuer %q, URL %q; want both http://127.0.0.1:PORT", p.Issuer(), p.URL())
	}
	var meta struct {
		Methods    []string `json:"code_challenge_methods_supported"`
		EndSession string   `json:"end_session_endpoint"`
	}
	if err := op.Claims(&meta); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(meta.Methods, []string{"S256"}) || meta.EndSession != p.URL()+"/session/end" {
		t.Errorf("code_challenge_methods_supported %v, end_session_endpoint %q", meta.Methods, meta.EndSession)
	}
}

// TestCodeFlow runs the authorization code flow with PKCE as a relying
// party does (x/oauth2, go-oidc), signs in through the provider's own
// login page, verifies the ID token, then signs out.
func TestCodeFlow(t *testing.T) {
	p := start(t, "")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	op, err := oidc.NewProvider(ctx, p.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: "rp", ClientSecret: "rp-secret", Endpoint: op.Endpoint(), RedirectURL: redirectURI,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}

	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n-1"))
	back, err := p.SignIn(browser, authURL, "alice-sub")
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Scheme + "://" + back.Host + back.Path; got != redirectURI {
		t.Fatalf("SignIn returned %s; want the redirect_uri", back)
	}
	q := back.Query()
	if q.Get("state") != "st-1" || q.Get("code") == "" || q.Get("iss") != p.Issuer() {
		t.Fatalf("redirect %s: want code, state st-1 and iss (RFC 9207)", back)
	}

	// PKCE is required: the code without its verifier is refused.
	if _, err := conf.Exchange(ctx, q.Get("code")); err == nil {
		t.Error("code redeemed without code_verifier")
	}
	// A refused redemption burns the code (RFC 6749 §4.1.2 lets a
	// provider do so); sign in again, now with a session: no login form.
	authURL = conf.AuthCodeURL("st-2", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n-2"))
	back, err = p.SignIn(browser, authURL, "alice-sub")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := op.Verifier(&oidc.Config{ClientID: "rp"}).Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Nonce    string   `json:"nonce"`
		AMR      []string `json:"amr"`
		Email    string   `json:"email"`
		Verified bool     `json:"email_verified"`
		Username string   `json:"preferred_username"`
		Name     string   `json:"name"`
		Groups   []string `json:"groups"`
		TID      string   `json:"tid"`
	}
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.Nonce != "n-2" || idt.Subject != "alice-sub" || !slices.Equal(c.AMR, []string{"pwd"}) {
		t.Errorf("nonce %q, sub %q, amr %v; want n-2, alice-sub, [pwd]", c.Nonce, idt.Subject, c.AMR)
	}
	want := func(where string) {
		t.Helper()
		if c.Email != "alice@example.com" || !c.Verified || c.Username != "alice" || c.Name != "Alice Example" ||
			!slices.Equal(c.Groups, []string{"erp-admins", "staff"}) || c.TID != "tenant-1" {
			t.Errorf("%s claims %+v", where, c)
		}
	}
	want("ID token")
	c.Email, c.Groups = "", nil
	ui, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	if err := ui.Claims(&c); err != nil {
		t.Fatal(err)
	}
	want("userinfo")

	// RP-initiated logout: confirmed on the provider's page, back to the
	// post_logout_redirect_uri with the state.
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := op.Claims(&meta); err != nil {
		t.Fatal(err)
	}
	end := meta.EndSession + "?" + url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {afterLogout}, "state": {"bye"}}.Encode()
	out, err := p.SignOut(browser, end)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Scheme + "://" + out.Host + out.Path; got != afterLogout || out.Query().Get("state") != "bye" {
		t.Errorf("SignOut returned %s; want %s?state=bye", out, afterLogout)
	}
	// The session is gone: signing in asks for the login again, so an
	// unknown account is refused now.
	if _, err := p.SignIn(browser, conf.AuthCodeURL("st-3", oauth2.S256ChallengeOption(verifier)), "nobody"); err == nil ||
		!strings.Contains(err.Error(), "Unknown account") {
		t.Errorf("SignIn of an unknown account after sign-out: %v", err)
	}
}

func TestSignInChecks(t *testing.T) {
	p := start(t, "")
	if _, err := p.SignIn(nil, "https://elsewhere.example/auth", "alice-sub"); err == nil {
		t.Error("SignIn started off the provider's origin")
	}
	// An authorization request without PKCE ends with an error at the
	// redirect_uri.
	back, err := p.SignIn(nil, p.URL()+"/auth?"+url.Values{"client_id": {"rp"}, "response_type": {"code"},
		"scope": {"openid"}, "redirect_uri": {redirectURI}, "state": {"s"}}.Encode(), "alice-sub")
	if err != nil {
		t.Fatal(err)
	}
	if back.Query().Get("error") != "invalid_request" {
		t.Errorf("authorization without code_challenge: %s; want error=invalid_request", back)
	}
}

func TestFixedIssuer(t *testing.T) {
	p := start(t, "https://not-this-one.example")
	if p.Issuer() != "https://not-this-one.example" {
		t.Fatalf("Issuer %q", p.Issuer())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// go-oidc refuses a discovery document naming another issuer.
	if _, err := oidc.NewProvider(ctx, p.URL()); err == nil || !strings.Contains(err.Error(), "did not match the issuer") {
		t.Errorf("discovery at %s advertising another issuer: %v", p.URL(), err)
	}
}

func TestStop(t *testing.T) {
	p := start(t, "")
	p.Stop()
	p.Stop() // idempotent
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(p.URL() + "/.well-known/openid-configuration")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("discovery answered %d after Stop", resp.StatusCode)
	}
}
