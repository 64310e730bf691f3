package issuer

import (
	"slices"
	"strconv"
	"strings"

	"github.com/erpgate/erpgate/directory"
)

// Scopes every app may request without listing them.
var implicitScopes = []string{"openid", "profile", "offline_access"}

// Bounds on a scope parameter: an app has a handful of scopes, so these
// only stop a request from making the server work for nothing.
const (
	maxScopeValues   = 64   // scope-tokens, counting duplicates
	maxScopeValueLen = 128  // bytes of one scope-token
	maxScopeBytes    = 2048 // bytes of the whole parameter
)

// parseScope splits a scope parameter (RFC 6749 §3.3: space-delimited
// scope-tokens of %x21 / %x23-5B / %x5D-7E) and drops duplicates, keeping
// the order. It reports false when the parameter is malformed or out of
// bounds (scopeParam says which).
func parseScope(param string) ([]string, bool) {
	out, err := scopeParam(param)
	return out, err == nil
}

// scopeParam is parseScope with the reason: invalid_scope naming the
// bound crossed or the malformation. Its work is linear in len(param):
// the bounds are checked before anything is split, and duplicates are
// found with a set.
func scopeParam(param string) ([]string, *Error) {
	if param == "" {
		return nil, nil
	}
	if len(param) > maxScopeBytes {
		return nil, ErrInvalidScope.WithDescription("scope parameter longer than " + strconv.Itoa(maxScopeBytes) + " bytes")
	}
	if strings.Count(param, " ") >= maxScopeValues {
		return nil, ErrInvalidScope.WithDescription("more than " + strconv.Itoa(maxScopeValues) + " scope values")
	}
	return splitScope(param, maxScopeValueLen)
}

// splitScope is scopeParam without the bounds on the parameter: one pass,
// a set for the duplicates, so its cost is linear in len(param) whatever
// the number of values (BenchmarkSplitScope).
func splitScope(param string, maxLen int) ([]string, *Error) {
	var out []string
	seen := make(map[string]struct{}, strings.Count(param, " ")+1)
	for tok := range strings.SplitSeq(param, " ") {
		switch {
		case tok == "" || !validScopeToken(tok):
			return nil, ErrInvalidScope.WithDescription("malformed scope parameter")
		case len(tok) > maxLen:
			return nil, ErrInvalidScope.WithDescription("a scope value longer than " + strconv.Itoa(maxLen) + " bytes")
		}
		if _, dup := seen[tok]; !dup {
			seen[tok] = struct{}{}
			out = append(out, tok)
		}
	}
	return out, nil
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
	req, err := scopeParam(param)
	if err != nil {
		return nil, err
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
