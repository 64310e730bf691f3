package issuer

import (
	"context"
	"errors"
	"net/http"

	"github.com/erpgate/erpgate/federation"
	"github.com/erpgate/erpgate/webui"
)

// directoryLogin checks a login and password typed into the login form
// at the app's LDAP / Active Directory providers, in order (SPEC §10),
// under the same throttling as a local password: the caller holds the
// attempt, and a wrong password anywhere counts as one failure with the
// same message and audit reason. The identity of the first directory
// that accepts is mapped to a local user as an OpenID provider's is.
func (s *Server) directoryLogin(w http.ResponseWriter, r *http.Request, req *authzRequest, providers []*Provider, login, pw, account, address string) {
	ctx, cancel := context.WithTimeout(r.Context(), federatedExchangeTimeout)
	defer cancel()
	var down []string
	for _, p := range providers {
		ident, err := p.Password.Authenticate(ctx, login, pw)
		switch {
		case err == nil:
			s.login.succeeded(account, address)
			ident.Provider = p.ID
			if len(ident.Methods) == 0 {
				ident.Methods = []string{"pwd"} // a bind is a password check (RFC 8176 §2)
			}
			s.federatedSignIn(w, r, req, p, ident) // login_federated.go
			return
		case errors.Is(err, federation.ErrWrongCredentials):
		default:
			s.cfg.Logger.WarnContext(r.Context(), "directory sign-in", "provider", p.ID, "err", err)
			down = append(down, p.ID)
		}
	}
	if len(down) > 0 {
		// A directory that could not answer: no verdict on the password,
		// so no failure counted against the account.
		for _, id := range down {
			s.cfg.Metrics.FederatedLogins.WithLabelValues(id, "idp_unavailable").Inc()
		}
		s.loginFailed(r, req, login, "idp_unavailable")
		s.showLogin(w, r, req, login, webui.Msg("login.error.unavailable"), http.StatusServiceUnavailable)
		return
	}
	s.login.failed(account, address)
	s.loginFailed(r, req, login, "wrong_credentials")
	s.showLogin(w, r, req, login, msgWrongCredentials, http.StatusOK)
}
