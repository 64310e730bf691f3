package webui

import (
	"strings"
	"testing"
)

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		offered                []string
		ui, user, accept, want string
	}{
		{"nothing asked: the first offered", nil, "", "", "", "en"},
		{"operator's order", []string{"de", "en"}, "", "", "", "de"},
		{"ui_locales first", nil, "bg-BG de", "de", "de", "bg"},
		{"ui_locales in order, unknown skipped", nil, "fr de", "", "bg", "de"},
		{"the user's locale before the browser's", nil, "", "bg-BG", "de-DE,de;q=0.9", "bg"},
		{"Accept-Language by quality", nil, "", "", "fr;q=1, de;q=0.5, bg;q=0.8", "bg"},
		{"q=0 is refusal", nil, "", "", "bg;q=0, de;q=0.1", "de"},
		{"primary subtag, any case", nil, "", "", "DE-at", "de"},
		{"not offered is not chosen", []string{"en", "de"}, "bg", "bg", "bg", "en"},
		{"wildcard is no choice", []string{"de", "en"}, "", "", "*", "de"},
		{"garbage header", nil, "", "", ";;;,q=,=,", "en"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Negotiate(tc.offered, tc.ui, tc.user, tc.accept); got != tc.want {
				t.Errorf("Negotiate = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLangTexts(t *testing.T) {
	en := Language("en")
	for _, tc := range []struct{ got, want string }{
		{en.Wait(1), "1 second"},
		{en.Wait(0), "1 second"},
		{en.Wait(119), "119 seconds"},
		{en.Wait(120), "2 minutes"},
		{en.Wait(121), "3 minutes"},
		{en.Scope("read"), "Read your company's data in the ERP system"},
		{en.Scope("ledger.write"), "Use the permission “ledger.write”"},
		{string(en.TH("login.lead", `<b>"x"</b>`)), "to continue to <strong>&lt;b&gt;&#34;x&#34;&lt;/b&gt;</strong>"},
		{Language("xx").Tag, "en"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestCSP(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    CSPOptions
		want []string
		not  []string
	}{
		{"own forms only", CSPOptions{}, []string{"form-action 'self';", "default-src 'none'", "frame-ancestors 'none'"}, []string{"script-src"}},
		{"a redirect origin, once", CSPOptions{FormTargets: []string{"http://127.0.0.1:5173/cb", "http://127.0.0.1:5173/other", ""}},
			[]string{"form-action 'self' http://127.0.0.1:5173;"}, nil},
		{"not an http(s) URL", CSPOptions{FormTargets: []string{"javascript:alert(1)", "/relative", "https://a.example;script-src *"}},
			[]string{"form-action 'self';"}, []string{"javascript", "a.example"}},
		{"form_post", CSPOptions{FormTargets: []string{"https://app.example/cb"}, ScriptNonce: "abc", NoSelfForms: true},
			[]string{"script-src 'nonce-abc';", "form-action https://app.example;"}, []string{"form-action 'self'"}},
		{"copy script", CSPOptions{Script: true}, []string{"script-src 'self';"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CSP(tc.o)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("CSP %q lacks %q", got, w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(got, w) {
					t.Errorf("CSP %q has %q", got, w)
				}
			}
		})
	}
}

func TestContrast(t *testing.T) {
	if c := contrast("#ffffff", "#000000"); c < 20.9 || c > 21.1 {
		t.Errorf("white on black = %.2f, want 21", c)
	}
	// The default brand colour takes white text at AA.
	if string(brandCSS(DefaultPrimary)) != ":root { --brand: #1f5fbf; --on-brand: #ffffff; }\n" {
		t.Errorf("brand.css = %q", brandCSS(DefaultPrimary))
	}
	// A light brand colour takes black text.
	if !strings.Contains(string(brandCSS("#ffd700")), "--on-brand: #000000") {
		t.Errorf("gold takes black text: %q", brandCSS("#ffd700"))
	}
	if PrimaryContrast("red") != 0 {
		t.Error("a colour name is not #rrggbb")
	}
}

func TestSafeLink(t *testing.T) {
	for u, want := range map[string]bool{
		"/": true, "/help": true, "https://example.com/imprint": true, "http://intranet/x": true,
		"": false, "//evil.example": false, "javascript:alert(1)": false, "data:text/html,x": false, "help": false, "https://": false,
	} {
		if got := SafeLink(u); got != want {
			t.Errorf("SafeLink(%q) = %v, want %v", u, got, want)
		}
	}
}
