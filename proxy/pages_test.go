package proxy

import (
	"context"
	"encoding/json"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/internal/testauth"
	"github.com/erpgate/erpgate/store/memory"
	"github.com/erpgate/erpgate/webui"
)

// errTransport fails every upstream call with err.
type errTransport struct{ err error }

func (t errTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, t.err }

// closedURL is an upstream address nothing listens on.
func closedURL(t *testing.T) *url.URL {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://" + ln.Addr().String())
	ln.Close()
	return u
}

// pageCase is one of the proxy's own answers: what an API client gets
// (status, headers, JSON error) and what a browser reads instead.
type pageCase struct {
	name string
	// setup builds the fixture and the request (method, path, headers
	// besides Accept).
	setup  func(t *testing.T) (f *fixture, method, path string, hdr map[string]string)
	status int
	code   string // the JSON error, shown on the page
	// wwwAuth and retryAfter are the answer's headers, the same for both.
	wwwAuth, retryAfter string
	// title is the catalog key of the page's heading; next is its
	// next-step link: id and href ("" for none); text are phrases the
	// English page says; lang is its language when not the request's.
	title            string
	nextID, nextHref string
	text             []string
	lang             string
}

func pageCases() []pageCase {
	plain := func(method, path string, hdr map[string]string) func(t *testing.T) (*fixture, string, string, map[string]string) {
		return func(t *testing.T) (*fixture, string, string, map[string]string) {
			return newFixture(t, nil), method, path, hdr
		}
	}
	return []pageCase{
		{
			name: "no route", title: "proxy.notfound.title", setup: plain("GET", "/no/such/page", nil),
			status: 404, code: "not_found", nextID: "home", nextHref: "/", text: []string{"Page not found"},
		},
		{
			name: "path not canonical", title: "proxy.badrequest.title", setup: plain("GET", "/api/domain/x/..;/y", nil),
			status: 400, code: "invalid_request", wwwAuth: authority.Realm + `, error="invalid_request"`,
			nextID: "home", nextHref: "/", text: []string{"cannot be accepted", "the request path is not canonical"},
		},
		{
			name: "token in the query string", title: "proxy.badrequest.title", setup: plain("GET", "/api/domain/x?access_token=abc", nil),
			status: 400, code: "invalid_request", wwwAuth: authority.Realm + `, error="invalid_request"`,
			nextID: "home", nextHref: "/",
		},
		{
			name: "no credentials, no browser login", title: "proxy.signin.title", setup: plain("GET", "/api/domain/x", nil),
			status: 401, code: "unauthorized", wwwAuth: authority.Realm,
			text: []string{"Sign in required", "send an access token"},
		},
		{
			name: "no credentials, browser login, a form post", title: "proxy.signin.title",
			setup: func(t *testing.T) (*fixture, string, string, map[string]string) {
				f, _ := newBrowserFixture(t)
				return f, "POST", "/api/domain/orders", nil
			},
			status: 401, code: "unauthorized", wwwAuth: authority.Realm,
			nextID: "signin", nextHref: "/oauth2/start?rd=%2F", text: []string{"Sign in required"},
		},
		{
			name: "expired token, browser login", title: "proxy.signin.title",
			setup: func(t *testing.T) (*fixture, string, string, map[string]string) {
				f, _ := newBrowserFixture(t)
				c := claimsFor("read")
				c.Expiry = testNow.Add(-time.Hour).Unix()
				return f, "GET", "/api/domain/odata/Persons?$top=1", bearer(f.sign(t, c))
			},
			status: 401, code: "invalid_token", wwwAuth: authority.Realm + `, error="invalid_token"`,
			nextID: "signin", nextHref: "/oauth2/start?rd=" + url.QueryEscape("/api/domain/odata/Persons?$top=1"),
			text: []string{"expired or was ended"},
		},
		{
			name: "insufficient scope", title: "proxy.forbidden.title",
			setup: func(t *testing.T) (*fixture, string, string, map[string]string) {
				f := newFixture(t, nil)
				return f, "GET", "/api/domain/x", bearer(f.sign(t, claimsFor("update")))
			},
			status: 403, code: "insufficient_scope", wwwAuth: authority.Realm + `, error="insufficient_scope", scope="read"`,
			nextID: "home", nextHref: "/",
			text: []string{"have access to this", `<ul class="scopes" id="missing-scopes">`, "Read your company&#39;s data in the ERP system", "<code>read</code>"},
		},
		{
			name: "insufficient scope, in the caller's own language", title: "proxy.forbidden.title",
			setup: func(t *testing.T) (*fixture, string, string, map[string]string) {
				f := newFixture(t, nil)
				c := f.auth.UserClaims("alice", testauth.WebApp, "sid-alice", "update")
				c.Locale = "bg-BG"
				return f, "GET", "/api/domain/x", bearer(f.sign(t, c))
			},
			status: 403, code: "insufficient_scope", wwwAuth: authority.Realm + `, error="insufficient_scope", scope="read"`,
			nextID: "home", nextHref: "/", lang: "bg", // the locale claim, over Accept-Language: de
		},
		{
			name: "community user", title: "proxy.forbidden.title",
			setup: func(t *testing.T) (*fixture, string, string, map[string]string) {
				f := newSessionFixture(t, memory.New(), 1, nil)
				return f.fixture, "GET", "/api/domain/x", bearer(f.userToken(t, "carol", "sid-carol", "read"))
			},
			status: 403, code: "access_denied", nextID: "home", nextHref: "/", text: []string{"Community users"},
		},
		{
			name: "all licenses in use", title: "proxy.license.title",
			setup: func(t *testing.T) (*fixture, string, string, map[string]string) {
				f := newSessionFixture(t, memory.New(), 1, nil)
				wantStatus(t, "alice", f.get(f.userToken(t, "alice", "sid-alice")), 200, "")
				return f.fixture, "GET", "/api/domain/x", bearer(f.userToken(t, "bob", "sid-bob"))
			},
			status: 403, code: authority.ReasonLicenseExhausted, nextID: "retry", nextHref: "/api/domain/x",
			text: []string{"All licenses are in use", "ask your administrator to end an idle session"},
		},
		{
			name: "store down", title: "proxy.unavailable.title",
			setup: func(t *testing.T) (*fixture, string, string, map[string]string) {
				f := newFixture(t, nil, withAuth(func(c *testauth.Config) {
					st := memory.New()
					c.Store, c.SessionStore = st, failingSessions{st}
				}))
				return f, "GET", "/api/domain/x", bearer(f.sign(t, claimsFor("read")))
			},
			status: 503, code: "temporarily_unavailable", retryAfter: "1", nextID: "retry", nextHref: "/api/domain/x",
			text: []string{"Temporarily unavailable", `<p id="wait">Please try again in 1 second.</p>`},
		},
		{
			name: "upstream down", title: "proxy.badgateway.title",
			setup: func(t *testing.T) (*fixture, string, string, map[string]string) {
				u := closedURL(t)
				f := newFixture(t, func(c *Config) {
					for i := range c.Upstreams {
						c.Upstreams[i].URL = u
					}
				})
				return f, "GET", "/api/domain/x?page=2", bearer(f.sign(t, claimsFor("read")))
			},
			status: 502, code: "bad_gateway", nextID: "retry", nextHref: "/api/domain/x?page=2",
			text: []string{"The service is not answering", "Please try again in a moment."},
		},
		{
			name: "upstream down, public route", title: "proxy.badgateway.title",
			setup: func(t *testing.T) (*fixture, string, string, map[string]string) {
				u := closedURL(t)
				f := newFixture(t, func(c *Config) {
					for i := range c.Upstreams {
						c.Upstreams[i].URL = u
					}
				})
				return f, "POST", "/api/health", nil
			},
			status: 502, code: "bad_gateway", nextID: "home", nextHref: "/", // a link cannot repeat a POST
		},
		{
			name: "upstream too slow", title: "proxy.timeout.title",
			setup: func(t *testing.T) (*fixture, string, string, map[string]string) {
				f := newFixture(t, func(c *Config) {
					for i := range c.Upstreams {
						c.Upstreams[i].Transport = errTransport{context.DeadlineExceeded}
					}
				})
				return f, "GET", "/api/domain/x", bearer(f.sign(t, claimsFor("read")))
			},
			status: 504, code: "upstream_timeout", nextID: "retry", nextHref: "/api/domain/x",
			text: []string{"did not answer in time"},
		},
	}
}

// TestAnswerPages: each of the proxy's own answers, for an API client
// (JSON, as before) and for a browser (a page of the kit, in English and
// in German), with the same status and headers for all.
func TestAnswerPages(t *testing.T) {
	for _, tc := range pageCases() {
		t.Run(tc.name, func(t *testing.T) {
			f, method, path, hdr := tc.setup(t)
			send := func(accept, acceptLanguage string) *httptest.ResponseRecorder {
				h := map[string]string{"Accept": accept}
				if acceptLanguage != "" {
					h["Accept-Language"] = acceptLanguage
				}
				for k, v := range hdr {
					h[k] = v
				}
				return f.do(method, path, h)
			}
			api := send(acceptJSON, "de")
			pages := map[string]*httptest.ResponseRecorder{
				"en": send(acceptNavigation, ""),
				"de": send(acceptNavigation, "de-DE,de;q=0.9,en;q=0.8"),
			}
			for who, rec := range map[string]*httptest.ResponseRecorder{"API": api, "browser (en)": pages["en"], "browser (de)": pages["de"]} {
				if rec.Code != tc.status {
					t.Errorf("%s: status %d, want %d", who, rec.Code, tc.status)
				}
				if got := rec.Header().Get("WWW-Authenticate"); got != tc.wwwAuth {
					t.Errorf("%s: WWW-Authenticate %q, want %q", who, got, tc.wwwAuth)
				}
				if got := rec.Header().Get("Retry-After"); got != tc.retryAfter {
					t.Errorf("%s: Retry-After %q, want %q", who, got, tc.retryAfter)
				}
				if got := rec.Header().Get("Cache-Control"); got != "no-store" {
					t.Errorf("%s: Cache-Control %q", who, got)
				}
			}

			// The API client: JSON, as before.
			if ct := api.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("API: Content-Type %q", ct)
			}
			var body authority.ErrorBody
			if err := json.Unmarshal(api.Body.Bytes(), &body); err != nil || body.Error != tc.code {
				t.Errorf("API: body %s, want error %q", api.Body, tc.code)
			}

			// The browser: a page in the kit, in its language, with a next step.
			for asked, rec := range pages {
				b := rec.Body.String()
				if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
					t.Errorf("browser (%s): Content-Type %q", asked, ct)
				}
				lang := asked
				if tc.lang != "" {
					lang = tc.lang
				}
				if got := rec.Header().Get("Content-Language"); got != lang {
					t.Errorf("browser (%s): Content-Language %q, want %q", asked, got, lang)
				}
				csp := rec.Header().Get("Content-Security-Policy")
				if !strings.HasPrefix(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
					t.Errorf("browser (%s): CSP %q", asked, csp)
				}
				want := []string{`<meta name="viewport"`, `<main id="main" class="card">`, `<html lang="` + lang + `">`,
					"<h1>" + html.EscapeString(webui.Language(lang).T(tc.title)) + "</h1>",
					`<code id="error-code">` + tc.code + `</code>`}
				if lang == "en" {
					want = append(want, tc.text...)
				}
				for _, w := range want {
					if !strings.Contains(b, w) {
						t.Errorf("browser (%s): page lacks %s:\n%s", asked, w, b)
					}
				}
				if strings.Contains(b, `"error":`) {
					t.Errorf("browser (%s): page carries the JSON:\n%s", asked, b)
				}
				if tc.nextID == "" {
					if strings.Contains(b, `class="button"`) {
						t.Errorf("browser (%s): a next-step link, want words only:\n%s", asked, b)
					}
				} else if !strings.Contains(b, `id="`+tc.nextID+`" href="`+html.EscapeString(tc.nextHref)+`"`) {
					t.Errorf("browser (%s): no #%s link to %s:\n%s", asked, tc.nextID, tc.nextHref, b)
				}
			}
			if pages["en"].Body.String() == pages["de"].Body.String() && tc.lang == "" {
				t.Error("the German page is the English one")
			}
		})
	}
}

// Requests that are not a browser navigating get the JSON: fetch and
// XHR (*/*), no Accept, and HTML acceptable only below JSON.
func TestAnswerPagesOnlyForNavigation(t *testing.T) {
	f := newFixture(t, nil)
	for _, accept := range []string{"", acceptFetch, acceptJSON, "application/json, text/html;q=0.1"} {
		rec := f.do("GET", "/no/such/page", map[string]string{"Accept": accept})
		if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/json" || errorOf(t, rec) != "not_found" {
			t.Errorf("Accept %q: %d %q %s", accept, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
}

// An answer with Retry-After says how long to wait in words: the 429s
// the proxy may answer, and a Retry-After given as a date.
func TestAnswerPageWait(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		status     int
		retryAfter string
		want       []string
	}{
		{429, "120", []string{"Too many requests", `<p id="wait">Please try again in 2 minutes.</p>`, `id="retry" href="/x"`}},
		{429, "5", []string{`<p id="wait">Please try again in 5 seconds.</p>`}},
		{503, testNow.Add(90 * time.Second).UTC().Format(http.TimeFormat), []string{`<p id="wait">Please try again in 90 seconds.</p>`}},
		{502, "", []string{`<p id="wait">Please try again in a moment.</p>`}},
	} {
		req := httptest.NewRequest("GET", "/x", nil)
		req.Header.Set("Accept", acceptNavigation)
		rec := httptest.NewRecorder()
		f.px.answer(rec, req, hints{}, func(w http.ResponseWriter) {
			if tc.retryAfter != "" {
				w.Header().Set("Retry-After", tc.retryAfter)
			}
			authority.WriteJSONError(w, tc.status, authority.ErrorBody{Error: "slow_down"})
		})
		if rec.Code != tc.status || rec.Header().Get("Retry-After") != tc.retryAfter {
			t.Errorf("%d: got %d Retry-After %q", tc.status, rec.Code, rec.Header().Get("Retry-After"))
		}
		for _, w := range tc.want {
			if !strings.Contains(rec.Body.String(), w) {
				t.Errorf("%d Retry-After %q: page lacks %s:\n%s", tc.status, tc.retryAfter, w, rec.Body)
			}
		}
	}
}
