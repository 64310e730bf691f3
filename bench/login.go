package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

// The refresh grant needs refresh tokens, and only a user's sign-in gives
// one: signIn plays a browser through the authorization code flow with
// PKCE (RFC 7636) against the running gateway, as a real client would:
//
//	GET /id/connect/authorize?…        302 to the login page
//	GET /id/account/login?…            200, form with csrf_token (cookie set)
//	POST /id/account/login             302 to benchRedirectURI?code=…&state=…
//	POST /id/connect/token             authorization_code + code_verifier
//
// Redirects are followed by hand, so the last one, to a redirect URI that
// nobody listens on, is only read.

// benchUserScope asks for what a browser app signing a user in asks for:
// an ID token with profile claims, a refresh token, and API access.
const benchUserScope = "openid profile offline_access read"

// maxSignInHops bounds the redirects and form posts of one sign-in.
const maxSignInHops = 8

// signedIn is what a sign-in got from the token endpoint.
type signedIn struct {
	refreshToken string
	idToken      bool // the code exchange returned an ID token
}

// signIn signs benchLogin in to benchSPAID with a browser of its own
// (cookie jar) over transport and exchanges the code for tokens.
func (g *gateway) signIn(ctx context.Context, transport http.RoundTripper) (signedIn, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return signedIn{}, err
	}
	browser := &http.Client{
		Transport:     transport,
		Jar:           jar,
		Timeout:       loadTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	verifier := newNonce() + newNonce() // 52 unreserved characters (RFC 7636 §4.1: 43–128)
	state := newNonce()
	q := url.Values{
		"client_id":             {benchSPAID},
		"redirect_uri":          {benchRedirectURI},
		"response_type":         {"code"},
		"scope":                 {benchUserScope},
		"state":                 {state},
		"nonce":                 {newNonce()},
		"code_challenge":        {codeChallenge(verifier)},
		"code_challenge_method": {"S256"},
	}
	code, err := g.authorize(ctx, browser, g.authorizeURL()+"?"+q.Encode(), state)
	if err != nil {
		return signedIn{}, fmt.Errorf("sign-in: %w", err)
	}
	return g.exchangeCode(ctx, browser, code, verifier)
}

// authorize walks from the authorization request to the authorization
// response: it follows redirects, fills in the login form once, and
// returns the code from the redirect to benchRedirectURI.
func (g *gateway) authorize(ctx context.Context, browser *http.Client, start, state string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, start, nil)
	if err != nil {
		return "", err
	}
	posted := false
	for range maxSignInHops {
		resp, err := browser.Do(req)
		if err != nil {
			return "", err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
		resp.Body.Close()
		if err != nil {
			return "", fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
		}
		switch {
		case resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther:
			loc, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				return "", fmt.Errorf("%s %s: bad Location: %w", req.Method, req.URL.Path, err)
			}
			if code, done, err := authorizationResponse(loc, benchRedirectURI, state); done {
				return code, err
			}
			if req, err = http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil); err != nil {
				return "", err
			}
		case resp.StatusCode == http.StatusOK && !posted:
			action, form, err := parseLoginForm(string(body), req.URL)
			if err != nil {
				return "", fmt.Errorf("GET %s: %w", req.URL.Path, err)
			}
			form.Set("login", benchLogin)
			form.Set("password", g.password)
			req, err = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
			if err != nil {
				return "", err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			posted = true
		default:
			return "", fmt.Errorf("%s %s answered %d %s", req.Method, req.URL.Path, resp.StatusCode, pageError(body))
		}
	}
	return "", fmt.Errorf("no authorization response after %d redirects and forms", maxSignInHops)
}

// exchangeCode is the token request of RFC 6749 §4.1.3 for a public
// client: client_id in the body, the PKCE verifier instead of a secret.
func (g *gateway) exchangeCode(ctx context.Context, c *http.Client, code, verifier string) (signedIn, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {benchRedirectURI},
		"client_id":     {benchSPAID},
		"code_verifier": {verifier},
	}
	status, body, err := postForm(ctx, c, g.tokenURL(), form)
	if err != nil {
		return signedIn{}, fmt.Errorf("code exchange: %w", err)
	}
	tr, err := parseTokenResponse(status, body)
	switch {
	case err != nil:
		return signedIn{}, fmt.Errorf("code exchange: %w", err)
	case tr.RefreshToken == "":
		return signedIn{}, errors.New("code exchange: no refresh_token (was offline_access granted?)")
	}
	return signedIn{refreshToken: tr.RefreshToken, idToken: tr.IDToken != ""}, nil
}

// codeChallenge is RFC 7636 §4.2's S256 challenge of verifier.
func codeChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizationResponse reads a redirect's Location. done is false when
// it is not (yet) the redirect to redirectURI; when it is, code is the
// authorization code, or err says why there is none: an error response
// (RFC 6749 §4.1.2.1) or a state that is not ours.
func authorizationResponse(loc *url.URL, redirectURI, state string) (code string, done bool, err error) {
	base := *loc
	base.RawQuery, base.Fragment = "", ""
	if base.String() != redirectURI {
		return "", false, nil
	}
	q := loc.Query()
	switch {
	case q.Get("error") != "":
		return "", true, fmt.Errorf("authorization error %s: %s", q.Get("error"), q.Get("error_description"))
	case q.Get("state") != state:
		return "", true, fmt.Errorf("authorization response state %q, want %q", q.Get("state"), state)
	case q.Get("code") == "":
		return "", true, errors.New("authorization response without code")
	}
	return q.Get("code"), true, nil
}

var (
	formTag   = regexp.MustCompile(`(?is)<form\b[^>]*>`)
	inputTag  = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	attrValue = regexp.MustCompile(`(?is)\b([a-z_-]+)="([^"]*)"`)
	alertText = regexp.MustCompile(`(?is)<p class="alert"[^>]*>(.*?)</p>`)
)

// parseLoginForm finds the login page's POST form: where it posts (made
// absolute against page) and its hidden fields, which carry the
// authorization request and the anti-forgery token. The form must have
// the login and password inputs and a csrf_token, or signing in cannot
// work and the error says which part is missing.
func parseLoginForm(page string, pageURL *url.URL) (*url.URL, url.Values, error) {
	ft := formTag.FindString(page)
	if ft == "" {
		return nil, nil, fmt.Errorf("no form on the page (%s)", pageError([]byte(page)))
	}
	fa := attrs(ft)
	if !strings.EqualFold(fa["method"], "post") {
		return nil, nil, fmt.Errorf("the form's method is %q, want post", fa["method"])
	}
	action, err := pageURL.Parse(fa["action"])
	if err != nil {
		return nil, nil, fmt.Errorf("form action %q: %w", fa["action"], err)
	}
	hidden := url.Values{}
	visible := map[string]bool{}
	for _, tag := range inputTag.FindAllString(page, -1) {
		a := attrs(tag)
		if a["name"] == "" {
			continue
		}
		if strings.EqualFold(a["type"], "hidden") {
			hidden.Set(a["name"], a["value"])
		} else {
			visible[a["name"]] = true
		}
	}
	switch {
	case hidden.Get("csrf_token") == "":
		return nil, nil, errors.New("the login form has no csrf_token")
	case !visible["login"] || !visible["password"]:
		return nil, nil, errors.New("the form has no login and password inputs")
	}
	return action, hidden, nil
}

// attrs are the double-quoted attributes of one tag, names lower-cased,
// values unescaped.
func attrs(tag string) map[string]string {
	m := map[string]string{}
	for _, kv := range attrValue.FindAllStringSubmatch(tag, -1) {
		m[strings.ToLower(kv[1])] = html.UnescapeString(kv[2])
	}
	return m
}

// pageError is the message an erpgate page shows in its alert, or the
// start of the body, for an error message.
func pageError(body []byte) string {
	if m := alertText.FindSubmatch(body); m != nil {
		return html.UnescapeString(string(bytes.TrimSpace(m[1])))
	}
	return truncate(string(bytes.TrimSpace(body)), 120)
}

// tokenResponse is the part of RFC 6749 §5.1's response the bench reads.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Error        string `json:"error"`
}

// parseTokenResponse accepts a 200 with an access token; otherwise the
// error names the status and the OAuth error code.
func parseTokenResponse(status int, body []byte) (tokenResponse, error) {
	var tr tokenResponse
	err := json.Unmarshal(body, &tr)
	switch {
	case status != http.StatusOK && tr.Error != "":
		return tr, fmt.Errorf("%d %s", status, tr.Error)
	case status != http.StatusOK || err != nil || tr.AccessToken == "":
		return tr, fmt.Errorf("%d %s", status, truncate(string(bytes.TrimSpace(body)), 120))
	}
	return tr, nil
}

// postForm posts form and returns the status and body.
func postForm(ctx context.Context, c *http.Client, u string, form url.Values) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, body, err
}
