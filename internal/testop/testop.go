package testop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/erpgate/erpgate/internal/proc"
	"github.com/erpgate/erpgate/internal/testdep"
)

const (
	// readyTimeout bounds the wait for node to print its address.
	readyTimeout = 20 * time.Second
	// requestTimeout bounds each request SignIn and SignOut make when
	// the caller's client has no timeout of its own.
	requestTimeout = 10 * time.Second
	// maxSteps bounds the requests of one SignIn or SignOut.
	maxSteps = 12
	// Password is what SignIn types into the password field; the
	// provider accepts any non-empty password for an account it has.
	Password = "testop-password"
)

// Client is an app registered at the provider. An empty Secret makes a
// public client (token_endpoint_auth_method none); otherwise it
// authenticates with client_secret_basic.
type Client struct {
	ID, Secret             string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
}

// Account is a person the provider knows: ID is the sub, Claims what
// the provider says about them, e.g. email, email_verified,
// preferred_username, name, groups, tid. Scope profile releases name,
// preferred_username, groups and tid; scope email releases email and
// email_verified.
type Account struct {
	ID     string
	Claims map[string]any
}

// Options configure a provider.
type Options struct {
	Clients  []Client
	Accounts []Account
	// Issuer, when set, is the issuer the provider advertises in its
	// discovery document and ID tokens instead of its own URL (for
	// wrong-issuer tests); its endpoints stay at URL().
	Issuer string
}

// Provider is a running oidc-provider.
type Provider struct {
	url    *url.URL // where it listens: http://127.0.0.1:PORT
	issuer string
	proc   *proc.Process
}

// Start starts a provider for the test and stops it when the test ends.
// It skips the test (fails it under CI=true) when node or oidc-provider
// in e2e/testdata/js is missing.
func Start(t testing.TB, opts Options) *Provider {
	t.Helper()
	node, err := exec.LookPath("node")
	testdep.Require(t, err == nil, "Node.js (apt-get install nodejs)")
	root, err := proc.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	jsDir := filepath.Join(root, "e2e", "testdata", "js")
	_, err = os.Stat(filepath.Join(jsDir, "node_modules", "oidc-provider", "package.json"))
	testdep.Require(t, err == nil, "oidc-provider in e2e/testdata/js (npm ci there)")

	in, err := json.Marshal(config(opts))
	if err != nil {
		t.Fatal(err)
	}
	out := &logBuffer{}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(root, "internal", "testop", "provider.mjs"), jsDir)
	cmd.Dir = jsDir
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout = w // a file, so that the ready line is ours to read
	cmd.Stderr = out
	p, err := proc.Start(cmd)
	w.Close()
	if err != nil {
		r.Close()
		t.Fatalf("testop: start node: %v", err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("testop: oidc-provider output:\n%s", out)
		}
	})

	ready := make(chan string, 1)
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		first := true
		for sc.Scan() {
			if first {
				ready <- sc.Text()
				first = false
				continue
			}
			out.Write(append(sc.Bytes(), '\n'))
		}
		if first {
			close(ready)
		}
	}()
	var line string
	select {
	case l, ok := <-ready:
		if !ok {
			<-p.Done()
			t.Fatalf("testop: oidc-provider exited before it was ready (%v):\n%s", p.Err(), out)
		}
		line = l
	case <-time.After(readyTimeout):
		t.Fatalf("testop: oidc-provider not ready after %s:\n%s", readyTimeout, out)
	}
	var addr struct{ URL, Issuer string }
	if err := json.Unmarshal([]byte(line), &addr); err != nil {
		t.Fatalf("testop: oidc-provider printed %q: %v", line, err)
	}
	u, err := url.Parse(addr.URL)
	if err != nil || u.Host == "" {
		t.Fatalf("testop: oidc-provider printed url %q: %v", addr.URL, err)
	}
	return &Provider{url: u, issuer: addr.Issuer, proc: p}
}

// config is the JSON provider.mjs reads.
func config(opts Options) any {
	type client struct {
		ID                     string   `json:"id"`
		Secret                 string   `json:"secret,omitempty"`
		RedirectURIs           []string `json:"redirect_uris"`
		PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	}
	type account struct {
		ID     string         `json:"id"`
		Claims map[string]any `json:"claims"`
	}
	c := struct {
		Clients  []client  `json:"clients"`
		Accounts []account `json:"accounts"`
		Issuer   string    `json:"issuer,omitempty"`
	}{Clients: []client{}, Accounts: []account{}, Issuer: opts.Issuer}
	for _, cl := range opts.Clients {
		c.Clients = append(c.Clients, client{cl.ID, cl.Secret, nonNil(cl.RedirectURIs), nonNil(cl.PostLogoutRedirectURIs)})
	}
	for _, a := range opts.Accounts {
		c.Accounts = append(c.Accounts, account(a))
	}
	return c
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// URL is where the provider listens, http://127.0.0.1:PORT; its
// discovery document is at URL() + "/.well-known/openid-configuration".
func (p *Provider) URL() string { return p.url.String() }

// Issuer is the issuer the provider advertises: URL(), or
// Options.Issuer when that was set.
func (p *Provider) Issuer() string { return p.issuer }

// Stop kills the provider (for provider-down tests). Stopping a stopped
// provider does nothing.
func (p *Provider) Stop() { p.proc.Kill() }

// LoginPageMarker is a CSS selector present on the provider's login
// page: its login input. The password input is "#password", and the
// form "#login-form" submits with its one button.
func (p *Provider) LoginPageMarker() string { return "form#login-form input#login" }

var (
	loginFormRE  = regexp.MustCompile(`<form id="login-form" method="post" action="([^"]+)"`)
	alertRE      = regexp.MustCompile(`<p role="alert">([^<]*)</p>`)
	logoutFormRE = regexp.MustCompile(`<form id="op.logoutForm" method="post" action="([^"]+)"><input type="hidden" name="xsrf" value="([^"]+)"/>`)
	tagRE        = regexp.MustCompile(`<[^>]*>`)
)

// SignIn signs accountID in at the provider, starting from authURL (an
// authorization request to the provider): it follows the redirects on
// the provider's origin, fills its login form (any password is accepted
// for an account the provider has), and returns the first redirect that
// leaves the provider's origin, normally to the client's redirect_uri
// with code and state (or error), without following it. The provider's
// session cookie stays in c.Jar when c has one, so a later SignIn with
// the same client needs no login and SignOut can end that session;
// without a jar each call is a fresh browser.
func (p *Provider) SignIn(c *http.Client, authURL, accountID string) (*url.URL, error) {
	b, err := p.browser(c, authURL)
	if err != nil {
		return nil, err
	}
	typed := false
	return b.walk(func(page string, at *url.URL) (*http.Request, error) {
		m := loginFormRE.FindStringSubmatch(page)
		if m == nil {
			return nil, fmt.Errorf("testop: no login form at %s: %s", at, text(page))
		}
		if typed {
			why := "the login was refused"
			if a := alertRE.FindStringSubmatch(page); a != nil {
				why = html.UnescapeString(a[1])
			}
			return nil, fmt.Errorf("testop: sign-in of %q at %s: %s", accountID, at, why)
		}
		typed = true
		return b.post(at, m[1], url.Values{"login": {accountID}, "password": {Password}})
	})
}

// SignOut confirms an RP-initiated logout (OpenID Connect RP-Initiated
// Logout 1.0) at the provider: it follows endSessionURL (the provider's
// end_session_endpoint with id_token_hint, post_logout_redirect_uri,
// state…), answers yes on the provider's logout page, and returns the
// redirect to post_logout_redirect_uri, not followed; without one it
// returns the URL of the provider's signed-out page.
func (p *Provider) SignOut(c *http.Client, endSessionURL string) (*url.URL, error) {
	b, err := p.browser(c, endSessionURL)
	if err != nil {
		return nil, err
	}
	confirmed := false
	return b.walk(func(page string, at *url.URL) (*http.Request, error) {
		if confirmed {
			return nil, nil // the signed-out page
		}
		m := logoutFormRE.FindStringSubmatch(page)
		if m == nil {
			return nil, fmt.Errorf("testop: no logout form at %s: %s", at, text(page))
		}
		confirmed = true
		return b.post(at, m[1], url.Values{"xsrf": {html.UnescapeString(m[2])}, "logout": {"yes"}})
	})
}

// browser is one walk through the provider's pages.
type browser struct {
	p     *Provider
	c     *http.Client
	start *url.URL
}

func (p *Provider) browser(c *http.Client, start string) (*browser, error) {
	u, err := url.Parse(start)
	if err != nil {
		return nil, fmt.Errorf("testop: %w", err)
	}
	if !p.onOrigin(u) {
		return nil, fmt.Errorf("testop: %s is not at the provider (%s)", start, p.url)
	}
	hc := &http.Client{Timeout: requestTimeout}
	if c != nil {
		hc.Transport, hc.Jar = c.Transport, c.Jar
		if c.Timeout > 0 {
			hc.Timeout = c.Timeout
		}
	}
	if hc.Jar == nil {
		hc.Jar, _ = cookiejar.New(nil)
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{p: p, c: hc, start: u}, nil
}

func (p *Provider) onOrigin(u *url.URL) bool {
	return u.Scheme == p.url.Scheme && u.Host == p.url.Host
}

// walk follows redirects on the provider's origin from b.start; on a
// page (200) it asks onPage for the next request, and returns the page's
// URL when onPage has none. A redirect off the origin ends the walk.
func (b *browser) walk(onPage func(page string, at *url.URL) (*http.Request, error)) (*url.URL, error) {
	req, err := http.NewRequest(http.MethodGet, b.start.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("testop: %w", err)
	}
	for range maxSteps {
		resp, err := b.c.Do(req)
		if err != nil {
			return nil, fmt.Errorf("testop: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("testop: %s %s: %w", req.Method, req.URL, err)
		}
		at := resp.Request.URL
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := resp.Location()
			if err != nil {
				return nil, fmt.Errorf("testop: %s %s: %d without Location", req.Method, at, resp.StatusCode)
			}
			if !b.p.onOrigin(loc) {
				return loc, nil
			}
			if req, err = http.NewRequest(http.MethodGet, loc.String(), nil); err != nil {
				return nil, fmt.Errorf("testop: %w", err)
			}
		case resp.StatusCode == http.StatusOK:
			next, err := onPage(string(body), at)
			if err != nil || next == nil {
				return at, err
			}
			req = next
		default:
			return nil, fmt.Errorf("testop: %s %s: %d: %s", req.Method, at, resp.StatusCode, text(string(body)))
		}
	}
	return nil, fmt.Errorf("testop: more than %d requests from %s", maxSteps, b.start)
}

// post is the submission of a form whose action is action, on the page
// at.
func (b *browser) post(at *url.URL, action string, form url.Values) (*http.Request, error) {
	to, err := at.Parse(html.UnescapeString(action))
	if err != nil {
		return nil, fmt.Errorf("testop: form action %q: %w", action, err)
	}
	if !b.p.onOrigin(to) {
		return nil, fmt.Errorf("testop: form on %s posts off the provider, to %s", at, to)
	}
	req, err := http.NewRequest(http.MethodPost, to.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("testop: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}

// text is a page's text, shortened, for error messages.
func text(page string) string {
	s := strings.Join(strings.Fields(html.UnescapeString(tagRE.ReplaceAllString(page, " "))), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// logBuffer collects node's output for the test log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
