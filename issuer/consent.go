package issuer

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/requestid"
	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/webui"
)

// Consents keeps what users agreed to share with an app
// (store.Consents): the consent page reads and saves them, the account
// page lists and revokes a user's own.
type Consents interface {
	SaveConsent(ctx context.Context, c store.Consent) error
	Consent(ctx context.Context, subject, clientID string) (store.Consent, error)
	ConsentsOf(ctx context.Context, subject string) ([]store.Consent, error)
	RevokeConsent(ctx context.Context, subject, clientID string) error
}

// consentPath is where the consent page posts its answer.
const consentPath = "/account/consent"

// continueSignIn finishes an authorization request for a signed-in user
// whose type the app allows: it asks for consent when the app or the
// request wants it (SPEC §3), else issues the code.
func (s *Server) continueSignIn(w http.ResponseWriter, r *http.Request, req *authzRequest, sess store.IdentitySession, user *directory.User) {
	if !req.app.ConsentRequired && !req.hasPrompt("consent") {
		s.issueCode(w, r, req, sess) // the registration is the consent
		return
	}
	prev, err := s.cfg.Consents.Consent(r.Context(), user.Login, req.app.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.cfg.Logger.ErrorContext(r.Context(), "read consent", "err", err)
		s.authorizeFailed(w, r, req, &authzError{"temporarily_unavailable", "consent cannot be checked right now; try again shortly", false})
		return
	}
	switch ask := needsConsent(req, prev); {
	case ask && req.hasPrompt("none"):
		// OIDC Core §3.1.2.6: consent would need the user.
		s.authorizeFailed(w, r, req, &authzError{"consent_required", "the user has not consented to these scopes", false})
	case ask:
		s.showConsent(w, r, req, user, prev)
	default:
		s.issueCode(w, r, req, sess)
	}
}

// needsConsent reports whether the user must be asked, given their
// remembered consent for the app (zero if none): prompt=consent always
// asks; otherwise the user is asked unless prev covers every scope
// requested now, so asking for more asks again.
func needsConsent(req *authzRequest, prev store.Consent) bool {
	if req.hasPrompt("consent") {
		return true
	}
	for _, sc := range req.scopes {
		if !slices.Contains(prev.Scopes, sc) {
			return true
		}
	}
	return len(req.scopes) == 0 && prev.ClientID == ""
}

// consentScope is one requested scope as the consent page shows it.
type consentScope struct {
	Name string
	New  bool // not in the user's earlier consent for the app
}

// consentData is what web/consent.html reads as .D.
type consentData struct {
	pageData
	Scopes []consentScope
	Again  bool // the user consented before, to fewer scopes than these
}

// showConsent renders the consent page for req: the app, and each scope
// in words, those the user has not agreed to before marked as new.
// prev is the user's earlier consent for the app (zero if none).
func (s *Server) showConsent(w http.ResponseWriter, r *http.Request, req *authzRequest, user *directory.User, prev store.Consent) {
	d := consentData{pageData: pageData{Prefix: s.prefix, AppName: appLabel(req.app), Login: user.Login, CSRF: s.csrfToken(w, r),
		Params: carriedParams(req, "consent")}}
	for _, sc := range req.scopes {
		isNew := len(prev.Scopes) > 0 && !slices.Contains(prev.Scopes, sc)
		d.Scopes = append(d.Scopes, consentScope{Name: sc, New: isNew})
		d.Again = d.Again || isNew
	}
	s.render(w, r, http.StatusOK, webui.Page{Name: "consent.html", Title: webui.Msg("consent.title"), Data: d,
		Lang: s.lang(r, user), FormTargets: []string{req.redirectURI}}) // the answer redirects there
}

// handleConsent takes the consent page's answer: allow remembers the
// scopes and issues the code; deny sends access_denied to the app
// (RFC 6749 §4.1.2.1). The request is validated again, as the login
// form's is, and must come from the same signed-in user.
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readAuthorization(w, r) // authorize.go
	if !ok {
		return
	}
	sess, ok, err := s.lookupIdentity(r)
	switch {
	case err != nil:
		s.cfg.Logger.ErrorContext(r.Context(), "consent: read identity session", "err", err)
		s.authorizeFailed(w, r, req, &authzError{"temporarily_unavailable", "the sign-in cannot be checked right now; try again shortly", false})
		return
	case !ok || sess.Subject != r.PostForm.Get("login"):
		// Signed out, or another user signed in, since the page was
		// shown: sign in (again) and be asked again.
		s.redirectToLogin(w, r, req)
		return
	}
	user := s.cfg.Directory.User(sess.Subject)
	if msg := userMayUse(user, req.app); !msg.IsZero() {
		s.authorizeFailed(w, r, req, &authzError{"access_denied", english(msg), false})
		return
	}
	if !csrfValid(r) {
		s.render(w, r, http.StatusForbidden, webui.Page{Name: "message.html", Title: webui.Msg("consent.title"),
			Error: webui.Msg("error.form_expired"), Data: pageData{Code: "invalid_request"}})
		return
	}
	event := audit.Event{Name: audit.ConsentGiven, ClientID: req.app.ID, Subject: user.Login, Session: sess.ID,
		RequestID: requestid.From(r.Context()), RemoteAddr: r.RemoteAddr,
		Attrs: []slog.Attr{slog.String("scopes", strings.Join(req.scopes, " "))}}
	if r.PostForm.Get("decision") != "allow" {
		event.Name = audit.ConsentDenied
		s.cfg.Audit.Log(r.Context(), event)
		s.authorizeFailed(w, r, req, &authzError{"access_denied", "the user did not consent", false})
		return
	}
	granted := req.scopes
	if prev, err := s.cfg.Consents.Consent(r.Context(), user.Login, req.app.ID); err == nil {
		granted = union(prev.Scopes, req.scopes)
	}
	err = s.cfg.Consents.SaveConsent(r.Context(), store.Consent{Subject: user.Login, ClientID: req.app.ID,
		Scopes: granted, GrantedAt: s.cfg.Clock()})
	if err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "save consent", "err", err)
		s.authorizeFailed(w, r, req, &authzError{"temporarily_unavailable", "the consent cannot be saved right now; try again shortly", false})
		return
	}
	s.cfg.Audit.Log(r.Context(), event)
	s.issueCode(w, r, req, sess)
}

// carriedParams are the authorization request's parameters for a form
// that carries it on, without the prompt value the form satisfies
// ("login" on the login form, "consent" on the consent page): the rest
// of prompt still applies.
func carriedParams(req *authzRequest, satisfied string) []param {
	var params []param
	for _, k := range authzParams {
		v := req.raw.Get(k)
		if k == "prompt" {
			v = strings.Join(slices.DeleteFunc(slices.Clone(req.prompt), func(p string) bool { return p == satisfied }), " ")
		}
		if v != "" {
			params = append(params, param{k, v})
		}
	}
	return params
}

// union is a's scopes and then b's not in a.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
