package gateway

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/webui"
)

// pageKit builds the page kit of f's ui section, reading the logo and
// stylesheet files with read (at start and at every reload, so a new logo
// needs no restart). The identity server serves its assets.
func pageKit(f *config.File, read func(path string) ([]byte, error), logger *slog.Logger) (*webui.Kit, error) {
	u := f.UI
	logo, err := readUIFile(read, "ui.logo_file", u.LogoFile)
	if err != nil {
		return nil, err
	}
	css, err := readUIFile(read, "ui.css_file", u.CSSFile)
	if err != nil {
		return nil, err
	}
	links := make([]webui.Link, len(u.FooterLinks))
	for i, l := range u.FooterLinks {
		links[i] = webui.Link{Text: l.Text, URL: l.URL}
	}
	kit, err := webui.New(webui.Config{
		ProductName: u.ProductName, Logo: logo, PrimaryColor: u.Colors.Primary, ExtraCSS: css,
		FooterLinks: links, Locales: u.Locales, SignedOutURL: u.SignedOutURL,
		AssetsPath: issuerPath(f) + "/account/static", Logger: logger, // issuer.New serves them there
	})
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	return kit, nil
}

// readUIFile reads a ui file of at most config.MaxUIFileBytes with read;
// "" reads nothing.
func readUIFile(read func(path string) ([]byte, error), key, path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := read(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if len(b) > config.MaxUIFileBytes {
		return nil, fmt.Errorf("%s: %s is larger than %d KiB", key, path, config.MaxUIFileBytes>>10)
	}
	return b, nil
}

// issuerPath is the URL path of the issuer (public_url's path + "/id").
func issuerPath(f *config.File) string {
	u, err := url.Parse(f.Issuer())
	if err != nil {
		return "/id"
	}
	return strings.TrimSuffix(u.Path, "/")
}
