package browserlogin

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/erpgate/erpgate/signing"
	"github.com/erpgate/erpgate/store/memory"
)

const testClientID = "erpgate"
const testSecret = "gateway-test-secret"

// fakeIssuer is just enough of /id/connect/* for the gateway's client: an
// authorize endpoint that signs "alice" in at once, a token endpoint for
// authorization_code (PKCE S256 checked) and refresh_token (rotating), and
// an end-session endpoint that records its query.
type fakeIssuer struct {
	t      testing.TB
	issuer string
	keys   *signing.Keyring
	clock  func() time.Time

	mu       sync.Mutex
	codes    map[string]authRequest
	refresh  map[string]bool // live refresh tokens
	n        int
	endQuery url.Values

	// Knobs.
	accessTTL    time.Duration
	wrongNonce   bool          // ID tokens carry another nonce
	refreshDelay time.Duration // the refresh grant takes this long
	refuse       atomic.Bool   // refresh grant answers invalid_grant
	refreshCalls atomic.Int32
	bigClaims    bool // pad tokens to RS256-realistic sizes and beyond
}

type authRequest struct {
	challenge, nonce, redirect string
}

func newFakeIssuer(t testing.TB, issuer string, clock func() time.Time) *fakeIssuer {
	k, err := signing.Open(context.Background(), signing.Config{
		Algorithm: "RS256", RotateEvery: 24 * time.Hour, MaxTokenTTL: time.Hour,
		Store: memory.New(), Clock: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fakeIssuer{
		t: t, issuer: issuer, keys: k, clock: clock,
		codes: map[string]authRequest{}, refresh: map[string]bool{},
		accessTTL: time.Hour,
	}
}

func (f *fakeIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimPrefix(r.URL.Path, "/id") {
	case "/connect/authorize":
		f.authorize(w, r)
	case "/connect/token":
		f.token(w, r)
	case "/connect/endsession":
		f.mu.Lock()
		f.endQuery = r.URL.Query()
		f.mu.Unlock()
		_, _ = io.WriteString(w, "signed out at the issuer")
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeIssuer) next(prefix string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return fmt.Sprintf("%s%d", prefix, f.n)
}

func (f *fakeIssuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != testClientID || q.Get("response_type") != "code" || q.Get("state") == "" ||
		q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" {
		http.Error(w, "bad authorize request: "+r.URL.RawQuery, http.StatusBadRequest)
		return
	}
	for _, s := range []string{"openid", "profile", "offline_access", "read"} {
		if !strings.Contains(" "+q.Get("scope")+" ", " "+s+" ") {
			http.Error(w, "scope lacks "+s, http.StatusBadRequest)
			return
		}
	}
	code := f.next("code-")
	f.mu.Lock()
	f.codes[code] = authRequest{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirect: q.Get("redirect_uri")}
	f.mu.Unlock()
	back := url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {f.issuer}}
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+back.Encode(), http.StatusFound)
}

func (f *fakeIssuer) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || id != testClientID || secret != testSecret {
		tokenError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	_ = r.ParseForm()
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		f.mu.Lock()
		ar, ok := f.codes[r.PostForm.Get("code")]
		delete(f.codes, r.PostForm.Get("code"))
		f.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || ar.redirect != r.PostForm.Get("redirect_uri") ||
			base64.RawURLEncoding.EncodeToString(sum[:]) != ar.challenge {
			tokenError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		nonce := ar.nonce
		if f.wrongNonce {
			nonce = "someone-elses-nonce"
		}
		f.issue(w, nonce)
	case "refresh_token":
		f.refreshCalls.Add(1)
		time.Sleep(f.refreshDelay)
		rt := r.PostForm.Get("refresh_token")
		f.mu.Lock()
		live := f.refresh[rt]
		delete(f.refresh, rt) // rotation: single use
		f.mu.Unlock()
		if !live || f.refuse.Load() {
			tokenError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		f.issue(w, "")
	default:
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type")
	}
}

func (f *fakeIssuer) issue(w http.ResponseWriter, nonce string) {
	now := f.clock()
	claims := map[string]any{
		"iss": f.issuer, "aud": []string{"DomainAPI"}, "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(f.accessTTL).Unix(), "jti": f.next("jti-"), "scope": []string{"openid", "profile", "offline_access", "read"},
		"client_id": testClientID, "sid": "sid-1", "sub": "alice", "id": "3f1c2a9e-0000-4000-8000-000000000001",
		"name": "Alice Example", "email": "alice@example.com", "user_type": "internal", "is_admin": false,
	}
	if f.bigClaims {
		claims["padding"] = strings.Repeat("p", 1500)
	}
	at, err := f.keys.Sign(signing.TypeAccessToken, claims)
	if err != nil {
		f.t.Error(err)
	}
	sum := sha256.Sum256([]byte(at))
	idc := map[string]any{
		"iss": f.issuer, "aud": testClientID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"sub": "alice", "sid": "sid-1", "auth_time": now.Unix(), "name": "Alice Example",
		"email": "alice@example.com", "at_hash": base64.RawURLEncoding.EncodeToString(sum[:16]),
	}
	if nonce != "" {
		idc["nonce"] = nonce
	}
	if f.bigClaims {
		idc["padding"] = strings.Repeat("q", 1500)
	}
	it, err := f.keys.Sign(signing.TypeIDToken, idc)
	if err != nil {
		f.t.Error(err)
	}
	rt := f.next("refresh-")
	f.mu.Lock()
	f.refresh[rt] = true
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": at, "token_type": "Bearer", "expires_in": int(f.accessTTL / time.Second),
		"refresh_token": rt, "id_token": it, "scope": "openid profile offline_access read",
	})
}

func tokenError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

// handlerClient calls h in-process, the way the gateway reaches the
// issuer (gateway/browser.go).
func handlerClient(h http.Handler) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Result(), nil
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// env is a gateway (browser login + a protected page) and a fake issuer
// on one test server, and a browser (a client with a cookie jar).
type env struct {
	srv     *httptest.Server
	issuer  *fakeIssuer
	login   *Handler
	browser *http.Client
	now     atomic.Pointer[time.Time]
}

func (e *env) clock() time.Time { return *e.now.Load() }
func (e *env) advance(d time.Duration) {
	t := e.clock().Add(d)
	e.now.Store(&t)
}

// testGrace is the issuer's refresh_reuse_grace in newEnv: the default.
const testGrace = 2 * time.Second

var testKey1 = []byte("0123456789abcdef0123456789abcdef")
var testKey2 = []byte("fedcba9876543210fedcba9876543210")

func newEnv(t *testing.T, tweak func(*fakeIssuer)) *env {
	t.Helper()
	return newEnvLanding(t, tweak, "")
}

// newEnvLanding is newEnv with ui.signed_out_url set to signedOutURL.
func newEnvLanding(t *testing.T, tweak func(*fakeIssuer), signedOutURL string) *env {
	t.Helper()
	e := &env{}
	start := time.Now().Truncate(time.Second)
	e.now.Store(&start)
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.issuer = newFakeIssuer(t, e.srv.URL+"/id", e.clock)
	if tweak != nil {
		tweak(e.issuer)
	}
	var err error
	e.login, err = New(Config{
		Issuer: e.srv.URL + "/id", PublicURL: e.srv.URL, ClientID: testClientID, ClientSecret: testSecret,
		Scopes: []string{"read"}, CookieKeys: [][]byte{testKey1},
		KeySet: e.issuer.keys, Algorithms: signing.Algorithms, HTTPClient: handlerClient(e.issuer),
		RefreshReuseGrace: testGrace, Pages: testKit(t, signedOutURL),
		Clock: e.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/id/", e.issuer)
	mux.Handle("/oauth2/", e.login)
	// A protected page: the token's subject, or a login.
	mux.HandleFunc("/app/", func(w http.ResponseWriter, r *http.Request) {
		tok, ok := e.login.AccessToken(w, r)
		if !ok {
			e.login.StartLogin(w, r)
			return
		}
		c, _ := jwtClaims(tok)
		fmt.Fprintf(w, "hello %v at %s", c["sub"], r.URL.RequestURI())
	})
	jar, _ := cookiejar.New(nil)
	e.browser = &http.Client{Jar: jar, Timeout: 10 * time.Second}
	return e
}

func (e *env) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := e.browser.Get(e.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// noFollow is the browser without following redirects.
func (e *env) noFollow() *http.Client {
	c := *e.browser
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// sessionCookies are the session chunks in the browser's jar.
func (e *env) sessionCookies(t *testing.T) []*http.Cookie {
	u, _ := url.Parse(e.srv.URL + "/")
	var out []*http.Cookie
	for _, c := range e.browser.Jar.Cookies(u) {
		if strings.HasPrefix(c.Name, sessionCookie) {
			out = append(out, c)
		}
	}
	return out
}
