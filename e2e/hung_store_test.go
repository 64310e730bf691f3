package e2e

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/erpgate/erpgate/sampleapi"
)

// hungTimeout is the gateway's store.timeout in TestHungStore.
const hungTimeout = time.Second

// hungBound is how long any request may take while the database does
// not answer: the store's deadline, once more for a lock or a flight
// some other caller holds on the same deadline, and a second of slack
// for a loaded test machine.
const hungBound = 2*hungTimeout + time.Second

// freezeProxy forwards loopback connections to a PostgreSQL server.
// Freeze makes it a host that stopped answering: connections stay open,
// new ones are accepted, and nothing is forwarded either way (nor an
// end of connection) until Restore. Cut makes it a server that went
// away: every connection is closed, new ones as soon as accepted.
type freezeProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cond  *sync.Cond // broadcast whenever state changes
	state proxyState
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

type proxyState int

const (
	forwarding proxyState = iota
	frozen
	cut
)

// startFreezeProxy listens on a free loopback port until the test ends.
func startFreezeProxy(t *testing.T, target string) *freezeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.set(cut)
		p.wg.Wait()
	})
	return p
}

func (p *freezeProxy) Addr() string { return p.ln.Addr().String() }
func (p *freezeProxy) Freeze()      { p.set(frozen) }
func (p *freezeProxy) Cut()         { p.set(cut) }
func (p *freezeProxy) Restore()     { p.set(forwarding) }

func (p *freezeProxy) set(s proxyState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = s
	if s == cut {
		for c := range p.conns {
			c.Close()
		}
	}
	p.cond.Broadcast()
}

// flowing waits while the proxy is frozen and reports whether it
// forwards (false: cut).
func (p *freezeProxy) flowing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.state == frozen {
		p.cond.Wait()
	}
	return p.state == forwarding
}

func (p *freezeProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

func (p *freezeProxy) forward(c net.Conn) {
	defer p.wg.Done()
	if !p.track(c) {
		return
	}
	defer p.untrack(c)
	// A frozen host accepts the connection (its kernel does) and then
	// says nothing.
	if !p.flowing() {
		return
	}
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(s) {
		return
	}
	defer p.untrack(s)
	done := make(chan struct{}, 2)
	go p.pipe(s, c, done)
	go p.pipe(c, s, done)
	<-done // one side ended (passed on once forwarding): end both
	c.Close()
	s.Close()
	<-done
}

// pipe copies src to dst, holding what it read while frozen.
func (p *freezeProxy) pipe(dst, src net.Conn, done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if !p.flowing() {
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// track registers c, or closes it if the proxy is cut.
func (p *freezeProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == cut {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *freezeProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// TestHungStore runs `erpgate serve` on PostgreSQL with store.timeout
// 1s, through a proxy that first freezes (stops forwarding without
// closing anything, as a host that hangs) and then cuts (closes every
// connection, as a server that stopped). In both, every request that
// needs the store answers within hungBound with 503
// temporarily_unavailable, /readyz says not ready on every probe, a
// session the gateway knows goes on working, and everything works again
// once the database is back (issue 15).
func TestHungStore(t *testing.T) {
	t.Parallel()
	pg := requirePostgres(t)
	bin := erpgateBinary(t)

	schema := "erpgate_e2e_hung_" + randomHex(6)
	if err := pgExec(t, pg, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("CREATE SCHEMA: %v", err)
	}
	t.Cleanup(func() {
		if err := pgExec(t, pg, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("DROP SCHEMA %s: %v", schema, err)
		}
	})
	proxy := startFreezeProxy(t, net.JoinHostPort(pg.Host, strconv.Itoa(int(pg.Port))))
	// No connect_timeout: a connection opened while the host hangs waits
	// as long as the pool lets it, and the gateway must not.
	u := url.URL{Scheme: "postgres", Host: proxy.Addr(), Path: "/" + pg.Database, User: url.User(pg.User)}
	if pg.Password != "" {
		u.User = url.UserPassword(pg.User, pg.Password)
	}
	u.RawQuery = url.Values{"sslmode": {"disable"}, "search_path": {schema}}.Encode()

	upstream := httptest.NewServer(sampleapi.New())
	t.Cleanup(upstream.Close)
	g := prepareReplica(t, "hung", u.String(), upstream.Listener.Addr().(*net.TCPAddr).Port, "")
	cfg, err := os.ReadFile(g.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(cfg), "\nstore:\n") != 1 {
		t.Fatal("the replica config has no single store section; update e2e/hung_store_test.go")
	}
	cfg = []byte(strings.Replace(string(cfg), "\nstore:\n", "\nstore:\n  timeout: "+hungTimeout.String()+"\n", 1))
	if err := os.WriteFile(g.ConfigPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.start(bin); err != nil {
		t.Fatalf("starting erpgate serve: %v", err)
	}

	for _, mode := range []struct {
		name string
		stop func()
	}{{"Freeze", proxy.Freeze}, {"Cut", proxy.Cut}} {
		t.Run(mode.name, func(t *testing.T) { hungStoreRound(t, g, mode.stop, proxy.Restore) })
	}
}

// outcome is one answer during the outage.
type outcome struct {
	status     int
	code       string // the OAuth error: JSON "error", or a redirect's error parameter
	retryAfter string
	took       time.Duration
	err        error
}

func (o outcome) String() string {
	if o.err != nil {
		return fmt.Sprintf("%v after %s", o.err, o.took.Round(time.Millisecond))
	}
	return fmt.Sprintf("%d %s (Retry-After %q) after %s", o.status, o.code, o.retryAfter, o.took.Round(time.Millisecond))
}

// hungStoreRound prepares a request of every class while the database
// answers, sends them all while it does not (stop), and checks the
// answers and the recovery after restore.
func hungStoreRound(t *testing.T, g *Gateway, stop, restore func()) {
	mark := len(g.Stderr())
	ops := g.token(t, opsClient, opsSecret)
	if resp := adminCall(t, g, http.MethodGet, "/admin/sessions", ops, ""); resp.Status != http.StatusOK {
		t.Fatalf("GET /admin/sessions: %s", resp)
	}
	refresher := signInAlice(t, g, g) // her refresh token is used in the outage
	leaver := signInAlice(t, g, g)    // she signs out in the outage
	known := g.token(t, syncClient, syncSecret)
	sessionOf(t, g, known)
	fresh := g.token(t, syncClient, syncSecret)     // its first call opens a session
	inspected := g.token(t, syncClient, syncSecret) // introspected, no session yet
	sso := newCodeBrowser(g)
	code := sso.signIn(t) // a code not yet redeemed, and an identity cookie
	loginForm := newCodeBrowser(g)
	form := loginForm.loginPage(t) // the form, posted in the outage

	tokenForm := func(v url.Values) func(*http.Client) (*http.Response, error) {
		return func(c *http.Client) (*http.Response, error) { return c.PostForm(g.TokenURL(), v) }
	}
	get := func(u, bearer string) func(*http.Client) (*http.Response, error) {
		return func(c *http.Client) (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			if bearer != "" {
				req.Header.Set("Authorization", "Bearer "+bearer)
			}
			return c.Do(req)
		}
	}
	// A class with pending set is known to answer otherwise today; its
	// bound is still checked, its answer only logged. Remove pending
	// when the answer is right.
	type class struct {
		name    string
		client  *http.Client // nil: a plain one
		send    func(*http.Client) (*http.Response, error)
		html    bool          // a page for a browser: the status is what counts
		bound   time.Duration // 0: hungBound
		pending string
	}
	classes := []class{
		{name: "refresh_token grant", send: tokenForm(url.Values{"grant_type": {"refresh_token"},
			"refresh_token": {refresher.RefreshToken}, "client_id": {spaClient}})},
		{name: "authorization_code grant", send: tokenForm(sso.codeForm(code))},
		{name: "silent authorize", client: sso.client, send: get(sso.authorizeURL(url.Values{"prompt": {"none"}}), "")},
		{name: "login POST", client: loginForm.client, html: true, send: func(c *http.Client) (*http.Response, error) {
			return c.PostForm(g.Issuer()+"/account/login", form)
		}},
		{name: "endsession", html: true, send: get(g.Issuer()+"/connect/endsession?"+url.Values{"id_token_hint": {leaver.IDToken}}.Encode(), "")},
		{name: "new session at the proxy", send: get(g.PublicURL+personsPath, fresh)},
		{name: "introspection", send: func(c *http.Client) (*http.Response, error) {
			return c.PostForm(g.Issuer()+"/connect/introspect", url.Values{"token": {inspected},
				"client_id": {syncClient}, "client_secret": {syncSecret}})
		}},
		{name: "admin API", send: get(g.AdminURL+"/admin/sessions", ops)},
	}

	// The background loops run under store.timeout too, and the change
	// listener outside it: none of them has failed since the round began.
	checkQuietLoops(t, g.Stderr()[mark:], "before the outage")

	stop()
	restored := false
	defer func() {
		if !restored {
			restore()
		}
	}()
	outageStart := time.Now()

	// /readyz, polled from the first moment of the outage to its last.
	var readyz []outcome
	pollDone, stopPolling := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(pollDone)
		for {
			readyz = append(readyz, send(nil, get(g.AdminURL+"/readyz", "")))
			select {
			case <-stopPolling:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	// Two waves: the first meets the pool's connections as the outage
	// found them, the second the connections opened since (which, when
	// the host hangs, wait for an answer to their first packet).
	for wave := 1; wave <= 2; wave++ {
		if wave == 2 {
			time.Sleep(time.Until(outageStart.Add(3 * hungTimeout)))
		}
		sent := time.Since(outageStart)
		results := make([]outcome, len(classes))
		var wg sync.WaitGroup
		for i, c := range classes {
			wg.Go(func() { results[i] = send(c.client, c.send) })
		}
		knownResp := send(nil, get(g.PublicURL+personsPath, known))
		wg.Wait()
		t.Logf("wave %d, sent %s into the outage:", wave, sent.Round(time.Millisecond))
		for i, c := range classes {
			checkOutage(t, c.name, results[i], cmp.Or(c.bound, hungBound), c.client == sso.client, c.html, c.pending)
		}
		if knownResp.status != http.StatusOK || knownResp.took > hungBound {
			t.Errorf("a session the gateway knows, during the outage: %s; want 200 within %s", knownResp, hungBound)
		}
	}
	close(stopPolling)
	<-pollDone
	outage := time.Since(outageStart)
	for i, r := range readyz {
		if r.err != nil || r.status != http.StatusServiceUnavailable || r.took > hungBound {
			t.Errorf("/readyz probe %d of %d during the outage: %s; want 503 within %s", i+1, len(readyz), r, hungBound)
		}
	}
	t.Logf("%d /readyz probes in %s of outage, all 503, slowest %s", len(readyz), outage.Round(time.Millisecond),
		slices.MaxFunc(readyz, func(a, b outcome) int { return int(a.took - b.took) }).took.Round(time.Millisecond))

	restore()
	restored = true
	back := time.Now()
	waitReady(t, g, true)
	t.Logf("ready again %s after the database came back", time.Since(back).Round(time.Millisecond))
	if ready, state := g.ready(); !ready {
		t.Errorf("/readyz after the outage: %s", state)
	}
	ok := func(what string, f func() (string, bool)) {
		t.Helper()
		var last string
		if _, good := within(recoverWait, func() bool {
			var good bool
			last, good = f()
			return good
		}); !good {
			t.Errorf("%s after the outage: still %s after %s", what, last, recoverWait)
		}
	}
	ok("refresh_token grant", func() (string, bool) {
		code, tr := rawRefresh(g, refresher.RefreshToken)
		return fmt.Sprintf("%d %s", code, tr.Error), code == http.StatusOK
	})
	ok("silent authorize and code exchange", func() (string, bool) {
		c, err := sso.silentCode()
		if err != nil {
			return err.Error(), false
		}
		r := send(nil, tokenForm(sso.codeForm(c)))
		return r.String(), r.status == http.StatusOK
	})
	ok("login POST", func() (string, bool) {
		r := send(loginForm.client, func(c *http.Client) (*http.Response, error) {
			return c.PostForm(g.Issuer()+"/account/login", form)
		})
		return r.String(), r.status == http.StatusFound
	})
	ok("endsession", func() (string, bool) {
		r := send(nil, get(g.Issuer()+"/connect/endsession?"+url.Values{"id_token_hint": {leaver.IDToken}}.Encode(), ""))
		return r.String(), r.status == http.StatusOK
	})
	ok("new session at the proxy", func() (string, bool) {
		r := send(nil, get(g.PublicURL+personsPath, fresh))
		return r.String(), r.status == http.StatusOK
	})
	ok("introspection", func() (string, bool) {
		resp, err := http.PostForm(g.Issuer()+"/connect/introspect", url.Values{"token": {inspected},
			"client_id": {syncClient}, "client_secret": {syncSecret}})
		if err != nil {
			return err.Error(), false
		}
		defer resp.Body.Close()
		var in struct {
			Active bool `json:"active"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&in)
		return fmt.Sprintf("%d active=%v", resp.StatusCode, in.Active), resp.StatusCode == http.StatusOK && in.Active
	})
	ok("admin API", func() (string, bool) {
		r := send(nil, get(g.AdminURL+"/admin/sessions", ops))
		return r.String(), r.status == http.StatusOK
	})
	sessionOf(t, g, known)

	// The loops work again: nothing fails in the next few ticks.
	mark = len(g.Stderr())
	time.Sleep(2*time.Second + 500*time.Millisecond)
	checkQuietLoops(t, g.Stderr()[mark:], "after the outage")
}

// checkOutage checks one answer during the outage: within bound, 503
// temporarily_unavailable (or, for the authorization endpoint, a
// redirect with that error; for a browser's page, just 503), with
// Retry-After when it is JSON. A class with a pending note is known to
// answer otherwise today: its bound is checked, its answer logged.
func checkOutage(t *testing.T, name string, r outcome, bound time.Duration, redirect, html bool, pending string) {
	t.Helper()
	t.Logf("  %-26s %s", name+":", r)
	if r.err != nil {
		t.Errorf("%s during the outage: %v", name, r.err)
		return
	}
	if r.took > bound {
		t.Errorf("%s during the outage answered after %s; want within %s (store.timeout %s)", name, r.took.Round(time.Millisecond), bound, hungTimeout)
	}
	var wrong []string
	switch {
	case redirect && r.status == http.StatusFound:
	case r.status != http.StatusServiceUnavailable:
		wrong = append(wrong, "status "+strconv.Itoa(r.status))
	case !html && r.retryAfter == "":
		wrong = append(wrong, "no Retry-After")
	}
	if !html && r.code != "temporarily_unavailable" {
		wrong = append(wrong, fmt.Sprintf("error %q", r.code))
	}
	switch {
	case len(wrong) > 0 && pending != "":
		t.Logf("    pending (%s): %s", strings.Join(wrong, ", "), pending)
	case len(wrong) > 0:
		t.Errorf("%s during the outage: %s (%s); want 503 temporarily_unavailable", name, r, strings.Join(wrong, ", "))
	case pending != "" && bound == hungBound:
		t.Errorf("%s is answered right now; drop its pending note (%s)", name, pending)
	}
}

// loopFailures are what the background loops log when a store call
// fails.
var loopFailures = []string{"session flush failed", "session sync failed", "session reap failed",
	"session gauges not updated", "sync revocation list", "sync apps", "deleting expired records failed",
	"change notifications interrupted", "reload after a change notification failed"}

// checkQuietLoops fails if log has a line of loopFailures.
func checkQuietLoops(t *testing.T, log, when string) {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		for _, f := range loopFailures {
			if strings.Contains(line, f) {
				t.Errorf("a background loop failed %s: %s", when, line)
			}
		}
	}
}

// send runs one request with client (nil: one that follows no
// redirects) and reads what it answered.
func send(client *http.Client, f func(*http.Client) (*http.Response, error)) outcome {
	if client == nil {
		client = &http.Client{CheckRedirect: noRedirects}
	}
	c := *client
	c.Timeout = httpTimeout
	start := time.Now()
	resp, err := f(&c)
	if err != nil {
		return outcome{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	o := outcome{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), took: time.Since(start), err: err}
	if loc, lerr := resp.Location(); lerr == nil {
		o.code = loc.Query().Get("error")
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		o.code = e.Error
	} else if strings.Contains(string(body), "temporarily_unavailable") {
		o.code = "temporarily_unavailable" // an HTML page that names the code
	}
	return o
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// codeBrowser signs alice in to the public sample app with PKCE and
// keeps her identity cookie; it follows no redirects.
type codeBrowser struct {
	g        *Gateway
	client   *http.Client
	verifier string
}

func newCodeBrowser(g *Gateway) *codeBrowser {
	jar, _ := cookiejar.New(nil)
	return &codeBrowser{g: g, verifier: randomHex(32),
		client: &http.Client{Jar: jar, Timeout: httpTimeout, CheckRedirect: noRedirects}}
}

func (b *codeBrowser) authorizeURL(extra url.Values) string {
	sum := sha256.Sum256([]byte(b.verifier))
	q := url.Values{"client_id": {spaClient}, "redirect_uri": {spaRedirect}, "response_type": {"code"},
		"scope": {spaScope}, "state": {"st"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	return b.g.Issuer() + "/connect/authorize?" + q.Encode()
}

// loginPage follows the authorization request to the login page and
// returns its form filled in with alice's credentials.
func (b *codeBrowser) loginPage(t *testing.T) url.Values {
	t.Helper()
	resp, err := b.client.Get(b.authorizeURL(nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("authorize: %d %v", resp.StatusCode, err)
	}
	resp, err = b.client.Get(loc.String())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `id="password"`) {
		t.Fatalf("login page: %d", resp.StatusCode)
	}
	form := url.Values{"login": {aliceLogin}, "password": {alicePassword}}
	for _, m := range hiddenInput.FindAllStringSubmatch(string(page), -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return form
}

// signIn posts the login form and returns the authorization code.
func (b *codeBrowser) signIn(t *testing.T) string {
	t.Helper()
	resp, err := b.client.PostForm(b.g.Issuer()+"/account/login", b.loginPage(t))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("login: %d, redirected to %v", resp.StatusCode, loc)
	}
	return loc.Query().Get("code")
}

// silentCode asks for a code with prompt=none on the identity cookie.
func (b *codeBrowser) silentCode() (string, error) {
	resp, err := b.client.Get(b.authorizeURL(url.Values{"prompt": {"none"}}))
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("silent authorize: %d", resp.StatusCode)
	}
	if c := loc.Query().Get("code"); c != "" {
		return c, nil
	}
	return "", fmt.Errorf("silent authorize: %d error=%s", resp.StatusCode, loc.Query().Get("error"))
}

func (b *codeBrowser) codeForm(code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {spaRedirect},
		"client_id": {spaClient}, "code_verifier": {b.verifier}}
}
