package federation

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

const (
	tenantA = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	tenantB = "9188040d-6c67-4c5b-b112-36a304b66dad"
)

// TestTenantIssuer is the multi-tenant Entra ID issuer check: the
// discovery document's template filled with the token's own tid.
func TestTenantIssuer(t *testing.T) {
	tests := []struct {
		name    string
		iss     string
		tid     string
		allowed []string
		want    bool
	}{
		{"own tenant", "https://login.microsoftonline.com/" + tenantA + "/v2.0", tenantA, nil, true},
		{"another tenant's issuer", "https://login.microsoftonline.com/" + tenantB + "/v2.0", tenantA, nil, false},
		{"no tid", "https://login.microsoftonline.com//v2.0", "", nil, false},
		{"template itself", entraTenantTemplate, "{tenantid}", nil, false},
		{"v1 issuer", "https://sts.windows.net/" + tenantA + "/", tenantA, nil, false},
		{"allowed tenant", "https://login.microsoftonline.com/" + tenantA + "/v2.0", tenantA, []string{tenantB, tenantA}, true},
		{"allow-list ignores case", "https://login.microsoftonline.com/" + tenantA + "/v2.0", tenantA, []string{"72F988BF-86F1-41AF-91AB-2D7CD011DB47"}, true},
		{"tenant not allowed", "https://login.microsoftonline.com/" + tenantA + "/v2.0", tenantA, []string{tenantB}, false},
		{"tid with a slash", "https://login.microsoftonline.com/a/b/v2.0", "a/b", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tenantIssuerOK(entraTenantTemplate, tt.iss, tt.tid, tt.allowed); got != tt.want {
				t.Errorf("tenantIssuerOK(%q, %q, %v) = %v, want %v", tt.iss, tt.tid, tt.allowed, got, tt.want)
			}
		})
	}
}

func testOIDC(t *testing.T, cfg OIDCConfig) *OIDC {
	t.Helper()
	cfg.ClientID, cfg.RedirectURL = "erpgate", "https://erp.example/id/account/callback/"+cfg.ID
	cfg.HTTPClient = &http.Client{Timeout: time.Second}
	p, err := NewOIDC(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEntraPreset(t *testing.T) {
	one, err := Entra(OIDCConfig{ID: "entra"}, tenantA)
	if err != nil {
		t.Fatal(err)
	}
	if one.Issuer != "https://login.microsoftonline.com/"+tenantA+"/v2.0" || one.TenantIssuer != "" || one.TenantClaim != "tid" {
		t.Errorf("single tenant = %+v", one)
	}
	multi, err := Entra(OIDCConfig{ID: "entra", Tenants: []string{tenantA}}, "organizations")
	if err != nil {
		t.Fatal(err)
	}
	if multi.Issuer != "https://login.microsoftonline.com/organizations/v2.0" || multi.TenantIssuer != entraTenantTemplate {
		t.Errorf("multi-tenant = %+v", multi)
	}
	if over, _ := Entra(OIDCConfig{ID: "entra", Issuer: "http://127.0.0.1:1"}, tenantA); over.Issuer != "http://127.0.0.1:1" {
		t.Errorf("issuer override lost: %q", over.Issuer)
	}
	if _, err := Entra(OIDCConfig{ID: "entra"}, "contoso.onmicrosoft.com"); err == nil {
		t.Error("a domain as tenant was accepted")
	}

	p := testOIDC(t, multi)
	claims := map[string]any{"tid": tenantA, "preferred_username": "ann@contoso.example", "email": "ann@contoso.example", "name": "Ann"}
	id, err := p.identity("https://login.microsoftonline.com/"+tenantA+"/v2.0", "sub-1", claims)
	if err != nil {
		t.Fatal(err)
	}
	if id.Tenant != tenantA || id.Login != "ann@contoso.example" || id.EmailVerified {
		t.Errorf("identity = %+v; want tid kept and the email unverified without trust_email", id)
	}
	if _, err := p.identity("https://login.microsoftonline.com/"+tenantB+"/v2.0", "sub-1", claims); !errors.Is(err, ErrWrongIssuer) {
		t.Errorf("issuer of another tenant: %v, want ErrWrongIssuer", err)
	}
	claims["tid"] = tenantB
	if _, err := p.identity("https://login.microsoftonline.com/"+tenantB+"/v2.0", "sub-1", claims); !errors.Is(err, ErrWrongIssuer) {
		t.Errorf("tenant outside tenants: %v, want ErrWrongIssuer", err)
	}
	trusted := multi
	trusted.TrustEmail, trusted.Tenants = true, nil
	if id, _ := testOIDC(t, trusted).identity("https://login.microsoftonline.com/"+tenantB+"/v2.0", "s", claims); !id.EmailVerified {
		t.Errorf("trust_email: %+v, want the email verified", id)
	}
}

func TestGooglePreset(t *testing.T) {
	cfg := Google(OIDCConfig{ID: "google", HostedDomain: "example.com"})
	if cfg.Issuer != "https://accounts.google.com" || cfg.Claims.Login != "email" {
		t.Errorf("google = %+v", cfg)
	}
	p := testOIDC(t, cfg)
	claims := map[string]any{"email": "ann@example.com", "email_verified": true, "hd": "example.com", "amr": []any{"pwd"}}
	id, err := p.identity(googleIssuer, "1234", claims)
	if err != nil {
		t.Fatal(err)
	}
	if id.Login != "ann@example.com" || !id.EmailVerified || len(id.Methods) != 1 || id.Methods[0] != "pwd" {
		t.Errorf("identity = %+v", id)
	}
	delete(claims, "hd")
	if _, err := p.identity(googleIssuer, "1234", claims); !errors.Is(err, ErrWrongDomain) {
		t.Errorf("no hd: %v, want ErrWrongDomain", err)
	}
}
