// Package explain answers `erpgate policy explain`: for one request and
// what its caller carries, which route it matches, what the route
// requires, what the policy decides with its reason code, what the proxy
// would answer, the routes it nearly matched, and what the proxy would
// refuse about a given token before any route rule.
//
// It asks the proxy's own code rather than restating it: the decision is
// policy.(*Set).Decide, the near misses policy.(*Set).NearMisses, every
// answer proxy.AnswerFor, and a token is read as the proxy reads a bearer
// token (authority.ReadCredential, signing.Parse with the keyring's
// algorithms and typ at+jwt, claims.Access) — but not verified: the point
// is to see what a token would be allowed if the proxy accepted it.
//
//	x, err := explain.Explain(f, set, explain.Request{Method: "GET", Path: "/api/x", Token: tok}, time.Now())
//	x.WriteTo(os.Stdout) // aligned "label  text" lines
//	x.Allowed()          // the exit status
//
// The package reads no file, flag or environment; cmd/erpgate parses the
// arguments, reads the config and the token, and prints. The wording is
// the command's, so it names its flags (--token, --scopes, --audience).
package explain
