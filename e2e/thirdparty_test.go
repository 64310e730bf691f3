package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Third-party relying parties for the cross-origin browser tests: each
// runs on a listener of its own, so its origin differs from the
// gateway's by port (http://127.0.0.1:W) or by host name
// (http://localhost:W), as apps that are not the gateway do. They use
// the libraries such apps use (x/oauth2, go-oidc) or, for the SPA, only
// what a browser offers (WebCrypto, fetch).

// Registrations of the third-party apps in the gateway's config.
const (
	webRPClient = "com.example/thirdparty-web"
	webRPSecret = "thirdparty-web-demo-secret"
	spaRPClient = "com.example/thirdparty-spa"
)

// listenLoopback listens on a free port of 127.0.0.1.
func listenLoopback(t *testing.T) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return ln, ln.Addr().(*net.TCPAddr).Port
}

// serveRP serves h on ln until the test ends.
func serveRP(t *testing.T, ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: httpTimeout}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// withApps registers apps (YAML list items, two-space indented) in the
// config, first under apps:.
func withApps(t *testing.T, apps ...string) func(string) string {
	return func(cfg string) string {
		i := strings.Index(cfg, "\napps:")
		if i < 0 {
			t.Fatal("config.example.yaml has no top-level apps: list; update e2e/thirdparty_test.go")
		}
		eol := i + 1 + strings.IndexByte(cfg[i+1:], '\n')
		return cfg[:eol+1] + strings.Join(apps, "") + cfg[eol+1:]
	}
}

// rpLog is what a relying party saw: every request, and every refusal,
// printed when the test fails.
type rpLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *rpLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *rpLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// rpRandom is 32 random bytes, base64url: a state or nonce.
func rpRandom() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// webRP is a confidential web app: a server that signs users in with
// the authorization code flow, PKCE S256, state, nonce and iss (RFC
// 9207), as ASP.NET Core's or a Go server's OIDC handler does. One
// listener answers as http://127.0.0.1:PORT and http://localhost:PORT;
// both are registered, and the app answers to the origin the browser
// used.
//
//	/start       to the gateway's authorize endpoint; the query may set
//	             prompt, response_mode, response_type (default code),
//	             ui_locales, acr_values and max_age
//	/callback    the authorization response, by query (GET) or
//	             form_post (POST); a fragment is relayed by a script
//	/logout      to the end_session_endpoint, without id_token_hint; the
//	             query may set ui_locales
//	/signed-out  post_logout_redirect_uri
//	/probe       records requests (tests post forms here)
type webRP struct {
	Port int
	log  rpLog

	mu       sync.Mutex
	issuer   string
	provider *oidc.Provider
	client   *http.Client
	flows    map[string]rpFlow // by state, single use
	logouts  map[string]string // state → origin of the logout
	signIns  []rpSignIn
	probes   []string
}

// rpFlow is what /start keeps for the answer to come back: the flow's
// secrets never leave the app's server.
type rpFlow struct {
	origin, redirectURI        string
	nonce, verifier            string
	responseType, responseMode string
}

// method is how the answer reaches the app's server: a query by GET; a
// form_post, or a fragment the callback page relays, by POST.
func (f rpFlow) method() string {
	hybrid := slices.Contains(strings.Fields(f.responseType), "id_token")
	if f.responseMode == "form_post" || f.responseMode == "fragment" || f.responseMode == "" && hybrid {
		return http.MethodPost
	}
	return http.MethodGet
}

// rpSignIn is one completed sign-in.
type rpSignIn struct {
	Origin  string // where the browser brought the answer
	Method  string // GET (query) or POST (form_post, relayed fragment)
	Subject string
	SID     string
	// AccessToken is the token the app got, for tests that call the
	// gateway's API routes as the app would.
	AccessToken string
}

// startWebRP listens for the web app; it serves once connected to the
// gateway (connect), and its registration is appYAML.
func startWebRP(t *testing.T) *webRP {
	t.Helper()
	ln, port := listenLoopback(t)
	a := &webRP{Port: port, flows: map[string]rpFlow{}, logouts: map[string]string{},
		client: &http.Client{Timeout: httpTimeout}}
	mux := http.NewServeMux()
	mux.HandleFunc("/start", a.start)
	mux.HandleFunc("/callback", a.callback)
	mux.HandleFunc("/logout", a.logout)
	mux.HandleFunc("/signed-out", a.signedOut)
	mux.HandleFunc("/probe", a.probe)
	serveRP(t, ln, a.logged(mux))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("third-party web app (port %d) log:\n%s", port, a.log.String())
		}
	})
	return a
}

// Origin is the app's origin under host (127.0.0.1 or localhost).
func (a *webRP) Origin(host string) string { return "http://" + host + ":" + strconv.Itoa(a.Port) }

// URL is the app's origin as 127.0.0.1; LocalhostURL as localhost.
func (a *webRP) URL() string          { return a.Origin("127.0.0.1") }
func (a *webRP) LocalhostURL() string { return a.Origin("localhost") }

// appYAML registers the app with both origins; each of extra is one
// more key of its entry ("consent: required").
func (a *webRP) appYAML(extra ...string) string {
	s := fmt.Sprintf(`  - uri: %s
    name: Third-party web app
    type: confidential
    secret_hash: %s
    scope: read
    redirect_uris: [%s/callback, %s/callback]
    post_logout_redirect_uris: [%s/signed-out, %s/signed-out]
`, webRPClient, secretHashB64(webRPSecret), a.URL(), a.LocalhostURL(), a.URL(), a.LocalhostURL())
	for _, e := range extra {
		s += "    " + e + "\n"
	}
	return s
}

// connect discovers the gateway's issuer (OIDC Discovery), as the app
// does when it starts.
func (a *webRP) connect(t *testing.T, g *Gateway) {
	t.Helper()
	ctx := oidc.ClientContext(t.Context(), a.client)
	p, err := oidc.NewProvider(ctx, g.Issuer())
	if err != nil {
		t.Fatalf("third-party web app: discovery: %v", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.issuer, a.provider = g.Issuer(), p
}

// SignIns are the sign-ins the app completed.
func (a *webRP) SignIns() []rpSignIn {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.signIns)
}

// Probes are the requests /probe received ("METHOD origin").
func (a *webRP) Probes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.probes)
}

func (a *webRP) logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.log.add("%s http://%s%s", r.Method, r.Host, r.URL.Path)
		h.ServeHTTP(w, r)
	})
}

// origin is the app's origin the browser used, or "" for a Host that is
// neither of the app's names.
func (a *webRP) origin(r *http.Request) string {
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if r.Host == host+":"+strconv.Itoa(a.Port) {
			return a.Origin(host)
		}
	}
	return ""
}

func (a *webRP) connected() (string, *oidc.Provider) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.issuer, a.provider
}

func (a *webRP) oauth(p *oidc.Provider, redirectURI string) *oauth2.Config {
	ep := p.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader // client_secret_basic
	return &oauth2.Config{ClientID: webRPClient, ClientSecret: webRPSecret, Endpoint: ep,
		RedirectURL: redirectURI, Scopes: []string{oidc.ScopeOpenID, "profile", "read"}}
}

// fail refuses the request on the app's own page, id rp-error.
func (a *webRP) fail(w http.ResponseWriter, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	a.log.add("  refused: %s", msg)
	rpPage(w, http.StatusBadRequest, "Error", "rp-error", msg)
}

func (a *webRP) start(w http.ResponseWriter, r *http.Request) {
	origin := a.origin(r)
	_, p := a.connected()
	if origin == "" || p == nil {
		a.fail(w, "unknown host %q or not connected", r.Host)
		return
	}
	q := r.URL.Query()
	f := rpFlow{origin: origin, redirectURI: origin + "/callback", nonce: rpRandom(),
		verifier: oauth2.GenerateVerifier(), responseType: q.Get("response_type"), responseMode: q.Get("response_mode")}
	if f.responseType == "" {
		f.responseType = "code"
	}
	state := rpRandom()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.verifier), oidc.Nonce(f.nonce)}
	if f.responseType != "code" {
		opts = append(opts, oauth2.SetAuthURLParam("response_type", f.responseType))
	}
	for _, k := range []string{"prompt", "response_mode", "ui_locales", "acr_values", "max_age"} {
		if v := q.Get(k); v != "" {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
	}
	a.mu.Lock()
	a.flows[state] = f
	a.mu.Unlock()
	http.Redirect(w, r, a.oauth(p, f.redirectURI).AuthCodeURL(state, opts...), http.StatusFound)
}

// fragmentRelay turns a fragment response (hybrid flow) into a form post
// to the same address, as server apps relay it.
const fragmentRelay = `(() => {
  const f = document.createElement("form");
  f.method = "post";
  f.action = location.pathname;
  for (const [k, v] of new URLSearchParams(location.hash.slice(1))) {
    const i = document.createElement("input");
    i.type = "hidden"; i.name = k; i.value = v;
    f.append(i);
  }
  document.body.append(f);
  f.submit();
})();`

func (a *webRP) callback(w http.ResponseWriter, r *http.Request) {
	origin := a.origin(r)
	issuer, p := a.connected()
	if origin == "" || p == nil {
		a.fail(w, "unknown host %q or not connected", r.Host)
		return
	}
	var params url.Values
	switch r.Method {
	case http.MethodGet:
		params = r.URL.Query()
		if len(params) == 0 {
			// A fragment never reaches the server: relay it.
			sum := sha256.Sum256([]byte(fragmentRelay))
			w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'sha256-"+
				base64.StdEncoding.EncodeToString(sum[:])+"'; form-action 'self'; base-uri 'none'")
			fmt.Fprintf(w, "<!doctype html><title>Signing in</title><body><script>%s</script>", fragmentRelay)
			return
		}
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			a.fail(w, "form: %v", err)
			return
		}
		params = r.PostForm
	default:
		a.fail(w, "method %s", r.Method)
		return
	}
	state := params.Get("state")
	a.mu.Lock()
	f, ok := a.flows[state]
	delete(a.flows, state)
	a.mu.Unlock()
	switch {
	case !ok:
		a.fail(w, "unknown state %q", state)
		return
	case f.origin != origin:
		a.fail(w, "answer for %s arrived at %s", f.origin, origin)
		return
	case r.Method != f.method():
		a.fail(w, "response_mode %q answered by %s", f.responseMode, r.Method)
		return
	case params.Get("iss") != issuer: // RFC 9207 §2.4
		a.fail(w, "iss %q, want %q", params.Get("iss"), issuer)
		return
	case params.Has("error"):
		a.fail(w, "authorization error %s: %s", params.Get("error"), params.Get("error_description"))
		return
	case params.Get("code") == "":
		a.fail(w, "no code")
		return
	}
	ctx := oidc.ClientContext(r.Context(), a.client)
	verifier := p.Verifier(&oidc.Config{ClientID: webRPClient})
	raw := params.Get("id_token")
	if hybrid := slices.Contains(strings.Fields(f.responseType), "id_token"); hybrid != (raw != "") {
		a.fail(w, "response_type %q, but the answer has id_token %v", f.responseType, raw != "")
		return
	}
	if raw != "" {
		// Hybrid flow: the front-channel ID token binds the code (OIDC
		// Core §3.3.2.10, c_hash).
		idt, err := verifier.Verify(ctx, raw)
		if err != nil {
			a.fail(w, "front-channel ID token: %v", err)
			return
		}
		if err := checkCHash(idt, raw, params.Get("code")); err != nil {
			a.fail(w, "front-channel ID token: %v", err)
			return
		}
		if idt.Nonce != f.nonce {
			a.fail(w, "front-channel ID token nonce %q, want %q", idt.Nonce, f.nonce)
			return
		}
	}
	tok, err := a.oauth(p, f.redirectURI).Exchange(ctx, params.Get("code"), oauth2.VerifierOption(f.verifier))
	if err != nil {
		a.fail(w, "code exchange: %v", err)
		return
	}
	raw, _ = tok.Extra("id_token").(string)
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		a.fail(w, "ID token: %v", err)
		return
	}
	if idt.Nonce != f.nonce {
		a.fail(w, "ID token nonce %q, want %q", idt.Nonce, f.nonce)
		return
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil { // at_hash
		a.fail(w, "ID token: %v", err)
		return
	}
	var claims struct {
		SID string `json:"sid"`
	}
	if err := idt.Claims(&claims); err != nil {
		a.fail(w, "ID token claims: %v", err)
		return
	}
	a.mu.Lock()
	a.signIns = append(a.signIns, rpSignIn{Origin: origin, Method: r.Method, Subject: idt.Subject, SID: claims.SID, AccessToken: tok.AccessToken})
	a.mu.Unlock()
	rpPage(w, http.StatusOK, "Signed in", "signed-in-as", idt.Subject)
}

// checkCHash checks the ID token's c_hash against code: the left half of
// the hash of the code, the hash being that of the token's algorithm.
func checkCHash(idt *oidc.IDToken, raw, code string) error {
	var claims struct {
		CHash string `json:"c_hash"`
	}
	if err := idt.Claims(&claims); err != nil {
		return err
	}
	head, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	var h struct {
		Alg string `json:"alg"`
	}
	if err == nil {
		err = json.Unmarshal(b, &h)
	}
	if err != nil {
		return fmt.Errorf("header: %v", err)
	}
	var sum hash.Hash
	switch h.Alg {
	case "RS256", "ES256", "PS256":
		sum = sha256.New()
	case "EdDSA", "RS512", "ES512", "PS512":
		sum = sha512.New()
	default:
		return fmt.Errorf("c_hash for alg %q not known to the test app", h.Alg)
	}
	sum.Write([]byte(code))
	d := sum.Sum(nil)
	if want := base64.RawURLEncoding.EncodeToString(d[:len(d)/2]); claims.CHash != want {
		return fmt.Errorf("c_hash %q, want %q", claims.CHash, want)
	}
	return nil
}

func (a *webRP) logout(w http.ResponseWriter, r *http.Request) {
	origin := a.origin(r)
	_, p := a.connected()
	if origin == "" || p == nil {
		a.fail(w, "unknown host %q or not connected", r.Host)
		return
	}
	var d struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&d); err != nil || d.EndSession == "" {
		a.fail(w, "discovery has no end_session_endpoint (%v)", err)
		return
	}
	state := rpRandom()
	a.mu.Lock()
	a.logouts[state] = origin
	a.mu.Unlock()
	// RP-Initiated Logout 1.0 §2, without id_token_hint: the gateway
	// asks the user to confirm.
	q := url.Values{"client_id": {webRPClient}, "post_logout_redirect_uri": {origin + "/signed-out"}, "state": {state}}
	if v := r.URL.Query().Get("ui_locales"); v != "" {
		q.Set("ui_locales", v) // §2: the user's preferred languages
	}
	http.Redirect(w, r, d.EndSession+"?"+q.Encode(), http.StatusFound)
}

func (a *webRP) signedOut(w http.ResponseWriter, r *http.Request) {
	state := r.URL.Query().Get("state")
	a.mu.Lock()
	origin, ok := a.logouts[state]
	delete(a.logouts, state)
	a.mu.Unlock()
	switch {
	case !ok:
		a.fail(w, "unknown logout state %q", state)
	case origin != a.origin(r):
		a.fail(w, "logout from %s returned to %s", origin, a.origin(r))
	default:
		rpPage(w, http.StatusOK, "Signed out", "signed-out", "You are signed out.")
	}
}

func (a *webRP) probe(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.probes = append(a.probes, r.Method+" "+a.origin(r))
	a.mu.Unlock()
	rpPage(w, http.StatusOK, "Probe", "probe", "received")
}

var rpPageTemplate = template.Must(template.New("rp").Parse(
	`<!doctype html><html lang="en"><title>{{.Title}}</title><h1>Third-party app</h1><p id="{{.ID}}">{{.Text}}</p>`))

// rpPage writes a page of the app: one paragraph with id.
func rpPage(w http.ResponseWriter, status int, title, id, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; base-uri 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = rpPageTemplate.Execute(w, struct{ Title, ID, Text string }{title, id, text})
}

// spaRP is a public single-page app: static HTML and one script, served
// from its own origin, that do code + PKCE S256 in the browser
// (WebCrypto; loopback http origins are secure contexts), exchange the
// code with fetch at the token endpoint (CORS) and show the ID token's
// sub in #signed-in-as, or what went wrong in #rp-error.
//
//	/start, /callback  the page (the script tells them apart)
//	/app.js            the script
//	/probe             records requests
type spaRP struct {
	Port int
	log  rpLog

	mu     sync.Mutex
	issuer string
	probes []string
}

func startSPA(t *testing.T) *spaRP {
	t.Helper()
	ln, port := listenLoopback(t)
	s := &spaRP{Port: port}
	mux := http.NewServeMux()
	mux.HandleFunc("/start", s.page)
	mux.HandleFunc("/callback", s.page)
	mux.HandleFunc("/app.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(spaScript))
	})
	mux.HandleFunc("/probe", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.probes = append(s.probes, r.Method+" "+r.Host)
		s.mu.Unlock()
		rpPage(w, http.StatusOK, "Probe", "probe", "received")
	})
	serveRP(t, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.add("%s http://%s%s", r.Method, r.Host, r.URL.Path)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("third-party SPA (port %d) log:\n%s", port, s.log.String())
		}
	})
	return s
}

// URL is the SPA's origin.
func (s *spaRP) URL() string { return "http://127.0.0.1:" + strconv.Itoa(s.Port) }

func (s *spaRP) appYAML() string {
	return fmt.Sprintf(`  - uri: %s
    name: Third-party SPA
    type: public
    scope: read
    redirect_uris: [%s/callback]
    post_logout_redirect_uris: [%s/]
`, spaRPClient, s.URL(), s.URL())
}

func (s *spaRP) connect(g *Gateway) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issuer = g.Issuer()
}

// Probes are the requests /probe received.
func (s *spaRP) Probes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.probes)
}

var spaPageTemplate = template.Must(template.New("spa").Parse(
	`<!doctype html><html lang="en" data-issuer="{{.Issuer}}" data-client-id="{{.ClientID}}">` +
		`<title>Third-party SPA</title><h1>Third-party SPA</h1><main id="out"><p>Loading…</p></main>` +
		`<script src="/app.js"></script></html>`))

func (s *spaRP) page(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	issuer := s.issuer
	s.mu.Unlock()
	if issuer == "" {
		http.Error(w, "not connected", http.StatusServiceUnavailable)
		return
	}
	// The script may talk to the gateway only; nothing else may load,
	// post or frame.
	gw, _ := url.Parse(issuer)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src "+gw.Scheme+"://"+gw.Host+
		"; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer") // the code stays out of Referer
	h.Set("Cache-Control", "no-store")
	_ = spaPageTemplate.Execute(w, struct{ Issuer, ClientID string }{issuer, spaRPClient})
}

// spaScript is the SPA. It keeps the flow's secrets in sessionStorage
// of its own origin.
const spaScript = `"use strict";
const root = document.documentElement;
const issuer = root.dataset.issuer, clientId = root.dataset.clientId;
const redirectUri = location.origin + "/callback";

function show(id, text) {
  const p = document.createElement("p");
  p.id = id;
  p.textContent = text;
  document.getElementById("out").replaceChildren(p);
}
function b64url(buf) {
  let s = "";
  for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
const random = () => b64url(crypto.getRandomValues(new Uint8Array(32)));

async function discover() {
  const r = await fetch(issuer + "/.well-known/openid-configuration");
  if (!r.ok) throw new Error("discovery: HTTP " + r.status);
  const d = await r.json();
  if (d.issuer !== issuer) throw new Error("discovery names issuer " + d.issuer);
  return d;
}

async function start() {
  const d = await discover();
  const flow = {verifier: random(), state: random(), nonce: random()};
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(flow.verifier)));
  sessionStorage.setItem("flow", JSON.stringify(flow));
  const q = new URLSearchParams({
    response_type: "code", client_id: clientId, redirect_uri: redirectUri, scope: "openid profile read",
    state: flow.state, nonce: flow.nonce, code_challenge: challenge, code_challenge_method: "S256",
  });
  const prompt = new URLSearchParams(location.search).get("prompt");
  if (prompt) q.set("prompt", prompt);
  location.assign(d.authorization_endpoint + "?" + q);
}

async function callback() {
  const q = new URLSearchParams(location.search);
  const flow = JSON.parse(sessionStorage.getItem("flow") || "null");
  sessionStorage.removeItem("flow");
  history.replaceState(null, "", location.pathname); // the code leaves the address bar
  if (!flow || q.get("state") !== flow.state) throw new Error("state does not match");
  if (q.get("iss") !== issuer) throw new Error("iss " + q.get("iss") + ", want " + issuer); // RFC 9207
  if (q.has("error")) throw new Error(q.get("error") + ": " + q.get("error_description"));
  const d = await discover();
  let r;
  try {
    r = await fetch(d.token_endpoint, {method: "POST", body: new URLSearchParams({
      grant_type: "authorization_code", code: q.get("code"), redirect_uri: redirectUri,
      client_id: clientId, code_verifier: flow.verifier,
    })});
  } catch (e) {
    throw new Error("token endpoint " + d.token_endpoint + " unreadable from " + location.origin +
      " (no Access-Control-Allow-Origin?): " + e.message);
  }
  const tok = await r.json();
  if (!r.ok) throw new Error("token endpoint: HTTP " + r.status + " " + JSON.stringify(tok));
  // Received straight from the token endpoint, so the claims are read,
  // not verified by signature (OIDC Core §3.1.3.7).
  const claims = JSON.parse(atob(tok.id_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  if (claims.iss !== issuer || ![].concat(claims.aud).includes(clientId) || claims.nonce !== flow.nonce) {
    throw new Error("ID token claims " + JSON.stringify(claims));
  }
  show("signed-in-as", claims.sub);
}

(location.pathname === "/callback" ? callback() : start())
  .catch(e => show("rp-error", String(e && e.message || e)));
`
