package browserlogin

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/webui"
)

// Paths the Handler serves; the proxy sends everything under PathPrefix
// here.
const (
	PathPrefix   = "/oauth2/"
	CallbackPath = "/oauth2/callback" // the redirect URI's path
	SignOutPath  = "/oauth2/sign_out"
	UserInfoPath = "/oauth2/userinfo"
	StartPath    = "/oauth2/start" // ?rd=/return/path: a "sign in" link
)

// Scopes every login asks for on top of Config.Scopes: an ID token, the
// profile claims and a refresh token (SPEC §3: refresh needs
// offline_access).
var baseScopes = []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess}

// Config configures a Handler; the gateway builds it from the gateway
// section of the config file (gateway/browser.go).
type Config struct {
	// Issuer is the issuer identifier (public_url + "/id"). The endpoints
	// are derived from it: /connect/authorize, /connect/token,
	// /connect/endsession.
	Issuer string
	// PublicURL is the gateway's URL as browsers see it; the redirect URI
	// is PublicURL + "/oauth2/callback" and cookies are Secure when it is
	// https.
	PublicURL string
	// ClientID and ClientSecret are the gateway's own Trusted App.
	ClientID     string
	ClientSecret string
	// Scopes are requested in addition to openid, profile and
	// offline_access: normally the gateway app's scopes.
	Scopes []string
	// CookieKeys are 32 bytes each: the first encrypts, all decrypt.
	CookieKeys [][]byte
	// KeySet verifies ID tokens (the issuer's *signing.Keyring) and
	// Algorithms is the JWS "alg" allow-list.
	KeySet     oidc.KeySet
	Algorithms []string
	// HTTPClient reaches the token endpoint. The gateway passes one that
	// calls the issuer's handler in-process (gateway/browser.go).
	HTTPClient *http.Client
	// SessionMaxAge bounds how long a session cookie is accepted after it
	// was last written (a refresh rewrites it). 0 means 30 days. The
	// cookie itself has no Max-Age: it ends with the browser session.
	SessionMaxAge time.Duration
	// RefreshReuseGrace is the issuer's tokens.refresh_reuse_grace: how
	// long after a refresh token was rotated the issuer still answers it
	// with the same successor. A request that still carries the refresh
	// token just replaced gets the result of that refresh from a cache
	// for at most this long after the refresh began (and never longer
	// than a minute), so the gateway never honours a replaced token the
	// issuer would refuse as reused. 0 keeps no results.
	RefreshReuseGrace time.Duration
	// Pages is the page kit: the sign-in error and sign-out
	// confirmation pages, and the landing after sign-out
	// (SignedOutURL).
	Pages  *webui.Kit
	Clock  func() time.Time
	Logger *slog.Logger
}

// Handler is the gateway's browser login: the /oauth2/* endpoints and the
// session the proxy asks for tokens.
type Handler struct {
	cfg         Config
	oauth       *oauth2.Config
	idVerifier  *oidc.IDTokenVerifier
	endSession  string // the issuer's end-session endpoint
	postLogout  string // where the issuer sends the browser after sign-out
	secure      bool   // cookies are Secure (https public URL)
	sessions    *chunkedStore
	tx          *txCodec
	refreshes   singleflight.Group
	recentMu    sync.Mutex
	recent      map[string]recentRefresh // by hash of the refresh token replaced
	lastCleanup time.Time
}

// New checks cfg and builds the Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Issuer == "" || cfg.PublicURL == "" || cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("browserlogin: Issuer, PublicURL, ClientID and ClientSecret are required")
	}
	if cfg.KeySet == nil || cfg.HTTPClient == nil || cfg.Pages == nil || cfg.Clock == nil || cfg.Logger == nil {
		return nil, errors.New("browserlogin: KeySet, HTTPClient, Pages, Clock and Logger are required")
	}
	pub, err := url.Parse(cfg.PublicURL)
	if err != nil || !pub.IsAbs() || (pub.Scheme != "http" && pub.Scheme != "https") {
		return nil, errors.New("browserlogin: PublicURL must be an absolute http(s) URL")
	}
	if cfg.SessionMaxAge <= 0 {
		cfg.SessionMaxAge = 30 * 24 * time.Hour
	}
	secure := pub.Scheme == "https"
	sessions, err := newChunkedStore(cfg.CookieKeys, sessionCookie, cfg.SessionMaxAge, secure)
	if err != nil {
		return nil, err
	}
	tx, err := newTxCodec(cfg.CookieKeys, secure)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(cfg.PublicURL, "/")
	issuer := strings.TrimSuffix(cfg.Issuer, "/")
	h := &Handler{
		cfg: cfg,
		oauth: &oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint: oauth2.Endpoint{
				AuthURL:  issuer + "/connect/authorize",
				TokenURL: issuer + "/connect/token",
				// client_secret_basic, id and secret form-urlencoded first
				// (RFC 6749 §2.3.1), which x/oauth2 does.
				AuthStyle: oauth2.AuthStyleInHeader,
			},
			RedirectURL: base + CallbackPath,
			Scopes:      joinScopes(baseScopes, cfg.Scopes),
		},
		idVerifier: oidc.NewVerifier(cfg.Issuer, cfg.KeySet, &oidc.Config{
			ClientID:             cfg.ClientID,
			SupportedSigningAlgs: cfg.Algorithms,
			Now:                  cfg.Clock,
		}),
		endSession: issuer + "/connect/endsession",
		postLogout: base + "/",
		secure:     secure,
		sessions:   sessions,
		tx:         tx,
		recent:     make(map[string]recentRefresh),
	}
	return h, nil
}

// joinScopes is base followed by the extra scopes not already in it.
func joinScopes(base, extra []string) []string {
	out := append([]string(nil), base...)
	for _, s := range extra {
		dup := false
		for _, b := range out {
			dup = dup || b == s
		}
		if !dup && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// ServeHTTP serves the /oauth2/* endpoints.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case CallbackPath:
		if !allowMethods(w, r, http.MethodGet) {
			return
		}
		h.callback(w, r)
	case SignOutPath:
		if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
			return
		}
		h.signOut(w, r)
	case UserInfoPath:
		if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		h.userInfo(w, r)
	case StartPath:
		if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		h.start(w, r)
	default:
		authority.WriteJSONError(w, http.StatusNotFound, authority.ErrorBody{Error: "not_found", Description: "no such browser login endpoint"})
	}
}

// OwnsCookie reports whether a cookie name is one of the gateway's own,
// which the proxy must not forward upstream.
func (h *Handler) OwnsCookie(name string) bool {
	return strings.HasPrefix(name, sessionCookie+"_") || strings.HasPrefix(name, txCookiePrefix)
}

func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	authority.WriteJSONError(w, http.StatusMethodNotAllowed, authority.ErrorBody{Error: "method_not_allowed", Description: r.Method + " is not allowed here"})
	return false
}
