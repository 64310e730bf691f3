package issuer

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/federation"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/webui"
)

// Sign-in through an external OpenID provider (SPEC §10): the login
// page's button starts an authorization code flow at the provider
// (federatedStartPath), whose answer comes back to federatedCallbackPath;
// the identity it asserts is mapped to a local user (federated_users.go)
// and signed in exactly as a password sign-in is, so consent, the
// hybrid flow, the kill switches and the user-type checks all apply.

// RedirectProvider is an OpenID provider people are sent to
// (*federation.OIDC).
type RedirectProvider interface {
	// AuthCodeURL is the authorization request r; federation.ErrUnavailable
	// or ErrWrongIssuer (wrapped) when the provider cannot be used now.
	AuthCodeURL(ctx context.Context, r federation.AuthRequest) (string, error)
	// Exchange redeems the code and returns the verified identity.
	Exchange(ctx context.Context, code, verifier, nonce string) (federation.Identity, error)
	// EndSessionURL is where the browser ends its session at the
	// provider, coming back to postLogout; false when it should not.
	EndSessionURL(ctx context.Context, postLogout, state string) (string, bool)
}

// Provider is one external identity provider (config
// identity_providers[]): exactly one of Redirect (OpenID Connect) and
// Password (LDAP) is set.
type Provider struct {
	ID       string
	Name     string   // the button's label
	Domains  []string // a login_hint in one of them picks the provider
	Rules    federation.Rules
	Redirect RedirectProvider
	Password federation.PasswordProvider
}

const (
	federatedStartPath    = "/account/login/federated/"
	federatedCallbackPath = "/account/callback/"
	// federatedCookie + a digest of the state holds a pending sign-in at
	// a provider, so several tabs can sign in at once.
	federatedCookie = "erpgate_fed_"
	// federatedTTL bounds how long a person may take at the provider.
	federatedTTL = 10 * time.Minute
	// federatedExchangeTimeout bounds the code exchange and the checks
	// after it, whatever the provider's HTTP client allows.
	federatedExchangeTimeout = 15 * time.Second
	// maxPendingCookie keeps the pending sign-in's cookie inside the
	// 4096 bytes browsers store for one cookie, name and attributes
	// included (RFC 6265 §6.1).
	maxPendingCookie = 3800
)

// pendingFederated is what the cookie keeps between the redirect to the
// provider and its answer. It is the browser's own: the state in the
// answer must name it (the cookie's name is a digest of the state, and
// StateHash is compared in constant time), and the authorization
// request it carries is validated again when it comes back.
type pendingFederated struct {
	Provider  string `json:"p"`
	StateHash string `json:"s"`
	Nonce     string `json:"n"`
	Verifier  string `json:"v"` // PKCE code_verifier (RFC 7636 §4.1)
	Request   string `json:"q"` // the app's authorization request, as a query
	Expires   int64  `json:"e"`
}

// spentStates remembers the state digests answered already, until they
// would have expired anyway, so a replayed answer (the same URL with
// the same cookie) is refused even before the provider refuses its
// spent code.
type spentStates struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// spend reports whether hash is new, and remembers it until exp.
func (s *spentStates) spend(hash string, now, exp time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = make(map[string]time.Time)
	}
	for h, e := range s.seen {
		if now.After(e) {
			delete(s.seen, h)
		}
	}
	if _, ok := s.seen[hash]; ok {
		return false
	}
	s.seen[hash] = exp
	return true
}

// provider is the provider id if offered (an app's IdentityProviders)
// lists it.
func (s *Server) provider(offered []string, id string) (*Provider, bool) {
	if !slices.Contains(offered, id) {
		return nil, false
	}
	for i := range s.cfg.Providers {
		if s.cfg.Providers[i].ID == id {
			return &s.cfg.Providers[i], true
		}
	}
	return nil, false
}

// handleFederatedStart sends the browser to the provider with a new
// state, nonce and PKCE verifier (OIDC Core §3.1.2.1, RFC 9700 §2.1),
// after validating the authorization request it carries.
func (s *Server) handleFederatedStart(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readAuthorization(w, r) // authorize.go
	if !ok {
		return
	}
	p, ok := s.provider(req.app.IdentityProviders, r.PathValue("provider"))
	if !ok || p.Redirect == nil {
		s.errorPage(w, r, http.StatusNotFound, "invalid_request", "The application does not offer this identity provider.")
		return
	}
	s.redirectToProvider(w, r, req, p)
}

// redirectToProvider starts the sign-in of req at p.
func (s *Server) redirectToProvider(w http.ResponseWriter, r *http.Request, req *authzRequest, p *Provider) {
	state, nonce, verifier := newSecret(), newSecret(), federation.GenerateVerifier()
	ctx, cancel := context.WithTimeout(r.Context(), federatedExchangeTimeout)
	defer cancel()
	to, err := p.Redirect.AuthCodeURL(ctx, federation.AuthRequest{State: state, Nonce: nonce, Verifier: verifier,
		LoginHint: req.raw.Get("login_hint"), ForceLogin: req.hasPrompt("login") || req.maxAge >= 0})
	if err != nil {
		s.federatedFailed(w, r, req, p, err)
		return
	}
	q := url.Values{}
	for _, k := range authzParams {
		if v := req.raw.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	now := s.cfg.Clock()
	pend := pendingFederated{Provider: p.ID, StateHash: hashToken(state), Nonce: nonce, Verifier: verifier,
		Request: q.Encode(), Expires: now.Add(federatedTTL).Unix()}
	raw, err := json.Marshal(pend)
	if err != nil {
		s.federatedFailed(w, r, req, p, err)
		return
	}
	value := base64.RawURLEncoding.EncodeToString(raw)
	if len(value) > maxPendingCookie {
		// A browser would drop the cookie, and the answer would look
		// forged; say so now instead.
		s.errorPage(w, r, http.StatusBadRequest, "invalid_request", "The sign-in request is too large to carry through the identity provider.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: federatedCookie + pend.StateHash[:16], Value: value,
		Path: s.prefix + federatedCallbackPath + p.ID, MaxAge: int(federatedTTL / time.Second),
		// Lax: the provider's answer is a top-level GET from its site.
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusFound)
}

// handleFederatedCallback takes the provider's answer (OIDC Core
// §3.1.2.5): the state must name this browser's pending sign-in, once;
// the code is exchanged, the ID token verified, the identity mapped to
// a local user, and the sign-in goes on as a password sign-in does.
func (s *Server) handleFederatedCallback(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("provider")
	q := r.URL.Query()
	pend, ok := s.takePending(w, r, id, q.Get("state"))
	if !ok {
		s.federatedRefused(w, r, nil, id, "idp_state_mismatch", http.StatusBadRequest)
		return
	}
	// The app's authorization request, validated again: the app or its
	// redirect URIs may have changed while the person was away.
	form, err := url.ParseQuery(pend.Request)
	if err != nil {
		s.federatedRefused(w, r, nil, id, "idp_state_mismatch", http.StatusBadRequest)
		return
	}
	r.Form = form // the pages speak the app's ui_locales, as the login page did
	req, aerr := s.parseAuthorize(form)
	if aerr != nil {
		s.authorizeFailed(w, r, req, aerr)
		return
	}
	p, ok := s.provider(req.app.IdentityProviders, id)
	if !ok || p.Redirect == nil {
		s.federatedRefused(w, r, req, id, "idp_not_offered", http.StatusNotFound)
		return
	}
	if e := q.Get("error"); e != "" {
		// OIDC Core §3.1.2.6: the person cancelled, or the provider
		// refused them. Its description is the provider's; it is logged,
		// not shown.
		s.cfg.Logger.InfoContext(r.Context(), "identity provider refused the sign-in", "provider", id, "error", clip(e),
			"error_description", clip(q.Get("error_description")))
		s.federatedRefused(w, r, req, id, "idp_denied", http.StatusForbidden)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), federatedExchangeTimeout)
	defer cancel()
	ident, err := p.Redirect.Exchange(ctx, q.Get("code"), pend.Verifier, pend.Nonce)
	if err != nil {
		s.federatedFailed(w, r, req, p, err)
		return
	}
	s.federatedSignIn(w, r, req, p, ident)
}

// takePending reads and clears the pending sign-in state names, at
// provider; false when there is none, it is another provider's, expired,
// or answered before.
func (s *Server) takePending(w http.ResponseWriter, r *http.Request, provider, state string) (pendingFederated, bool) {
	if state == "" {
		return pendingFederated{}, false
	}
	hash := hashToken(state)
	name := federatedCookie + hash[:16]
	c, err := r.Cookie(name)
	if err != nil {
		return pendingFederated{}, false
	}
	// Single use: the cookie goes whatever the outcome.
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: s.prefix + federatedCallbackPath + provider, MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	var pend pendingFederated
	if err != nil || json.Unmarshal(raw, &pend) != nil {
		return pendingFederated{}, false
	}
	now := s.cfg.Clock()
	exp := time.Unix(pend.Expires, 0)
	if subtle.ConstantTimeCompare([]byte(pend.StateHash), []byte(hash)) != 1 || pend.Provider != provider || !now.Before(exp) {
		return pendingFederated{}, false
	}
	return pend, s.spent.spend(hash, now, exp)
}

// federatedSignIn maps ident to a local user and signs them in.
func (s *Server) federatedSignIn(w http.ResponseWriter, r *http.Request, req *authzRequest, p *Provider, ident federation.Identity) {
	user, reason, err := s.federatedUser(r.Context(), r.RemoteAddr, p, ident) // federated_users.go
	switch {
	case err != nil:
		s.cfg.Logger.ErrorContext(r.Context(), "federated sign-in: map the identity", "provider", p.ID, "err", err)
		s.federatedRefused(w, r, req, p.ID, "idp_store_unavailable", http.StatusServiceUnavailable)
		return
	case reason != "":
		s.federatedRefused(w, r, req, p.ID, reason, http.StatusForbidden)
		return
	}
	if msg := userMayUse(user, req.app); !msg.IsZero() {
		s.federatedAudit(r, req, p.ID, user.Login, "", "user_type_not_allowed")
		s.render(w, r, http.StatusForbidden, webui.Page{Name: "message.html", Title: webui.Msg("error.signin_failed.title"),
			Error: msg, Data: pageData{Code: "access_denied"}})
		return
	}
	auth := store.Authentication{Provider: p.ID, Tenant: ident.Tenant, Methods: ident.Methods}
	second, err := s.needSecondStep(w, r, req, user, &auth) // mfa.go
	if second {
		s.cfg.Metrics.FederatedLogins.WithLabelValues(p.ID, "success").Inc() // the provider's part passed
		return
	}
	var sess signedIn
	if err == nil {
		sess, err = s.signIn(r, user, auth) // login.go
	}
	if err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "federated sign-in", "provider", p.ID, "err", err)
		s.federatedRefused(w, r, req, p.ID, "idp_store_unavailable", http.StatusServiceUnavailable)
		return
	}
	s.cfg.Metrics.FederatedLogins.WithLabelValues(p.ID, "success").Inc()
	s.signedInAs(w, r, req, user, sess, auth)
	s.continueSignIn(w, r, req, sess.IdentitySession, user) // consent.go
}

// federatedFailed answers a provider error: the reason from its kind.
func (s *Server) federatedFailed(w http.ResponseWriter, r *http.Request, req *authzRequest, p *Provider, err error) {
	reason, status := "idp_token_invalid", http.StatusBadGateway
	switch {
	case errors.Is(err, federation.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		reason, status = "idp_unavailable", http.StatusServiceUnavailable
	case errors.Is(err, federation.ErrWrongIssuer):
		reason = "idp_wrong_issuer"
	case errors.Is(err, federation.ErrNonceMismatch):
		reason, status = "idp_nonce_mismatch", http.StatusBadRequest
	case errors.Is(err, federation.ErrWrongDomain):
		reason, status = "idp_user_refused", http.StatusForbidden
	}
	s.cfg.Logger.WarnContext(r.Context(), "federated sign-in failed", "provider", p.ID, "reason", reason, "err", err)
	s.federatedRefused(w, r, req, p.ID, reason, status)
}

// federatedRefused counts, audits and explains a failed federated
// sign-in. req is nil when the app's request is not known (no pending
// sign-in).
func (s *Server) federatedRefused(w http.ResponseWriter, r *http.Request, req *authzRequest, provider, reason string, status int) {
	s.federatedAudit(r, req, provider, "", "", reason)
	name := provider
	for _, p := range s.cfg.Providers {
		if p.ID == provider {
			name = p.Name
		}
	}
	d := pageData{Code: reason}
	if req != nil {
		// Back to the login page, to try again or choose another way:
		// without login_hint, whose domain would send the browser
		// straight back to the provider that just failed.
		q := url.Values{}
		for _, k := range authzParams {
			if v := req.raw.Get(k); v != "" && k != "login_hint" {
				q.Set(k, v)
			}
		}
		d.Next, d.NextText = s.prefix+"/account/login?"+q.Encode(), webui.Msg("federated.back")
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "10")
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, webui.Page{Name: "message.html", Title: webui.Msg("federated.title"),
		Error: federatedMessage(reason, name), Data: d})
}

// federatedMessage says in words what went wrong; name is the
// provider's label.
func federatedMessage(reason, name string) webui.Text {
	switch reason {
	case "idp_unavailable":
		return webui.Msg("federated.error.unavailable", name)
	case "idp_wrong_issuer":
		return webui.Msg("federated.error.issuer", name)
	case "idp_state_mismatch", "idp_nonce_mismatch":
		return webui.Msg("federated.error.state")
	case "idp_email_unverified":
		return webui.Msg("federated.error.email_unverified", name)
	case "idp_user_refused", "idp_no_login", "idp_user_disabled":
		return webui.Msg("federated.error.refused", name)
	case "idp_login_taken":
		return webui.Msg("federated.error.login_taken", name)
	case "idp_denied":
		return webui.Msg("federated.error.denied", name)
	case "idp_store_unavailable":
		return webui.Msg("login.error.unavailable")
	case "idp_not_offered":
		return webui.Msg("federated.error.not_offered", name)
	}
	return webui.Msg("federated.error.token", name)
}

// federatedAudit records a federated sign-in's failure: the login
// failure every door counts, and the provider's own metric.
func (s *Server) federatedAudit(r *http.Request, req *authzRequest, provider, subject, sid, reason string) {
	s.cfg.Metrics.Logins.WithLabelValues("failure").Inc()
	s.cfg.Metrics.FederatedLogins.WithLabelValues(s.providerLabel(provider), reason).Inc()
	clientID := ""
	if req != nil {
		clientID = req.app.ID
	}
	s.cfg.Audit.Log(r.Context(), audit.Event{
		Name: audit.LoginFailed, ClientID: clientID, Subject: subject, Session: sid,
		RequestID: requestid.From(r.Context()), RemoteAddr: r.RemoteAddr, Reason: reason,
		Attrs: []slog.Attr{slog.String("idp", s.providerLabel(provider))},
	})
}

// providerLabel is provider if it is configured, else "unknown": a path
// segment anyone can type must not grow the metric's label set.
func (s *Server) providerLabel(provider string) string {
	for _, p := range s.cfg.Providers {
		if p.ID == provider {
			return provider
		}
	}
	return "unknown"
}

// loginHintProvider is the redirect provider of the app whose domains
// list the login_hint's domain, if any (SPEC §10: a domain hint skips
// the choice).
func (s *Server) loginHintProvider(req *authzRequest) *Provider {
	_, domain, ok := strings.Cut(req.raw.Get("login_hint"), "@")
	if !ok || domain == "" {
		return nil
	}
	for _, id := range req.app.IdentityProviders {
		p, ok := s.provider(req.app.IdentityProviders, id)
		if !ok || p.Redirect == nil {
			continue
		}
		for _, d := range p.Domains {
			if strings.EqualFold(d, domain) {
				return p
			}
		}
	}
	return nil
}

// clip shortens a value a provider sent, for the log.
func clip(v string) string {
	if len(v) > 200 {
		return v[:200] + "…"
	}
	return v
}

// checkProviders checks the providers of cfg: ids unique, one kind
// each, and the stores they need.
func checkProviders(cfg Config) error {
	if len(cfg.Providers) == 0 {
		return nil
	}
	if cfg.FederatedLinks == nil || cfg.FederatedUsers == nil {
		return errors.New("issuer: Providers need FederatedLinks and FederatedUsers")
	}
	seen := map[string]bool{}
	for _, p := range cfg.Providers {
		switch {
		case p.ID == "" || seen[p.ID]:
			return fmt.Errorf("issuer: provider id %q is empty or repeated", p.ID)
		case (p.Redirect == nil) == (p.Password == nil):
			return fmt.Errorf("issuer: provider %s must be either a redirect or a password provider", p.ID)
		}
		seen[p.ID] = true
	}
	return nil
}
