package federation_test

import (
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/federation"
	"github.com/erpgate/erpgate/internal/testop"
)

const callback = "http://127.0.0.1:9/id/account/callback/corp"

func startOP(t *testing.T, issuer string) *testop.Provider {
	t.Helper()
	return testop.Start(t, testop.Options{
		Issuer:  issuer,
		Clients: []testop.Client{{ID: "erpgate", Secret: "s3cret", RedirectURIs: []string{callback}}},
		Accounts: []testop.Account{{ID: "sub-1", Claims: map[string]any{
			"email": "ann@example.com", "email_verified": true, "preferred_username": "ann", "name": "Ann Example",
			"groups": []string{"staff"},
		}}},
	})
}

func newProvider(t *testing.T, issuer string, clock func() time.Time) *federation.OIDC {
	t.Helper()
	p, err := federation.NewOIDC(federation.OIDCConfig{
		ID: "corp", Issuer: issuer, ClientID: "erpgate", ClientSecret: "s3cret", RedirectURL: callback,
		HTTPClient: &http.Client{Timeout: 5 * time.Second}, DiscoveryTimeout: 2 * time.Second, Clock: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// signIn runs the authorization request at the provider and returns the
// code and state it sent back.
func signIn(t *testing.T, op *testop.Provider, p *federation.OIDC, state, nonce, verifier string) (code, gotState string) {
	t.Helper()
	auth, err := p.AuthCodeURL(t.Context(), federation.AuthRequest{State: state, Nonce: nonce, Verifier: verifier, LoginHint: "ann"})
	if err != nil {
		t.Fatalf("AuthCodeURL: %v", err)
	}
	u, _ := url.Parse(auth)
	if q := u.Query(); q.Get("code_challenge_method") != "S256" || q.Get("nonce") != nonce || q.Get("login_hint") != "ann" {
		t.Fatalf("authorization request %s lacks PKCE S256, nonce or login_hint", auth)
	}
	jar, _ := cookiejar.New(nil)
	back, err := op.SignIn(&http.Client{Jar: jar, Timeout: 10 * time.Second}, auth, "sub-1")
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	if back.Query().Get("code") == "" {
		t.Fatalf("provider answered %s", back)
	}
	return back.Query().Get("code"), back.Query().Get("state")
}

func TestOIDCSignIn(t *testing.T) {
	op := startOP(t, "")
	p := newProvider(t, op.URL(), nil)
	verifier := federation.GenerateVerifier()
	code, state := signIn(t, op, p, "st-1", "n-1", verifier)
	if state != "st-1" {
		t.Errorf("state = %q", state)
	}
	id, err := p.Exchange(t.Context(), code, verifier, "n-1")
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if id.Provider != "corp" || id.Subject != "sub-1" || id.Login != "ann" || id.Email != "ann@example.com" ||
		!id.EmailVerified || id.Name != "Ann Example" || len(id.Groups) != 1 || id.Groups[0] != "staff" ||
		len(id.Methods) != 1 || id.Methods[0] != "pwd" {
		t.Errorf("identity = %+v", id)
	}
	// The code is spent: a replay is the provider's refusal, not an outage.
	if _, err := p.Exchange(t.Context(), code, verifier, "n-1"); !errors.Is(err, federation.ErrTokenInvalid) {
		t.Errorf("replayed code: %v, want ErrTokenInvalid", err)
	}
}

func TestOIDCNonceMismatch(t *testing.T) {
	op := startOP(t, "")
	p := newProvider(t, op.URL(), nil)
	verifier := federation.GenerateVerifier()
	code, _ := signIn(t, op, p, "st-1", "n-1", verifier)
	if _, err := p.Exchange(t.Context(), code, verifier, "n-other"); !errors.Is(err, federation.ErrNonceMismatch) {
		t.Errorf("Exchange with another nonce: %v, want ErrNonceMismatch", err)
	}
}

func TestOIDCWrongVerifier(t *testing.T) {
	op := startOP(t, "")
	p := newProvider(t, op.URL(), nil)
	code, _ := signIn(t, op, p, "st-1", "n-1", federation.GenerateVerifier())
	if _, err := p.Exchange(t.Context(), code, federation.GenerateVerifier(), "n-1"); !errors.Is(err, federation.ErrTokenInvalid) {
		t.Errorf("Exchange with another verifier: %v, want ErrTokenInvalid (PKCE)", err)
	}
}

// TestOIDCWrongIssuer: a provider whose discovery document names
// another issuer than the configured one is refused (OIDC Discovery
// §4.3), as a wrong issuer, not as an outage.
func TestOIDCWrongIssuer(t *testing.T) {
	op := startOP(t, "https://elsewhere.example")
	p := newProvider(t, op.URL(), nil)
	if _, err := p.AuthCodeURL(t.Context(), federation.AuthRequest{State: "s", Nonce: "n", Verifier: federation.GenerateVerifier()}); !errors.Is(err, federation.ErrWrongIssuer) {
		t.Errorf("AuthCodeURL: %v, want ErrWrongIssuer", err)
	}
}

// TestOIDCDownAtStart: discovery waits for the first sign-in, a failure
// is retried after RetryAfter, and the provider works once it is up.
func TestOIDCDownAtStart(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	op := startOP(t, "")
	base := op.URL()
	op.Stop()
	p := newProvider(t, base, clock)
	if _, err := p.AuthCodeURL(t.Context(), federation.AuthRequest{State: "s", Nonce: "n", Verifier: federation.GenerateVerifier()}); !errors.Is(err, federation.ErrUnavailable) {
		t.Fatalf("provider down: %v, want ErrUnavailable", err)
	}
	// A new provider at a new port stands for it coming back; the same
	// OIDC value must try again, after the retry interval only.
	op2 := startOP(t, "")
	p2 := newProvider(t, op2.URL(), clock)
	if _, err := p2.AuthCodeURL(t.Context(), federation.AuthRequest{State: "s", Nonce: "n", Verifier: federation.GenerateVerifier()}); err != nil {
		t.Fatalf("provider up: %v", err)
	}
	if _, err := p.AuthCodeURL(t.Context(), federation.AuthRequest{State: "s", Nonce: "n", Verifier: federation.GenerateVerifier()}); !errors.Is(err, federation.ErrUnavailable) {
		t.Errorf("within the retry interval: %v, want the remembered failure", err)
	}
}

func TestOIDCEndSession(t *testing.T) {
	op := startOP(t, "")
	p, err := federation.NewOIDC(federation.OIDCConfig{ID: "corp", Issuer: op.URL(), ClientID: "erpgate", RedirectURL: callback,
		EndSession: true, HTTPClient: &http.Client{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	u, ok := p.EndSessionURL(t.Context(), "http://127.0.0.1:9/id/account/logout/federated", "st")
	if !ok {
		t.Fatal("no end-session URL")
	}
	parsed, _ := url.Parse(u)
	if q := parsed.Query(); q.Get("client_id") != "erpgate" || q.Get("state") != "st" ||
		q.Get("post_logout_redirect_uri") != "http://127.0.0.1:9/id/account/logout/federated" {
		t.Errorf("end-session URL %s", u)
	}
	if _, ok := newProvider(t, op.URL(), nil).EndSessionURL(t.Context(), "x", "s"); ok {
		t.Error("end_session false gave an end-session URL")
	}
}

// TestOIDCTenantIssuer: a multi-tenant Entra ID setup (the discovery
// document names the {tenantid} template) against a real provider whose
// tokens carry the template itself as iss: discovery is accepted, and
// each token is held to its own tenant's issuer — which this one is not.
func TestOIDCTenantIssuer(t *testing.T) {
	op := testop.Start(t, testop.Options{
		Issuer:  "https://login.microsoftonline.com/{tenantid}/v2.0",
		Clients: []testop.Client{{ID: "erpgate", Secret: "s3cret", RedirectURIs: []string{callback}}},
		Accounts: []testop.Account{{ID: "sub-1", Claims: map[string]any{"preferred_username": "ann@contoso.example",
			"tid": "72f988bf-86f1-41af-91ab-2d7cd011db47"}}},
	})
	cfg, err := federation.Entra(federation.OIDCConfig{ID: "corp", Issuer: op.URL(), ClientID: "erpgate", ClientSecret: "s3cret",
		RedirectURL: callback, HTTPClient: &http.Client{Timeout: 5 * time.Second}}, "organizations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := federation.NewOIDC(cfg)
	if err != nil {
		t.Fatal(err)
	}
	verifier := federation.GenerateVerifier()
	code, _ := signIn(t, op, p, "st", "n", verifier)
	_, err = p.Exchange(t.Context(), code, verifier, "n")
	if !errors.Is(err, federation.ErrWrongIssuer) || !strings.Contains(err.Error(), "for tenant") {
		t.Errorf("a token whose iss is the template: %v, want ErrWrongIssuer from the tenant check", err)
	}
}
