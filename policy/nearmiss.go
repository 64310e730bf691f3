package policy

import (
	"fmt"
	"strings"
)

// NearMiss is a route that would take a request but for one difference:
// the usual surprise behind a no_route.
type NearMiss struct {
	Index int    // position in the slice passed to Compile
	Route *Route // belongs to the Set; do not modify
	// Why says what differs, as a phrase that follows the route's name:
	// `matches the path but only for GET, not HEAD`.
	Why string
}

// NearMisses returns, in route order, the routes tried before the first
// match (all of them when none matches) that would take method and path
// but for one thing:
//
//   - the method: the path matches, the method is not listed (HEAD is
//     not implied by GET);
//   - a trailing slash: the path with its final "/" removed, or with
//     one added, would match (PathPrefix "/api/domain/" does not take
//     "/api/domain"; Path "/api/health" does not take "/api/health/").
//
// A path that is not canonical (ValidPath) has none: it matches nothing
// whatever the routes say. NearMisses is for explaining a decision
// (`erpgate policy explain`), not for the request path; it allocates.
func (s *Set) NearMisses(method, path string) []NearMiss {
	if s == nil || !ValidPath(path) {
		return nil
	}
	var other string // path with its trailing slash toggled
	switch {
	case path == "/":
	case strings.HasSuffix(path, "/"):
		other = strings.TrimSuffix(path, "/")
	default:
		other = path + "/"
	}
	var out []NearMiss
	for i := range s.match {
		m := &s.match[i]
		if m.matches(method, path) {
			break // routes after the first match are never tried
		}
		var why string
		switch {
		case m.matchesPath(path):
			why = fmt.Sprintf("matches the path but only for %s, not %s", strings.Join(m.methods, " "), method)
		case other != "" && m.matches(method, other):
			if strings.HasSuffix(other, "/") {
				why = fmt.Sprintf("matches %q, with a trailing slash", other)
			} else {
				why = fmt.Sprintf("matches %q, without the trailing slash", other)
			}
		default:
			continue
		}
		out = append(out, NearMiss{Index: i, Route: &s.routes[i], Why: why})
	}
	return out
}
