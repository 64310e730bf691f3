package issuer

import (
	"errors"
	"net/http"

	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/directory"
	"github.com/erpgate/erpgate/dpop"
)

// DPoP at the token endpoint (RFC 9449 §5): a token request with a proof
// gets an access token bound to the proof's key (cnf.jkt) and token_type
// DPoP; a public client's refresh token is bound to it too, so only the
// key's holder can refresh; an app with dpop: required must send one.

// ErrInvalidDPoPProof is RFC 9449 §5's error for a missing or invalid
// proof; ErrUseDPoPNonce asks the client to retry with the server nonce
// in the DPoP-Nonce header (§8).
var (
	ErrInvalidDPoPProof = &Error{Code: "invalid_dpop_proof", Status: http.StatusBadRequest}
	ErrUseDPoPNonce     = &Error{Code: "use_dpop_nonce", Status: http.StatusBadRequest}
)

// tokenProof checks the DPoP proof of a token request and returns its
// key's thumbprint; "" without a proof.
func (s *Server) tokenProof(r *http.Request, app *directory.App) (string, error) {
	vals := r.Header.Values(dpop.HeaderName)
	if len(vals) == 0 {
		if app.DPoPRequired {
			return "", ErrInvalidDPoPProof.WithDescription("this application must send a DPoP proof with its token requests (RFC 9449)")
		}
		return "", nil
	}
	p, err := s.dpop.Check(vals, dpop.Request{Method: r.Method, URL: s.cfg.Issuer + "/connect/token"})
	var pe *dpop.Error
	switch {
	case errors.As(err, &pe) && pe.UseNonce:
		return "", ErrUseDPoPNonce.WithDescription(pe.Reason)
	case errors.As(err, &pe):
		return "", ErrInvalidDPoPProof.WithDescription(pe.Reason)
	}
	if err != nil {
		return "", ErrServerError.WithCause(err)
	}
	return p.JKT, nil
}

// scheme is the issuer's URL scheme: how clients reach the server, for
// the URLs DPoP proofs name.
func (s *Server) scheme() string {
	if s.secure {
		return "https"
	}
	return "http"
}

// confirmation is the cnf claim of a token bound to jkt; nil for "".
func confirmation(jkt string) *claims.Confirmation {
	if jkt == "" {
		return nil
	}
	return &claims.Confirmation{JKT: jkt}
}

// tokenType is the token_type of an access token bound to jkt (RFC 9449
// §5), or Bearer.
func tokenType(jkt string) string {
	if jkt != "" {
		return dpop.TokenType
	}
	return "Bearer"
}

// refreshBinding is the DPoP key a new refresh token of app is bound to:
// a public client's is bound to the key of the request that gets it
// (RFC 9449 §5); a confidential client's is bound by its client
// authentication, not a key.
func refreshBinding(app *directory.App, jkt string) string {
	if app.Public {
		return jkt
	}
	return ""
}
