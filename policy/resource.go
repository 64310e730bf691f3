package policy

import "slices"

// Protecting returns the protected routes that serve path for some
// method, in route order, each once: the routes a client calling path
// may need a token for (RFC 9728 protected-resource metadata describes
// them). A route shadowed for every method by earlier routes is left
// out, as are public routes. nil when path is not canonical or no
// protected route serves it.
func (s *Set) Protecting(path string) []*Route {
	if s == nil || !ValidPath(path) {
		return nil
	}
	var out []*Route
	for _, m := range s.methods() {
		i, r, ok := s.Match(m, path)
		if !ok || r.Public || slices.Contains(out, &s.routes[i]) {
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Route) int { return s.index(a) - s.index(b) })
	return out
}

// methods is every method some route names, and "" for every other one
// (which only routes taking any method match).
func (s *Set) methods() []string {
	ms := []string{""}
	for _, r := range s.routes {
		for _, m := range r.Methods {
			if !slices.Contains(ms, m) {
				ms = append(ms, m)
			}
		}
	}
	return ms
}

// index is r's position in the Set; r is one of its routes.
func (s *Set) index(r *Route) int {
	for i := range s.routes {
		if &s.routes[i] == r {
			return i
		}
	}
	return -1
}
