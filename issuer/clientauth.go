package issuer

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"

	"github.com/erpgate/erpgate/directory"
)

// dummySecretHash is compared against when the client is unknown, so an
// unknown client_id costs the same time as a wrong secret.
var dummySecretHash = sha256.Sum256([]byte("erpgate: no such client"))

// authenticateClient identifies and authenticates the client of a token
// endpoint request (RFC 6749 §2.3.1): client_secret_basic, whose id and
// secret are form-urlencoded before Base64 (app URIs contain "/"), or
// client_secret_post. Public apps send only client_id. Using both methods
// at once is refused (RFC 6749 §2.3: "MUST NOT use more than one").
func (s *Server) authenticateClient(r *http.Request, form url.Values) (*directory.App, error) {
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, ErrInvalidRequest.WithDescription("client credentials in the Authorization header are not form-urlencoded")
		}
		if _, ok := form["client_secret"]; ok {
			return nil, ErrInvalidRequest.WithDescription("use one client authentication method, not both")
		}
		if fid, ok := form["client_id"]; ok && fid[0] != id {
			return nil, ErrInvalidRequest.WithDescription("client_id in the body differs from the Authorization header")
		}
	} else if r.Header.Get("Authorization") != "" {
		return nil, ErrInvalidClient.WithDescription("unsupported client authentication scheme")
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" {
		return nil, ErrInvalidRequest.WithDescription("client_id is required")
	}
	app := s.cfg.Directory.App(id)
	if app == nil || !app.Enabled {
		subtle.ConstantTimeCompare(dummySecretHash[:], hashSecret(secret))
		return nil, ErrInvalidClient.WithDescription("unknown or disabled client")
	}
	if app.Public {
		if secret != "" {
			return nil, ErrInvalidClient.WithDescription("public clients have no secret")
		}
		return app, nil
	}
	if secret == "" {
		return nil, ErrInvalidRequest.WithDescription("client_secret is required")
	}
	if subtle.ConstantTimeCompare(app.SecretHash, hashSecret(secret)) != 1 {
		return nil, ErrInvalidClient.WithDescription("client authentication failed")
	}
	return app, nil
}

// hashSecret is how secrets are stored: SHA-256, compared in constant
// time. Client secrets are high-entropy random strings, so a fast hash is
// right here (a slow KDF would only slow the token endpoint down).
func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}
