package webui

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

//go:embed static/style.css
var baseCSS []byte

//go:embed static/copy.js
var copyJS []byte

//go:embed static/passkey.js
var passkeyJS []byte

// Link is a footer link.
type Link struct{ Text, URL string }

// Config is the operator's branding (config ui:), built by the gateway
// (gateway/ui.go).
type Config struct {
	// ProductName names the product in every page's header and title;
	// "" is "erpgate".
	ProductName string
	// Logo is the logo image shown in the header (SVG, PNG, JPEG or
	// WebP, sniffed); nil shows the product name alone.
	Logo []byte
	// PrimaryColor is the brand colour of buttons, links and focus
	// rings, "#rrggbb"; "" keeps the default.
	PrimaryColor string
	// ExtraCSS is an extra stylesheet served after ours.
	ExtraCSS []byte
	// FooterLinks are shown in every page's footer (imprint, privacy,
	// help desk).
	FooterLinks []Link
	// Locales are the languages offered, in order (a subset of
	// Shipped); empty offers all, English first.
	Locales []string
	// SignedOutURL is where a finished sign-out lands; "" shows the
	// "signed out" page (see SignedOut).
	SignedOutURL string
	// AssetsPath is the URL path the kit's Assets handler is mounted at
	// (the identity server serves it), e.g. "/id/account/static".
	AssetsPath string
	Logger     *slog.Logger
}

// DefaultPrimary is the brand colour without ui.colors.primary.
const DefaultPrimary = "#1f5fbf"

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// Kit renders pages with the operator's branding.
type Kit struct {
	cfg     Config
	product string
	assets  map[string]asset // by file name
	links   []Link
}

type asset struct {
	body        []byte
	contentType string
	url         string // AssetsPath/name?v=<hash>: cached for long, changed with the content
}

// New checks cfg and builds the kit.
func New(cfg Config) (*Kit, error) {
	if cfg.Logger == nil {
		return nil, errors.New("webui: Logger is required")
	}
	if cfg.AssetsPath == "" || !strings.HasPrefix(cfg.AssetsPath, "/") {
		return nil, errors.New("webui: AssetsPath must be an absolute path")
	}
	for _, l := range cfg.Locales {
		if !slices.Contains(Shipped, l) {
			return nil, fmt.Errorf("webui: no catalog for locale %q (shipped: %s)", l, strings.Join(Shipped, ", "))
		}
	}
	primary := cfg.PrimaryColor
	if primary == "" {
		primary = DefaultPrimary
	}
	if !hexColor.MatchString(primary) {
		return nil, fmt.Errorf("webui: primary colour %q is not #rrggbb", primary)
	}
	k := &Kit{cfg: cfg, product: cfg.ProductName, assets: map[string]asset{}}
	if k.product == "" {
		k.product = "erpgate"
	}
	for _, l := range cfg.FooterLinks {
		if !SafeLink(l.URL) {
			return nil, fmt.Errorf("webui: footer link %q must be an http(s) URL or a path", l.URL)
		}
		k.links = append(k.links, l)
	}
	k.addAsset("style.css", "text/css; charset=utf-8", baseCSS)
	k.addAsset("brand.css", "text/css; charset=utf-8", brandCSS(primary))
	k.addAsset("copy.js", "text/javascript; charset=utf-8", copyJS)
	k.addAsset("passkey.js", "text/javascript; charset=utf-8", passkeyJS)
	if len(cfg.ExtraCSS) > 0 {
		k.addAsset("custom.css", "text/css; charset=utf-8", cfg.ExtraCSS)
	}
	if len(cfg.Logo) > 0 {
		ct, err := logoType(cfg.Logo)
		if err != nil {
			return nil, err
		}
		k.addAsset("logo", ct, cfg.Logo)
	}
	return k, nil
}

func (k *Kit) addAsset(name, contentType string, body []byte) {
	sum := sha256.Sum256(body)
	k.assets[name] = asset{body: body, contentType: contentType,
		url: k.cfg.AssetsPath + "/" + name + "?v=" + hex.EncodeToString(sum[:6])}
}

// logoType is the content type of a logo file, which must be an image
// the browser shows in <img> (an SVG there runs no script).
func logoType(b []byte) (string, error) {
	ct := http.DetectContentType(b)
	switch {
	case strings.HasPrefix(ct, "image/png"), strings.HasPrefix(ct, "image/jpeg"), strings.HasPrefix(ct, "image/webp"), strings.HasPrefix(ct, "image/gif"):
		return ct, nil
	case bytes.Contains(bytes.ToLower(b[:min(len(b), 1024)]), []byte("<svg")):
		return "image/svg+xml", nil
	}
	return "", fmt.Errorf("webui: the logo is %s, not SVG, PNG, JPEG, GIF or WebP", ct)
}

// brandCSS sets the primary colour and the text colour on it that reads
// best (WCAG 2.1 §1.4.3 contrast).
func brandCSS(primary string) []byte {
	on := "#ffffff"
	if contrast(primary, "#ffffff") < contrast(primary, "#000000") {
		on = "#000000"
	}
	return []byte(":root { --brand: " + primary + "; --on-brand: " + on + "; }\n")
}

// PrimaryContrast is the contrast ratio (WCAG 2.1) of button text on the
// primary colour, which config validation warns about below 4.5.
func PrimaryContrast(primary string) float64 {
	if !hexColor.MatchString(primary) {
		return 0
	}
	return max(contrast(primary, "#ffffff"), contrast(primary, "#000000"))
}

// contrast is WCAG 2.1's contrast ratio of two #rrggbb colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(hex string) float64 {
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		c := float64(v) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += w * c
	}
	return l
}

// SafeLink reports whether u may be an href the operator configured: an
// absolute http(s) URL or a path, never javascript: or data:.
func SafeLink(u string) bool {
	p, err := url.Parse(u)
	if err != nil || u == "" {
		return false
	}
	if p.Scheme == "" {
		return p.Host == "" && strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//")
	}
	return (p.Scheme == "https" || p.Scheme == "http") && p.Host != ""
}

// Assets serves the stylesheets, the copy script and the logo under
// AssetsPath (mount it with http.StripPrefix). Their URLs carry a hash
// of the content, so they are cached for a day and a reload that
// changes one is seen at once.
func (k *Kit) Assets() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := k.assets[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "public, max-age=86400")
		h.Set("X-Content-Type-Options", "nosniff")
		// An SVG opened on its own must not run script.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		_, _ = w.Write(a.body)
	})
}

// At returns k with its assets served at assetsPath instead: the same
// branding for pages on another listener (the admin console), whose CSP
// allows only its own origin's stylesheets.
func (k *Kit) At(assetsPath string) *Kit {
	c := *k
	c.cfg.AssetsPath = assetsPath
	c.assets = make(map[string]asset, len(k.assets))
	for name, a := range k.assets {
		a.url = assetsPath + strings.TrimPrefix(a.url, k.cfg.AssetsPath)
		c.assets[name] = a
	}
	return &c
}

// ProductName is the configured product name, or "".
func (k *Kit) ProductName() string { return k.product }

// SignedOutURL is the configured landing after sign-out, or "".
func (k *Kit) SignedOutURL() string { return k.cfg.SignedOutURL }

// Language picks the request's language (Negotiate) from the offered
// ones: uiLocales and userLocale are the hints the caller knows.
func (k *Kit) Language(r *http.Request, uiLocales, userLocale string) *Lang {
	return Language(Negotiate(k.cfg.Locales, uiLocales, userLocale, r.Header.Get("Accept-Language")))
}

// Templates are one package's pages, each parsed with the layout.
type Templates struct {
	byName map[string]*template.Template
}

// layout is the frame of every page: it defines "page", which executes
// the page's own "content" (and optional "title") templates.
//
//go:embed layout.html
var layoutHTML string

// Parse parses each file matching pattern in fsys as a page: a file
// defines "content", shown inside the shared layout; it is rendered by
// its base name ("login.html").
func Parse(fsys fs.FS, pattern string) (*Templates, error) {
	files, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("webui: no page matches %s", pattern)
	}
	t := &Templates{byName: map[string]*template.Template{}}
	for _, f := range files {
		base := template.Must(template.New("layout").Parse(layoutHTML))
		pt, err := base.ParseFS(fsys, f)
		if err != nil {
			return nil, err
		}
		t.byName[path.Base(f)] = pt
	}
	return t, nil
}

// MustParse is Parse for package initialisation.
func MustParse(fsys fs.FS, pattern string) *Templates {
	t, err := Parse(fsys, pattern)
	if err != nil {
		panic(err)
	}
	return t
}

// Page is one page to render.
type Page struct {
	// Name is the template's file name in the Templates.
	Name string
	// Title is the page's title, also the heading unless the page sets
	// its own.
	Title Text
	// Lang is the page's language; nil negotiates it from the request
	// alone.
	Lang *Lang
	// Data is what the page's own template reads as .D.
	Data any
	// Error and Notice are the page's alert and status messages.
	Error, Notice Text
	// FormTargets are origins besides ours that the page's forms may
	// reach, redirects included (CSP).
	FormTargets []string
	// Script allows the kit's copy script (copy.js).
	Script bool
	// Passkey loads and allows the kit's WebAuthn script (passkey.js):
	// only the pages that run a passkey ceremony get script-src 'self'.
	Passkey bool
	// Wide pages (tables) get a wider card.
	Wide bool
}

// view is what templates execute on: the page, its language and the
// brand. Templates call {{.T "login.title"}}, {{.Say .Error}}, {{.D.Field}}.
type view struct {
	Page
	*Lang
	D       any
	Product string
	Links   []Link
	k       *Kit
}

// Asset is the URL of a kit asset ("style.css", "logo"), "" if absent.
func (v view) Asset(name string) string { return v.k.assets[name].url }

// Render writes page p with status. A template error writes a plain 500
// and is logged; nothing half-rendered is sent.
func (k *Kit) Render(w http.ResponseWriter, r *http.Request, t *Templates, status int, p Page) {
	if p.Lang == nil {
		p.Lang = k.Language(r, "", "")
	}
	tmpl := t.byName[p.Name]
	var buf bytes.Buffer
	err := errors.New("no such page")
	if tmpl != nil {
		err = tmpl.ExecuteTemplate(&buf, "page", view{Page: p, Lang: p.Lang, D: p.Data, Product: k.product, Links: k.links, k: k})
	}
	if err != nil {
		k.cfg.Logger.ErrorContext(r.Context(), "render page", "page", p.Name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	SecureHeaders(w.Header(), CSP(CSPOptions{FormTargets: p.FormTargets, Script: p.Script || p.Passkey}))
	w.Header().Set("Content-Language", p.Lang.Tag)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
