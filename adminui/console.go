package adminui

import (
	"crypto/subtle"
	"embed"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"golang.org/x/oauth2"

	"github.com/erpgate/erpgate/admin"
	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/webui"
)

// Path is where the console is served on the admin listener; every page
// and its cookie are under it.
const Path = "/admin/ui"

// StaticPath is where the console serves the page kit's assets (the
// identity server's are on the public listener, another origin, which
// the pages' CSP does not allow).
const StaticPath = Path + "/static"

// Scope is the scope the console asks for: the admin API's.
const Scope = admin.ScopeSec

//go:embed web/*.html
var webFS embed.FS

// pages are the console's templates, in the kit's layout.
var pages = webui.MustParse(webFS, "web/*.html")

// Authorizer judges a console request's token as the admin API judges
// its callers: *admin.Handler.
type Authorizer interface {
	Authorize(r *http.Request, cred authority.Credential) (*claims.Access, *authority.Refusal)
}

var _ Authorizer = (*admin.Handler)(nil)

// Config configures the console; the gateway builds it
// (gateway/adminui.go).
type Config struct {
	Admin    Authorizer
	Sessions admin.Sessions
	Apps     admin.Apps
	Tokens   admin.Tokens
	// Users, when set, enables the users pages.
	Users admin.Users
	// Recent, when set, enables the latest-events page.
	Recent *audit.Recent
	Audit  *audit.Logger // nil discards
	// IdentityProviders, when set, are the running config's
	// identity_providers (a reload may change them), which the app form
	// offers for an app's login page.
	IdentityProviders func() []IdentityProvider
	// Pages is the page kit of the current config (the operator's
	// branding, which a reload may change); its AssetsPath must be
	// StaticPath.
	Pages func() *webui.Kit

	// ClientID is the console's built-in app (config.AdminConsoleApp).
	ClientID string
	// Issuer is the identity server (public_url + "/id"): browsers are
	// sent to its authorization and end-session endpoints, and its
	// authorization responses must name it (RFC 9207).
	Issuer string
	// URL is the console's origin as browsers reach it ("http://127.0.0.1:9090").
	URL string
	// TokenClient reaches the issuer's token endpoint (in-process).
	TokenClient *http.Client
	// CookieKeys encrypt and authenticate the console's cookies
	// (gateway.cookie_keys, 32 bytes each; the first encrypts).
	CookieKeys [][]byte
	Clock      func() time.Time
	Logger     *slog.Logger
}

// Console serves the admin console under Path.
type Console struct {
	cfg     Config
	mux     *http.ServeMux
	session *sessions.CookieStore // the signed-in console session
	login   *sessions.CookieStore // one sign-in in progress
	oauth   *oauth2.Config
	secure  bool // the console is on https: Secure cookies
}

// New checks cfg and builds the console.
func New(cfg Config) (*Console, error) {
	switch {
	case cfg.Admin == nil || cfg.Sessions == nil || cfg.Apps == nil || cfg.Tokens == nil:
		return nil, errors.New("adminui: Admin, Sessions, Apps and Tokens are required")
	case cfg.Pages == nil || cfg.Logger == nil || cfg.TokenClient == nil:
		return nil, errors.New("adminui: Pages, Logger and TokenClient are required")
	case cfg.ClientID == "" || cfg.Issuer == "" || cfg.URL == "":
		return nil, errors.New("adminui: ClientID, Issuer and URL are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, errors.New("adminui: URL must be an http(s) origin")
	}
	c := &Console{cfg: cfg, mux: http.NewServeMux(), secure: u.Scheme == "https"}
	if c.session, err = cookieStore(cfg.CookieKeys, sessionMaxAge, c.secure); err != nil {
		return nil, err
	}
	if c.login, err = cookieStore(cfg.CookieKeys, loginMaxAge, c.secure); err != nil {
		return nil, err
	}
	c.oauth = &oauth2.Config{
		ClientID: cfg.ClientID,
		Endpoint: oauth2.Endpoint{
			AuthURL: cfg.Issuer + "/connect/authorize", TokenURL: cfg.Issuer + "/connect/token",
			AuthStyle: oauth2.AuthStyleInParams, // a public client: client_id in the form (RFC 6749 §2.3)
		},
		RedirectURL: RedirectURI(cfg.URL),
		Scopes:      []string{Scope},
	}
	c.routes()
	return c, nil
}

// RedirectURI is the console's callback at origin: the built-in app's
// redirect URI.
func RedirectURI(origin string) string { return origin + Path + "/callback" }

// SignedOutURI is where the identity server sends the browser back after
// sign-out: the built-in app's post-logout redirect URI.
func SignedOutURI(origin string) string { return origin + Path + "/signed-out" }

func (c *Console) routes() {
	m := c.mux
	m.Handle("GET "+StaticPath+"/", http.StripPrefix(StaticPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.cfg.Pages().Assets().ServeHTTP(w, r)
	})))
	m.HandleFunc("GET "+Path+"/login", c.handleLogin)       // signin.go
	m.HandleFunc("GET "+Path+"/callback", c.handleCallback) // signin.go
	m.HandleFunc("GET "+Path+"/signed-out", c.handleSignedOut)
	m.HandleFunc("POST "+Path+"/signout", c.handleSignOut)

	m.HandleFunc("GET "+Path+"/{$}", c.page(c.handleLicense)) // license.go
	m.HandleFunc("GET "+Path+"/sessions", c.page(c.handleSessions))
	m.HandleFunc("POST "+Path+"/sessions/end", c.action(c.handleEndSession))
	m.HandleFunc("GET "+Path+"/apps", c.page(c.handleApps)) // apps.go
	m.HandleFunc("GET "+Path+"/apps/new", c.page(c.handleNewApp))
	m.HandleFunc("POST "+Path+"/apps/new", c.action(c.handleCreateApp))
	m.HandleFunc("GET "+Path+"/apps/edit", c.page(c.handleEditApp))
	m.HandleFunc("POST "+Path+"/apps/edit", c.action(c.handleUpdateApp))
	m.HandleFunc("POST "+Path+"/apps/enable", c.action(c.handleEnableApp(true)))
	m.HandleFunc("POST "+Path+"/apps/disable", c.action(c.handleEnableApp(false)))
	m.HandleFunc("POST "+Path+"/apps/secret", c.action(c.handleRotateSecret))
	m.HandleFunc("GET "+Path+"/tokens", c.page(c.handleTokens)) // tokens.go
	m.HandleFunc("POST "+Path+"/tokens", c.action(c.handleIssueToken))
	m.HandleFunc("POST "+Path+"/tokens/revoke", c.action(c.handleRevokeToken))
	if c.cfg.Users != nil { // users.go
		m.HandleFunc("GET "+Path+"/users", c.page(c.handleUsers))
		m.HandleFunc("GET "+Path+"/users/new", c.page(c.handleNewUser))
		m.HandleFunc("POST "+Path+"/users/new", c.action(c.handleCreateUser))
		m.HandleFunc("GET "+Path+"/users/edit", c.page(c.handleEditUser))
		m.HandleFunc("POST "+Path+"/users/edit", c.action(c.handleUpdateUser))
		m.HandleFunc("POST "+Path+"/users/enable", c.action(c.handleEnableUser(true)))
		m.HandleFunc("POST "+Path+"/users/disable", c.action(c.handleEnableUser(false)))
		m.HandleFunc("POST "+Path+"/users/password", c.action(c.handleSetPassword))
		m.HandleFunc("POST "+Path+"/users/reset", c.action(c.handleResetLink))
		m.HandleFunc("POST "+Path+"/users/delete", c.action(c.handleDeleteUser))
		m.HandleFunc("POST "+Path+"/users/factors", c.action(c.handleResetFactors))
	}
	if c.cfg.Recent != nil {
		m.HandleFunc("GET "+Path+"/events", c.page(c.handleEvents)) // events.go
	}
	m.HandleFunc(Path+"/", func(w http.ResponseWriter, r *http.Request) {
		c.message(w, r, nil, http.StatusNotFound, webui.Msg("console.notfound.title"), webui.Msg("console.notfound.text"))
	})
}

// ServeHTTP serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.mux.ServeHTTP(w, r) }

// req is one authorized console request: who is signed in, and the
// anti-forgery token of the forms its page shows.
type req struct {
	caller *claims.Access
	csrf   string
	// login is who is signed in when the console refused them (not an
	// administrator): the page offers them to sign out.
	login string
}

// handlerFunc is a console page or action, called once the request is
// authorized (and, for an action, its form read and its anti-forgery
// token checked).
type handlerFunc func(w http.ResponseWriter, r *http.Request, q *req)

// page serves a GET page to an administrator.
func (c *Console) page(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, r, ok := c.authorize(w, r)
		if ok {
			h(w, r, q)
		}
	}
}

// maxFormBytes bounds a console form.
const maxFormBytes = 64 << 10

// action serves a POST of a console form: authorized as a page is, then
// the form read within maxFormBytes and its anti-forgery token checked
// (a form another site posts carries none: OWASP's synchronizer token).
func (c *Console) action(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			c.message(w, r, nil, http.StatusBadRequest, webui.Msg("console.error.title"), webui.Msg("error.malformed"))
			return
		}
		q, r, ok := c.authorize(w, r)
		if !ok {
			return
		}
		if got := r.PostForm.Get("csrf_token"); got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(q.csrf)) != 1 {
			c.message(w, r, q, http.StatusForbidden, webui.Msg("console.error.title"), webui.Msg("error.form_expired"))
			return
		}
		h(w, r, q)
	}
}

// authorize judges the request's console session. Without one, or with
// a token the authority refuses (expired, revoked, its session ended),
// the browser is sent to sign in and come back; a token that is good but
// not an administrator's gets a page saying so. The returned request
// carries the caller for the audit lines (admin.WithCaller).
func (c *Console) authorize(w http.ResponseWriter, r *http.Request) (*req, *http.Request, bool) {
	s := c.readSession(r)
	if s.token == "" {
		c.signIn(w, r)
		return nil, r, false
	}
	caller, ref := c.cfg.Admin.Authorize(r, authority.Credential{Source: authority.SourceCookie, Token: s.token})
	switch {
	case ref == nil:
		return &req{caller: caller, csrf: s.csrf}, r.WithContext(admin.WithCaller(r.Context(), caller)), true
	case ref.Reason == admin.ReasonNotAdmin || ref.Reason == admin.ReasonNoSec:
		q := &req{csrf: s.csrf}
		if ref.Claims != nil {
			q.login = ref.Claims.Principal()
		}
		c.message(w, r, q, http.StatusForbidden, webui.Msg("console.notadmin.title"), webui.Msg("console.notadmin.text"))
	case ref.Reason == authority.ReasonUnavailable:
		c.unavailable(w, r, nil)
	default:
		c.signIn(w, r)
	}
	return nil, r, false
}

// signIn sends the browser to sign in and come back to this page; after
// a POST, to the page of the form (what was typed is lost: the token had
// expired).
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	back := r.URL.Path
	if r.Method == http.MethodGet && r.URL.RawQuery != "" {
		back += "?" + r.URL.RawQuery
	}
	if r.Method != http.MethodGet && !c.hasPage(back) {
		back = path.Dir(back) + "/" // /admin/ui/sessions/end → /admin/ui/sessions/
		if back != Path+"/" {
			back = strings.TrimSuffix(back, "/")
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	status := http.StatusFound
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		status = http.StatusSeeOther
	}
	http.Redirect(w, r, Path+"/login?rd="+url.QueryEscape(back), status)
}

// hasPage reports whether p is a console page (a GET route of its own).
func (c *Console) hasPage(p string) bool {
	_, pattern := c.mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: p}, Host: "console"})
	return strings.HasPrefix(pattern, "GET ")
}

// tab is one link of the console's navigation.
type tab struct {
	ID, Href string
	Label    webui.Text
	Current  bool
}

// frame is what every console page's template reads as .D besides its
// own fields.
type frame struct {
	Base  string // Path, for links and form actions
	CSRF  string
	Admin string // the signed-in administrator's login
	Nav   []tab
}

// frame builds the frame of the page at path for q.
func (c *Console) frame(q *req, path string) frame {
	f := frame{Base: Path}
	if q == nil {
		return f
	}
	f.CSRF, f.Admin = q.csrf, q.login
	if q.caller != nil {
		f.Admin = q.caller.Principal()
		tabs := []tab{
			{ID: "nav-license", Href: "/", Label: webui.Msg("console.nav.license")},
			{ID: "nav-sessions", Href: "/sessions", Label: webui.Msg("console.nav.sessions")},
			{ID: "nav-apps", Href: "/apps", Label: webui.Msg("console.nav.apps")},
			{ID: "nav-tokens", Href: "/tokens", Label: webui.Msg("console.nav.tokens")},
		}
		if c.cfg.Users != nil {
			tabs = append(tabs, tab{ID: "nav-users", Href: "/users", Label: webui.Msg("console.nav.users")})
		}
		if c.cfg.Recent != nil {
			tabs = append(tabs, tab{ID: "nav-events", Href: "/events", Label: webui.Msg("console.nav.events")})
		}
		for i := range tabs {
			tabs[i].Current = tabs[i].Href == path
			tabs[i].Href = Path + tabs[i].Href
		}
		f.Nav = tabs
	}
	return f
}

// render writes a console page in the administrator's language.
func (c *Console) render(w http.ResponseWriter, r *http.Request, q *req, status int, p webui.Page) {
	locale := ""
	if q != nil && q.caller != nil {
		locale = q.caller.Locale
	}
	kit := c.cfg.Pages()
	p.Lang = kit.Language(r, "", locale)
	p.Wide = true
	// The sign-out form's answer redirects to the identity server's
	// end-session endpoint, which form-action must allow (CSP3 §6.7.2.10).
	p.FormTargets = append(p.FormTargets, c.cfg.Issuer)
	kit.Render(w, r, pages, status, p)
}

// messageData is what web/message.html reads as .D.
type messageData struct {
	frame
	Next     string
	NextText webui.Text
}

// message renders a page that only says something; q may be nil.
func (c *Console) message(w http.ResponseWriter, r *http.Request, q *req, status int, title, text webui.Text) {
	d := messageData{frame: c.frame(q, "")}
	if status == http.StatusNotFound && q == nil {
		d.Next, d.NextText = Path+"/", webui.Msg("console.back_home")
	}
	p := webui.Page{Name: "message.html", Title: title, Data: d}
	if status >= 400 {
		p.Error = text
	} else {
		p.Notice = text
	}
	c.render(w, r, q, status, p)
}

// unavailable answers 503 when the store could not be reached.
func (c *Console) unavailable(w http.ResponseWriter, r *http.Request, q *req) {
	w.Header().Set("Retry-After", "1")
	c.message(w, r, q, http.StatusServiceUnavailable, webui.Msg("console.error.title"), webui.Msg("error.try_again_shortly"))
}

// failed logs err (a store failure) and answers 503.
func (c *Console) failed(w http.ResponseWriter, r *http.Request, q *req, what string, err error) {
	c.cfg.Logger.ErrorContext(r.Context(), "admin console: "+what, "err", err)
	c.unavailable(w, r, q)
}

// done sends the browser back to a page after an action, with a notice
// (post/redirect/get: a reload does not post again).
func (c *Console) done(w http.ResponseWriter, r *http.Request, page, notice string) {
	sep := "?"
	if strings.Contains(page, "?") {
		sep = "&"
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, Path+page+sep+"done="+url.QueryEscape(notice), http.StatusSeeOther)
}

// notices are the texts a "done" parameter may name: only these are
// shown, so a crafted link cannot make the console say anything else.
var notices = map[string]string{
	"session_ended": "console.done.session_ended",
	"app_updated":   "console.done.app_updated",
	"app_enabled":   "console.done.app_enabled",
	"app_disabled":  "console.done.app_disabled",
	"token_revoked": "console.done.token_revoked",
	"user_created":  "console.done.user_created",
	"user_updated":  "console.done.user_updated",
	"user_enabled":  "console.done.user_enabled",
	"user_disabled": "console.done.user_disabled",
	"user_password": "console.done.user_password",
	"user_deleted":  "console.done.user_deleted",
	"factors_reset": "console.done.factors_reset",
}

// notice is the page's notice from its "done" parameter.
func notice(r *http.Request) webui.Text {
	if k, ok := notices[r.URL.Query().Get("done")]; ok {
		return webui.Msg(k)
	}
	return webui.Text{}
}

// auditChange writes the admin.change line the API writes for the same
// action.
func (c *Console) auditChange(r *http.Request, what, target string) {
	admin.AuditChange(c.cfg.Audit, r, what, target)
}

// isoTime is t for a <time datetime> attribute; "" for zero.
func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// queryEscape escapes a query value.
func queryEscape(s string) string { return url.QueryEscape(s) }
