package issuer

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/store"
)

// authzRequest is a validated authorization request (RFC 6749 §4.1.1,
// OIDC Core §3.1.2.1, RFC 7636 §4.3).
type authzRequest struct {
	app           *directory.App
	redirectURI   string
	state         string
	scopes        []string
	nonce         string
	codeChallenge string
	responseType  string // responseTypeCode or responseTypeHybrid
	responseMode  string // query, fragment or form_post
	prompt        []string
	maxAge        int // -1 when absent
	raw           url.Values
}

func (a *authzRequest) hasPrompt(p string) bool { return slices.Contains(a.prompt, p) }

// authzError is an authorization error: shown on our own page when the
// client or redirect URI cannot be trusted, else sent to the redirect URI.
type authzError struct {
	code, description string
	page              bool // must not be redirected (RFC 6749 §4.1.2.1)
}

// The response types served (OIDC Core §3.1.2.1, §3.3.2.1). No type
// returns an access token from the authorization endpoint (RFC 9700
// §2.1.2).
const (
	responseTypeCode   = "code"
	responseTypeHybrid = "code id_token"
)

// parseResponseType reads a response_type: space-delimited values in any
// order (RFC 6749 §3.1.1), each once. It returns responseTypeCode,
// responseTypeHybrid or "" for every other combination.
func parseResponseType(v string) string {
	words := strings.Split(v, " ")
	slices.Sort(words)
	switch strings.Join(words, " ") {
	case "code":
		return responseTypeCode
	case "code id_token":
		return responseTypeHybrid
	}
	return ""
}

// pkceChallenge is RFC 7636 §4.2's code_challenge for S256: base64url of
// a SHA-256, 43 characters.
var pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// authzParams are the parameters of an authorization request that the
// login and consent forms carry through (ui_locales keeps the language
// the app asked for, login_hint the user the app expects; OIDC Core
// §3.1.2.1).
var authzParams = []string{"client_id", "redirect_uri", "response_type", "response_mode", "scope",
	"state", "nonce", "code_challenge", "code_challenge_method", "prompt", "max_age", "ui_locales", "login_hint", "acr_values"}

// parseAuthorize validates an authorization request. The client and the
// redirect URI are checked first: until both are known good, errors go to
// an error page, never to a redirect (open-redirect protection).
func (s *Server) parseAuthorize(q url.Values) (*authzRequest, *authzError) {
	for _, k := range authzParams {
		if len(q[k]) > 1 {
			return nil, &authzError{"invalid_request", "parameter " + k + " repeated", true}
		}
	}
	app := s.cfg.Directory.App(q.Get("client_id"))
	if app == nil || !app.Enabled {
		return nil, &authzError{"unauthorized_client", "The application is unknown or disabled.", true}
	}
	if len(app.RedirectURIs) == 0 {
		return nil, &authzError{"unauthorized_client", "The application has no sign-in redirect addresses registered.", true}
	}
	req := &authzRequest{app: app, redirectURI: q.Get("redirect_uri"), maxAge: -1, raw: q}
	if !redirectRegistered(req.redirectURI, app.RedirectURIs) {
		return nil, &authzError{"invalid_request", "The redirect address does not match any registered for this application.", true}
	}
	// From here on errors are redirected to the (now trusted) client, in
	// the response mode asked for. The hybrid flow puts an ID token in
	// the response, so its default is the fragment and the query is
	// refused (OIDC Core §3.3.2.5; OAuth 2.0 Multiple Response Type
	// Encoding Practices §5), that refusal too going by fragment.
	req.state = q.Get("state")
	req.responseType = parseResponseType(q.Get("response_type"))
	req.responseMode = "query"
	if req.responseType == responseTypeHybrid {
		req.responseMode = "fragment"
	}
	switch m := q.Get("response_mode"); {
	case m == "":
	case m == "query" && req.responseType == responseTypeHybrid:
		return req, &authzError{"invalid_request", "response_mode=query is not allowed with response_type=code id_token; use fragment or form_post", false}
	case m == "query" || m == "fragment" || m == "form_post":
		req.responseMode = m
	default:
		return req, &authzError{"invalid_request", "response_mode must be query, fragment or form_post", false}
	}
	if req.responseType == "" {
		return req, &authzError{"unsupported_response_type", "response_type must be code or code id_token", false}
	}
	if req.state == "" {
		// RFC 9700 §2.1: CSRF protection. ERP.net requires state.
		return req, &authzError{"invalid_request", "state is required", false}
	}
	if len(req.state) > 512 {
		return req, &authzError{"invalid_request", "state is too long", false}
	}
	method, challenge := q.Get("code_challenge_method"), q.Get("code_challenge")
	switch {
	case challenge == "" && method != "":
		return req, &authzError{"invalid_request", "code_challenge_method without code_challenge", false}
	case challenge == "" && app.RequirePKCE:
		return req, &authzError{"invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256", false}
	case challenge != "" && method != "S256":
		// RFC 9700 §2.1.1: plain is not allowed; a missing method means plain (RFC 7636 §4.3).
		return req, &authzError{"invalid_request", "code_challenge_method must be S256", false}
	case challenge != "" && !pkceChallenge.MatchString(challenge):
		return req, &authzError{"invalid_request", "code_challenge is not a base64url SHA-256", false}
	}
	req.codeChallenge = challenge
	scopes, err := grantScopes(app, q.Get("scope"), true)
	if err != nil {
		return req, &authzError{"invalid_scope", asOAuthError(err).Description, false}
	}
	req.scopes = scopes
	req.nonce = q.Get("nonce")
	if len(req.nonce) > 512 {
		return req, &authzError{"invalid_request", "nonce is too long", false}
	}
	if req.responseType == responseTypeHybrid {
		// An ID token is an OpenID Connect answer, and one from the
		// front channel must be bound to the request (OIDC Core §3.3.2.11).
		if !slices.Contains(req.scopes, "openid") {
			return req, &authzError{"invalid_request", "response_type=code id_token needs the openid scope", false}
		}
		if req.nonce == "" {
			return req, &authzError{"invalid_request", "nonce is required with response_type=code id_token", false}
		}
	}
	if p := q.Get("prompt"); p != "" {
		req.prompt = strings.Fields(p)
		for _, v := range req.prompt {
			if !slices.Contains([]string{"none", "login", "consent", "select_account"}, v) {
				return req, &authzError{"invalid_request", "unknown prompt value", false}
			}
		}
		if req.hasPrompt("none") && len(req.prompt) > 1 {
			return req, &authzError{"invalid_request", "prompt=none cannot be combined", false}
		}
	}
	if ma := q.Get("max_age"); ma != "" {
		n, err := strconv.Atoi(ma)
		if err != nil || n < 0 {
			return req, &authzError{"invalid_request", "max_age must be a non-negative integer", false}
		}
		req.maxAge = n
	}
	return req, nil
}

// handleAuthorize is the authorization endpoint (RFC 6749 §3.1): GET or
// POST (OIDC Core §3.1.2.1).
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		s.errorPage(w, r, http.StatusMethodNotAllowed, "invalid_request", "Use GET or POST.")
		return
	}
	req, ok := s.readAuthorization(w, r)
	if !ok {
		return
	}
	sess, ok, err := s.lookupIdentity(r)
	if err != nil {
		// An outage is not "not signed in": RFC 6749 §4.1.2.1.
		s.cfg.Logger.ErrorContext(r.Context(), "authorize: read identity session", "err", err)
		s.authorizeFailed(w, r, req, &authzError{"temporarily_unavailable", "the sign-in cannot be checked right now; try again shortly", false})
		return
	}
	now := s.cfg.Clock()
	fresh := ok && (req.maxAge < 0 || !now.After(sess.AuthTime.Add(time.Duration(req.maxAge)*time.Second)))
	switch {
	case fresh && !req.hasPrompt("login"):
		user := s.cfg.Directory.User(sess.Subject)
		if msg := userMayUse(user, req.app); !msg.IsZero() {
			s.authorizeFailed(w, r, req, &authzError{"access_denied", english(msg), false})
			return
		}
		if acrOf(sess.Auth) != acrMFA && (req.wantsMFA() || mfaPolicy(user, req.app)) {
			// A single-factor sign-in, and the request or the policy
			// asks for two: the second step upgrades the same session
			// (mfa.go), or prompt=none cannot (OIDC Core §3.1.2.6).
			if req.hasPrompt("none") {
				s.authorizeFailed(w, r, req, &authzError{"interaction_required", "a second factor is needed", false})
				return
			}
			if err := s.startSecondStep(w, r, req, user, sess.Auth); err != nil {
				s.cfg.Logger.ErrorContext(r.Context(), "authorize: start the second step", "err", err)
				s.authorizeFailed(w, r, req, &authzError{"temporarily_unavailable", "the sign-in cannot go on right now; try again shortly", false})
			}
			return
		}
		s.continueSignIn(w, r, req, sess, user) // consent.go
	case req.hasPrompt("none"):
		// OIDC Core §3.1.2.6: interaction would be needed.
		s.authorizeFailed(w, r, req, &authzError{"login_required", "the user is not signed in", false})
	default:
		s.redirectToLogin(w, r, req)
	}
}

// readAuthorization reads and validates the authorization request of r
// (a query, or a form: the login and consent forms carry it on); when it
// fails, the answer is written and ok is false.
func (s *Server) readAuthorization(w http.ResponseWriter, r *http.Request) (req *authzRequest, ok bool) {
	if !s.parsePageForm(w, r) { // pages.go
		return nil, false
	}
	req, aerr := s.parseAuthorize(r.Form)
	if aerr != nil {
		s.authorizeFailed(w, r, req, aerr)
		return nil, false
	}
	return req, true
}

// authorizeFailed shows or redirects an authorization error.
func (s *Server) authorizeFailed(w http.ResponseWriter, r *http.Request, req *authzRequest, e *authzError) {
	if e.page || req == nil {
		s.errorPage(w, r, http.StatusBadRequest, e.code, e.description)
		return
	}
	params := []param{{"error", e.code}, {"error_description", e.description}}
	if req.state != "" {
		params = append(params, param{"state", req.state})
	}
	params = append(params, param{"iss", s.cfg.Issuer})
	s.respondToClient(w, r, req, params)
}

// respondToClient sends the authorization response to the redirect URI,
// always with iss (RFC 9207 §2): in the query, in the fragment (OAuth 2.0
// Multiple Response Type Encoding Practices §2.1) or by form post.
func (s *Server) respondToClient(w http.ResponseWriter, r *http.Request, req *authzRequest, params []param) {
	var loc string
	switch req.responseMode {
	case "form_post":
		s.renderFormPost(w, r, req.redirectURI, params)
		return
	case "fragment":
		loc = withFragment(req.redirectURI, params)
	default:
		loc = withParams(req.redirectURI, params)
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, loc, http.StatusFound)
}

// issueCode stores a fresh authorization code for the signed-in user and
// sends it to the client; in the hybrid flow with an ID token whose
// c_hash binds it to the code (OIDC Core §3.3.2.11). The code keeps the
// nonce, so the token endpoint's ID token carries it too (§3.3.3.6).
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, req *authzRequest, sess store.IdentitySession) {
	code := newSecret()
	now := s.cfg.Clock()
	params := []param{{"code", code}}
	if req.responseType == responseTypeHybrid {
		user := s.cfg.Directory.User(sess.Subject)
		if user == nil {
			s.authorizeFailed(w, r, req, &authzError{"access_denied", "the account no longer exists", false})
			return
		}
		// The front-channel ID token travels in a URL fragment (browser
		// history) or a page: it names the user but carries no profile
		// claims, which the token endpoint's ID token and userinfo give,
		// as an access token follows (OIDC Core §5.4).
		front := slices.DeleteFunc(slices.Clone(req.scopes), func(sc string) bool { return sc == "profile" })
		g := userGrant{app: req.app, user: user, scopes: front, sid: sess.ID, authTime: sess.AuthTime, nonce: req.nonce, auth: sess.Auth}
		if err := s.recordSessionClient(r.Context(), g); err != nil {
			s.cfg.Logger.ErrorContext(r.Context(), "record the session's app", "err", err)
			s.authorizeFailed(w, r, req, &authzError{"temporarily_unavailable", "the server cannot issue an ID token right now", false})
			return
		}
		idt, err := s.signIDToken(now, g, "", code)
		if err != nil {
			s.cfg.Logger.ErrorContext(r.Context(), "sign authorization endpoint ID token", "err", err)
			s.authorizeFailed(w, r, req, &authzError{"server_error", "the server cannot issue an ID token right now", false})
			return
		}
		params = append(params, param{"id_token", idt})
	}
	err := s.cfg.AuthCodes.SaveAuthCode(r.Context(), store.AuthCode{
		Hash: hashToken(code), ClientID: req.app.ID, Subject: sess.Subject, RedirectURI: req.redirectURI,
		Scopes: req.scopes, Nonce: req.nonce, CodeChallenge: req.codeChallenge, SessionID: sess.ID,
		AuthTime: sess.AuthTime, Auth: sess.Auth, CreatedAt: now, ExpiresAt: now.Add(s.cfg.CodeTTL),
	})
	if err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "save authorization code", "err", err)
		s.authorizeFailed(w, r, req, &authzError{"temporarily_unavailable", "the server cannot issue a code right now", false})
		return
	}
	s.respondToClient(w, r, req, append(params, param{"state", req.state}, param{"iss", s.cfg.Issuer}))
}
