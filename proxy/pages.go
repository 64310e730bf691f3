package proxy

import (
	"bytes"
	"embed"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/webui"
)

//go:embed web/*.html
var webFS embed.FS

// pages are the proxy's answers to browsers, in the kit's layout.
var pages = webui.MustParse(webFS, "web/*.html")

// hints are what a page says beyond its answer: the caller's language
// and the scopes the route needs that the token lacks.
type hints struct {
	locale  string   // the verified token's locale claim, or ""
	missing []string // insufficient_scope: the route's scopes the token lacks
}

// answer writes one of the proxy's own answers with write (authority's
// JSON writers). An API client gets it as it is; a browser (Accept
// prefers HTML: prefersHTML) gets that same answer as a page: write's
// status and headers (WWW-Authenticate, Retry-After) are kept, its JSON
// body is read for the error code, and the page says it in words with a
// next step. So there is one answer per case, only worded for the
// reader; an API client pays one look at Accept and nothing more.
func (p *Proxy) answer(w http.ResponseWriter, r *http.Request, h hints, write func(http.ResponseWriter)) {
	if !prefersHTML(r) {
		write(w)
		return
	}
	cw := &capture{header: w.Header()}
	write(cw)
	var body authority.ErrorBody
	_ = json.Unmarshal(cw.body.Bytes(), &body) // not JSON: the status alone chooses the words
	status := cw.status
	if status == 0 {
		status = http.StatusOK
	}
	wait := parseRetryAfter(w.Header().Get("Retry-After"), p.cfg.Clock())
	lang := p.cfg.Pages.Language(r, "", h.locale)
	p.cfg.Pages.Render(w, r, pages, status, p.answerPage(r, status, body, wait, h, lang))
}

// capture collects an answer for its page: headers go to the real
// response, the status and body are kept.
type capture struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *capture) Header() http.Header { return c.header }

func (c *capture) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.body.Len() < 4<<10 { // an error body, not a download
		c.body.Write(b)
	}
	return len(b), nil
}

// answerData is what proxy/web/answer.html reads as .D.
type answerData struct {
	// Code is the answer's error code (its JSON "error"), shown for
	// whoever reports the problem.
	Code string
	// Detail is what an invalid_request says the client sent wrong
	// (English, as the API says it).
	Detail string
	// Scopes are the missing permissions (scope names).
	Scopes []string
	// More is a second paragraph: what to do.
	More webui.Text
	// Wait is the answer's Retry-After in seconds; Retry offers to try
	// again without one.
	Wait  int
	Retry bool
	// Next is the link to go on with: its id, address and words.
	NextID, Next string
	NextText     webui.Text
}

// retryable are the answers worth trying again, by status: the catalog
// key whose .title and .text say it.
var retryable = map[int]string{
	http.StatusBadGateway:         "proxy.badgateway",
	http.StatusGatewayTimeout:     "proxy.timeout",
	http.StatusServiceUnavailable: "proxy.unavailable",
	http.StatusTooManyRequests:    "proxy.toomany",
	http.StatusRequestTimeout:     "proxy.request_timeout",
}

// answerPage words the answer with status, body and Retry-After (wait,
// seconds) for a browser.
func (p *Proxy) answerPage(r *http.Request, status int, body authority.ErrorBody, wait int, h hints, lang *webui.Lang) webui.Page {
	d := answerData{Code: body.Error}
	pg := webui.Page{Name: "answer.html", Lang: lang}
	switch {
	case body.Error == "insufficient_user_authentication" && status == http.StatusUnauthorized:
		// The loop guard's page (answer.go): a step-up just came back
		// short of the route's requirement.
		pg.Title = webui.Msg("proxy.stepup.title")
		pg.Error = webui.Msg("proxy.stepup.text")
		d.More = webui.Msg("proxy.stepup.more")
		d.NextID, d.Next, d.NextText = retryLink(r)
	case status == http.StatusUnauthorized:
		pg.Title = webui.Msg("proxy.signin.title")
		pg.Notice = webui.Msg("proxy.signin.text")
		if body.Error == "invalid_token" {
			pg.Notice = webui.Msg("proxy.signin.expired")
		}
		if p.cfg.Browser != nil {
			d.NextID, d.Next, d.NextText = "signin", p.cfg.Browser.SignInURL(returnTo(r)), webui.Msg("proxy.signin.link")
		} else {
			d.More = webui.Msg("proxy.signin.how")
		}
	case body.Error == authority.ReasonLicenseExhausted:
		pg.Title = webui.Msg("proxy.license.title")
		pg.Error = webui.Msg("proxy.license.text")
		d.More = webui.Msg("proxy.license.more")
		d.NextID, d.Next, d.NextText = retryLink(r)
	case body.Error == "insufficient_scope":
		pg.Title = webui.Msg("proxy.forbidden.title")
		pg.Error = webui.Msg("proxy.forbidden.scope")
		d.Scopes = h.missing
		d.More = webui.Msg("proxy.forbidden.scope.more")
		d.NextID, d.Next, d.NextText = homeLink()
	case body.Error == "access_denied": // a community user on an API route
		pg.Title = webui.Msg("proxy.forbidden.title")
		pg.Error = webui.Msg("proxy.forbidden.community")
		d.NextID, d.Next, d.NextText = homeLink()
	case status == http.StatusForbidden:
		pg.Title = webui.Msg("proxy.forbidden.title")
		pg.Error = webui.Msg("proxy.forbidden.other")
		d.NextID, d.Next, d.NextText = homeLink()
	case status == http.StatusNotFound:
		pg.Title = webui.Msg("proxy.notfound.title")
		pg.Notice = webui.Msg("proxy.notfound.text")
		d.NextID, d.Next, d.NextText = homeLink()
	case status == http.StatusBadRequest:
		pg.Title = webui.Msg("proxy.badrequest.title")
		pg.Error = webui.Msg("proxy.badrequest.text")
		d.Detail = body.Description
		d.NextID, d.Next, d.NextText = homeLink()
	default:
		// The service or the gateway cannot answer now: say which, and
		// that trying again (after Retry-After, when sent) may work.
		key := retryable[status]
		if key == "" {
			key = "proxy.error"
		}
		pg.Title, pg.Error = webui.Msg(key+".title"), webui.Msg(key+".text")
		d.Retry = true
	}
	if d.Retry {
		d.Wait = wait
		d.NextID, d.Next, d.NextText = retryLink(r)
	}
	pg.Data = d
	return pg
}

// returnTo is where a sign-in started from this page comes back to: the
// page itself for GET and HEAD; "/" after anything else, which a link
// cannot repeat.
func returnTo(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return r.URL.RequestURI()
	}
	return "/"
}

// retryLink asks for the page again (GET and HEAD; anything else cannot
// be repeated by a link, so it goes to the start page).
func retryLink(r *http.Request) (id, href string, text webui.Text) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return homeLink()
	}
	return "retry", r.URL.RequestURI(), webui.Msg("proxy.retry")
}

func homeLink() (id, href string, text webui.Text) {
	return "home", "/", webui.Msg("proxy.home")
}

// parseRetryAfter reads a Retry-After value (RFC 9110 §10.2.3: seconds
// or an HTTP date) as seconds from now; 0 when there is none.
func parseRetryAfter(v string, now time.Time) int {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		return max(n, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(int((t.Sub(now)+time.Second-1)/time.Second), 0)
	}
	return 0
}
