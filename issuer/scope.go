package issuer

import (
	"slices"
	"strings"

	"github.com/erpgate/erpgate/directory"
)

// Scopes every app may request without listing them.
var implicitScopes = []string{"openid", "profile", "offline_access"}

// parseScope splits a scope parameter (RFC 6749 §3.3: space-delimited
// scope-tokens of %x21 / %x23-5B / %x5D-7E) and drops duplicates, keeping
// the order. It reports false when the parameter is malformed.
func parseScope(param string) ([]string, bool) {
	if param == "" {
		return nil, true
	}
	var out []string
	for tok := range strings.SplitSeq(param, " ") {
		if tok == "" || !validScopeToken(tok) {
			return nil, false
		}
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	return out, true
}

func validScopeToken(tok string) bool {
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c < 0x21 || c == 0x22 || c == 0x5C || c > 0x7E {
			return false
		}
	}
	return true
}

// grantScopes decides the scopes of a token request: every requested
// scope must be one of the app's or an implicit one allowed for the grant;
// none requested means all of the app's own scopes (SPEC §3).
func grantScopes(app *directory.App, param string, implicitAllowed bool) ([]string, error) {
	req, ok := parseScope(param)
	if !ok {
		return nil, ErrInvalidScope.WithDescription("malformed scope parameter")
	}
	if len(req) == 0 {
		return slices.Clone(app.Scopes), nil
	}
	for _, sc := range req {
		if slices.Contains(app.Scopes, sc) {
			continue
		}
		if implicitAllowed && slices.Contains(implicitScopes, sc) {
			continue
		}
		return nil, ErrInvalidScope.WithDescription("scope " + sc + " is not allowed for this application")
	}
	return req, nil
}
