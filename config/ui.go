package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/erpgate/erpgate/webui"
)

// UI is the branding and languages of every page users see: sign-in,
// consent, sign-out, account, errors and the license page (SPEC §2).
type UI struct {
	// ProductName names the product in every page's header and title.
	// Omitted: erpgate.
	ProductName string `yaml:"product_name"`

	// LogoFile is the path of the logo shown in the header: SVG, PNG,
	// JPEG, GIF or WebP, at most 512 KiB, read at start and reload.
	// Omitted: the product name alone.
	LogoFile string `yaml:"logo_file"`

	// Colors are the brand colours.
	Colors UIColors `yaml:"colors"`

	// CSSFile is the path of an extra stylesheet served after the
	// built-in one (at most 512 KiB), to restyle pages further.
	CSSFile string `yaml:"css_file"`

	// Locales are the languages offered, in order of preference when a
	// request names none it has: en, bg, de. The ui_locales parameter,
	// then the user's locale, then Accept-Language choose among them.
	// Omitted: all three, English first.
	Locales []string `yaml:"locales"`

	// SignedOutURL is where a sign-out that returns to no application
	// lands: a path on this gateway or an absolute http(s) URL. Omitted:
	// a "signed out — sign in again" page.
	SignedOutURL string `yaml:"signed_out_url"`

	// FooterLinks are shown in every page's footer (imprint, privacy,
	// help desk).
	FooterLinks []UILink `yaml:"footer_links"`
}

// UIColors are the brand colours.
type UIColors struct {
	// Primary colours buttons, links and focus rings: "#rrggbb".
	// Button text is white or black, whichever reads better. Omitted:
	// #1f5fbf.
	Primary string `yaml:"primary"`
}

// UILink is a footer link.
type UILink struct {
	// Text is what the link says.
	Text string `yaml:"text"`
	// URL is a path on this gateway or an absolute http(s) URL.
	URL string `yaml:"url"`
}

// MaxUIFileBytes bounds ui.logo_file and ui.css_file.
const MaxUIFileBytes = 512 << 10

func (v *validator) ui() {
	u := v.f.UI
	if len(u.ProductName) > 64 || strings.ContainsFunc(u.ProductName, isControl) {
		v.add("ui.product_name", "must be at most 64 characters, without control characters")
	}
	if p := u.Colors.Primary; p != "" {
		if webui.PrimaryContrast(p) == 0 {
			v.addf("ui.colors.primary", "must be a colour as #rrggbb; got %q", p)
		}
	}
	seen := map[string]bool{}
	for i, l := range u.Locales {
		path := fmt.Sprintf("ui.locales[%d]", i)
		switch {
		case !slices.Contains(webui.Shipped, l):
			v.addf(path, "must be one of %s; got %q", strings.Join(webui.Shipped, ", "), l)
		case seen[l]:
			v.addf(path, "%q is listed twice", l)
		}
		seen[l] = true
	}
	if s := u.SignedOutURL; s != "" && !webui.SafeLink(s) {
		v.add("ui.signed_out_url", "must be a path on this gateway (/...) or an absolute http(s) URL")
	}
	for i, l := range u.FooterLinks {
		if strings.TrimSpace(l.Text) == "" {
			v.add(fmt.Sprintf("ui.footer_links[%d].text", i), "must not be empty")
		}
		if !webui.SafeLink(l.URL) {
			v.add(fmt.Sprintf("ui.footer_links[%d].url", i), "must be a path on this gateway (/...) or an absolute http(s) URL")
		}
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
