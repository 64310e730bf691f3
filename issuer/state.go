package issuer

// InheritState makes s continue the in-memory counters of old, the
// server it replaces on a config reload: the sign-in throttles and the
// token-endpoint rate limiter, each where its limits did not change, so
// a reload resets no lockout and no bucket. Call it before s serves its
// first request; old may keep serving the requests it has (the counters
// are safe for concurrent use). A nil old does nothing.
func (s *Server) InheritState(old *Server) {
	if old == nil {
		return
	}
	s.login.inherit(old.login)
	if a, b := s.tokenLimiter, old.tokenLimiter; a != nil && b != nil && a.rate == b.rate && a.burst == b.burst {
		s.tokenLimiter = old.tokenLimiter
	}
}
