package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/erpgate/erpgate/authority"
	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/policy"
	"github.com/erpgate/erpgate/proxy"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/signing"
)

// Exit codes of `erpgate policy explain`, so scripts can test a rule.
const (
	explainAllow = 0 // the policy lets the request through
	explainDeny  = 1 // the policy refuses it (or no route matches)
	explainUsage = 2 // the question could not be answered: flags, config or token unreadable
)

const policyUsage = `usage: erpgate policy explain --config FILE [--token JWT|- | --scopes "read update"] [--audience "A B"] METHOD URL

Shows which route a request matches, what the route requires, and whether
the policy allows it, with the reason code the proxy puts in
erpgate_auth_decisions_total{reason} and in access.denied audit lines.

  --token JWT     take audiences and scopes from this access token; its
                  signature, issuer, expiry and revocation are NOT checked
                  ("-" reads it from stdin, out of shell history)
  --scopes LIST   assume a valid token with these space-delimited scopes
  --audience LIST the assumed token's audiences (default: tokens.audiences,
                  which every token this gateway issues carries)
  neither         the request carries no credentials

Exit status: 0 allow, 1 deny, 2 usage or unreadable config or token.
`

// cmdPolicy dispatches `erpgate policy SUBCOMMAND` and returns the exit code.
func cmdPolicy(args []string, e env) int {
	if len(args) == 0 || args[0] != "explain" {
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(e.stdout, policyUsage)
			return 0
		}
		fmt.Fprint(e.stderr, policyUsage)
		return explainUsage
	}
	return cmdExplain(args[1:], e)
}

// explainArgs are the parsed flags and operands of `policy explain`.
type explainArgs struct {
	config, token, scopes, audience string
	scopesSet, audienceSet          bool
	method, target                  string
}

// parseExplainArgs accepts flags before, between and after the two
// operands (SPEC §1 writes `--config FILE METHOD URL [--token T]`); "--"
// ends the flags.
func parseExplainArgs(args []string, stderr io.Writer) (explainArgs, error) {
	var a explainArgs
	fs := flag.NewFlagSet("policy explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, policyUsage) }
	fs.StringVar(&a.config, "config", "", "config file (default $ERPGATE_CONFIG, else erpgate.yaml)")
	fs.StringVar(&a.token, "token", "", `access token (JWT) whose audiences and scopes to use; "-" reads stdin`)
	fs.StringVar(&a.scopes, "scopes", "", "space-delimited scopes of an assumed valid token")
	fs.StringVar(&a.audience, "audience", "", "space-delimited audiences of the assumed token (default tokens.audiences)")

	var operands []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return a, err
		}
		left := fs.Args()
		if len(left) == 0 {
			break
		}
		if consumed := len(rest) - len(left); consumed > 0 && rest[consumed-1] == "--" {
			operands = append(operands, left...)
			break
		}
		operands = append(operands, left[0])
		rest = left[1:]
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "scopes":
			a.scopesSet = true
		case "audience":
			a.audienceSet = true
		}
	})
	switch {
	case len(operands) != 2:
		return a, fmt.Errorf("want METHOD and URL, got %d operand(s)", len(operands))
	case a.token != "" && (a.scopesSet || a.audienceSet):
		return a, errors.New("--token gives the audiences and scopes; do not combine it with --scopes or --audience")
	}
	a.method, a.target = strings.ToUpper(operands[0]), operands[1]
	return a, nil
}

// explainSubject is what explain assumes about the request's credentials.
type explainSubject struct {
	facts policy.Facts
	lines []string // how the caller is described, one entry per output line
	notes []string // what the proxy would check that explain does not
}

// cmdExplain is `erpgate policy explain`.
func cmdExplain(args []string, e env) int {
	a, err := parseExplainArgs(args, e.stderr)
	if errors.Is(err, flag.ErrHelp) {
		return explainUsage
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "erpgate policy explain: %v\n\n%s", err, policyUsage)
		return explainUsage
	}
	path, err := explainPath(a.target)
	if err != nil {
		fmt.Fprintf(e.stderr, "erpgate policy explain: %v\n", err)
		return explainUsage
	}
	file := configPath(a.config, e)
	f, err := loadConfig(file, e)
	if err != nil {
		var probs config.Problems
		if errors.As(err, &probs) {
			fmt.Fprintf(e.stderr, "%s: %d problem(s) (erpgate check lists them too):\n", file, len(probs))
			for _, p := range probs {
				fmt.Fprintf(e.stderr, "  %s\n", p)
			}
		} else {
			fmt.Fprintf(e.stderr, "erpgate policy explain: %s: %v\n", file, err)
		}
		return explainUsage
	}
	set, err := policy.Compile(policyRoutes(f))
	if err != nil { // config validation should have caught it
		fmt.Fprintf(e.stderr, "erpgate policy explain: %s: %v\n", file, err)
		return explainUsage
	}
	c, err := explainCredentials(a, f, e.stdin, time.Now())
	if err != nil {
		fmt.Fprintf(e.stderr, "erpgate policy explain: %v\n", err)
		return explainUsage
	}
	c.facts.Method, c.facts.Path = a.method, path
	d := set.Decide(c.facts)
	writeExplanation(e.stdout, f, set, c, d)
	if d.Allowed() {
		return explainAllow
	}
	return explainDeny
}

// explainPath returns the decoded path the proxy would match (what
// net/http puts in r.URL.Path) from a path or an absolute URL. The query
// is ignored: routes never look at it.
func explainPath(target string) (string, error) {
	if target == "" {
		return "", errors.New("URL is empty")
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("URL %q: %v", target, err)
	}
	if u.Opaque != "" || (u.Scheme != "" && u.Host == "") {
		return "", fmt.Errorf("URL %q: give a path (/api/x) or an absolute http(s) URL", target)
	}
	if u.Path == "" && u.Host != "" {
		return "/", nil // clients send "/" for http://host
	}
	return u.Path, nil
}

// explainCredentials builds the request facts from --token, or --scopes and
// --audience, or nothing (no credentials).
func explainCredentials(a explainArgs, f *config.File, stdin io.Reader, now time.Time) (explainSubject, error) {
	switch {
	case a.token != "":
		return explainToken(a.token, f, stdin, now)
	case a.scopesSet || a.audienceSet:
		c := explainSubject{facts: policy.Facts{Authenticated: true, Scopes: strings.Fields(a.scopes)}}
		aud := "(--audience)"
		if a.audienceSet {
			c.facts.Audiences = strings.Fields(a.audience)
		} else {
			c.facts.Audiences = slices.Clone(f.Tokens.Audiences)
			aud = "(tokens.audiences, as every token this gateway issues)"
		}
		c.lines = append(c.lines,
			"a valid token is assumed (--scopes/--audience)",
			fmt.Sprintf("audiences %s %s", explainList(c.facts.Audiences, "none"), aud),
			fmt.Sprintf("scopes %s", explainList(c.facts.Scopes, "none")))
		return c, nil
	}
	return explainSubject{lines: []string{"no credentials (give --token or --scopes to explain a token)"}}, nil
}

// explainToken reads tok as the proxy reads a bearer token — the
// credential of an Authorization header (authority.ReadCredential), a
// JWT access token (signing.Parse: compact form, alg, typ at+jwt), its
// claims as claims.Access — but does NOT verify it: explain is a
// diagnostic, and the point is to see what a token would be allowed if
// the proxy accepted it. A token the proxy cannot read at all is an
// error.
func explainToken(tok string, f *config.File, stdin io.Reader, now time.Time) (explainSubject, error) {
	if tok == "-" {
		b, err := io.ReadAll(io.LimitReader(stdin, 64<<10))
		if err != nil {
			return explainSubject{}, fmt.Errorf("--token -: reading stdin: %v", err)
		}
		tok = string(b)
	}
	cred, err := explainCredential(strings.TrimSpace(tok))
	if err != nil {
		return explainSubject{}, fmt.Errorf("--token: %v", err)
	}
	if strings.HasPrefix(cred.Token, reftoken.Prefix) {
		return explainSubject{}, fmt.Errorf("--token: reference tokens (%s…) are opaque; give their scopes with --scopes", reftoken.Prefix)
	}
	jws, err := signing.Parse(cred.Token, signing.TypeAccessToken, explainAlgorithms())
	if err != nil {
		return explainSubject{}, fmt.Errorf("--token: not a JWT access token the proxy reads (it answers %s): %v", explainRefusedToken(), err)
	}
	var tc claims.Access
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &tc); err != nil {
		return explainSubject{}, fmt.Errorf("--token: payload is not a JSON claim set the proxy reads (it answers %s): %v", explainRefusedToken(), err)
	}
	aud := tc.Audience
	c := explainSubject{facts: policy.Facts{Authenticated: true, Audiences: aud, Scopes: tc.Scope.Values}}
	c.lines = append(c.lines, "token (signature not checked: its claims are taken as they are)")
	who := []string{}
	if tc.ClientID != "" {
		who = append(who, fmt.Sprintf("client_id %q", tc.ClientID))
	}
	switch {
	case tc.Subject != "":
		who = append(who, fmt.Sprintf("user %q", tc.Subject))
	case tc.ClientSystemUser != "":
		who = append(who, fmt.Sprintf("system user %q", tc.ClientSystemUser))
	}
	if tc.SessionID != "" {
		who = append(who, fmt.Sprintf("session %q", tc.SessionID))
	}
	if len(who) > 0 {
		c.lines = append(c.lines, strings.Join(who, ", "))
	}
	c.lines = append(c.lines,
		fmt.Sprintf("audiences %s", explainList(aud, "none")),
		fmt.Sprintf("scopes %s", explainList(tc.Scope.Values, "none")))
	if tc.Expiry != 0 {
		exp := time.Unix(tc.Expiry, 0).UTC()
		if exp.Before(now) {
			c.notes = append(c.notes, fmt.Sprintf("the token expired at %s: the proxy refuses it (%s) before any route rule", exp.Format(time.RFC3339), explainRefusedToken()))
		} else {
			c.lines = append(c.lines, "expires "+exp.Format(time.RFC3339))
		}
	}
	if tc.Issuer != f.Issuer() {
		c.notes = append(c.notes, fmt.Sprintf("the token's issuer %q is not this gateway's (%s): the proxy refuses it (%s)", tc.Issuer, f.Issuer(), explainRefusedToken()))
	}
	c.notes = append(c.notes, "the proxy also checks the signature, expiry and revocation, then the session and license; explain does not")
	return c, nil
}

// explainCredential is the credential the proxy reads from the header
// "Authorization: Bearer tok" (tok may start with "Bearer " itself).
func explainCredential(tok string) (authority.Credential, error) {
	v := tok
	if scheme, _, ok := strings.Cut(tok, " "); !ok || !strings.EqualFold(scheme, "Bearer") {
		v = "Bearer " + tok
	}
	return authority.ReadCredential(&http.Request{URL: &url.URL{}, Header: http.Header{"Authorization": {v}}})
}

// explainAlgorithms is the proxy's JWS alg allow-list: every algorithm
// the keyring signs with (the gateway gives its verifier
// signing.Algorithms).
func explainAlgorithms() []jose.SignatureAlgorithm {
	algs := make([]jose.SignatureAlgorithm, len(signing.Algorithms))
	for i, a := range signing.Algorithms {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	return algs
}

// explainRefusedToken is what the proxy answers a token it refuses
// (proxy.AnswerFor): "401 invalid_token".
func explainRefusedToken() string {
	a := proxy.AnswerFor(policy.Decision{}, &authority.Refusal{Reason: authority.ReasonInvalidToken}, proxy.Situation{})
	return fmt.Sprintf("%d %s", a.Refusal.Status, a.Refusal.Body.Error)
}

// writeExplanation prints the answer as aligned "label  text" lines.
func writeExplanation(w io.Writer, f *config.File, set *policy.Set, c explainSubject, d policy.Decision) {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-9s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("request", "%s %s", c.facts.Method, c.facts.Path)
	for i, l := range c.lines {
		label := ""
		if i == 0 {
			label = "caller"
		}
		line(label, "%s", l)
	}

	idx, pol, matched := set.Match(c.facts.Method, c.facts.Path)
	if matched {
		r := f.Routes[idx]
		line("route", "%s (routes[%d]): %s", r.Name, idx, explainMatch(r.Match))
		up := r.Upstream
		if r.Timeout.D() > 0 {
			up += fmt.Sprintf(" (timeout %s)", r.Timeout.D())
		}
		if r.StripAuthorization {
			up += ", Authorization not passed on"
		}
		line("upstream", "%s", up)
		line("requires", "%s", explainRequires(r))
		line("no token", "%s", explainNoToken(f, pol))
	} else {
		line("route", "none: routes are tried in order, the first match wins, and none matches")
		for _, nm := range set.NearMisses(c.facts.Method, c.facts.Path) {
			line("hint", "routes[%d] %q %s", nm.Index, nm.Route.Name, nm.Why)
		}
	}

	verdict := "deny"
	if d.Allowed() {
		verdict = "allow"
	}
	line("decision", "%s", verdict)
	line("reason", "%s", d.Reason)
	line("why", "%s", d.Detail)
	a := proxy.AnswerFor(d, nil, explainAPIClient(f))
	line("answer", "%s", explainAnswer(f, d, a))
	if matched {
		line("counted", "erpgate_auth_decisions_total{route=%q,decision=%q,reason=%q}", d.Route.Name, verdict, d.Reason)
	} else {
		line("counted", "erpgate_http_requests_total{route=\"\",method=%q,code=%q} (no auth decision is counted without a route)", c.facts.Method, strconv.Itoa(a.Refusal.Status))
	}
	for _, n := range c.notes {
		line("note", "%s", n)
	}
}

func explainMatch(m config.Match) string {
	var s string
	if m.Path != "" {
		s = "path " + m.Path
	} else {
		s = "path_prefix " + m.PathPrefix
	}
	if len(m.Methods) == 0 {
		return s + ", any method"
	}
	return s + ", methods " + strings.Join(m.Methods, " ")
}

func explainRequires(r config.Route) string {
	if r.Public {
		return "nothing: public route, forwarded without any credentials check"
	}
	s := fmt.Sprintf("a token for audience %q", r.Audience)
	if len(r.Scopes) == 0 {
		return s + " (any scopes)"
	}
	return fmt.Sprintf("%s with %s %s", s, explainPlural(len(r.Scopes), "scope", "scopes"), explainList(r.Scopes, ""))
}

// The clients whose answers can differ (proxy.Situation), which explain
// asks proxy.AnswerFor about: explainAPIClient is a script or an app
// (its Accept does not name text/html); explainNavigation a browser's
// GET or HEAD (Accept prefers text/html); explainNamesHTML a GET or HEAD
// whose Accept names text/html below another type.
func explainAPIClient(f *config.File) proxy.Situation {
	return proxy.Situation{BrowserLogin: f.Gateway.ClientID != ""}
}

func explainNavigation(f *config.File) proxy.Situation {
	return proxy.Situation{BrowserLogin: f.Gateway.ClientID != "", PrefersHTML: true, Navigation: true}
}

func explainNamesHTML(f *config.File) proxy.Situation {
	return proxy.Situation{BrowserLogin: f.Gateway.ClientID != "", Navigation: true}
}

// explainNoToken says what the proxy answers a request without
// credentials on route r, for each kind of client it answers
// differently (proxy.AnswerFor).
func explainNoToken(f *config.File, r *policy.Route) string {
	d := r.Authorize(policy.Facts{})
	api := proxy.AnswerFor(d, nil, explainAPIClient(f))
	if api.Forward {
		return "forwarded (public)"
	}
	login := func(s proxy.Situation) bool { return proxy.AnswerFor(d, nil, s).Login }
	status, rule := api.Refusal.Status, "on_missing_token: "+r.OnMissingToken
	switch {
	case login(explainNamesHTML(f)):
		return fmt.Sprintf("browsers (GET/HEAD with Accept: text/html) are sent to login, others get %d (%s)", status, rule)
	case login(explainNavigation(f)):
		return fmt.Sprintf("%d (%s); a browser navigation (GET/HEAD preferring text/html) is sent to login", status, rule)
	case f.Gateway.ClientID == "":
		return fmt.Sprintf("%d (%s; browser login is off: gateway.client_id is empty)", status, rule)
	}
	return fmt.Sprintf("%d (%s)", status, rule)
}

// explainAnswer words a, the proxy's answer to an API client for d
// (proxy.AnswerFor), saying when a browser is sent to login instead.
func explainAnswer(f *config.File, d policy.Decision, a proxy.Answer) string {
	switch {
	case a.Forward && d.Reason == policy.ReasonPublic:
		return "forwarded to the upstream"
	case a.Forward: // the authority opens the session at the proxy's door
		return "forwarded to the upstream, once the session opens (a license slot is free)"
	}
	s := fmt.Sprintf("%d error=%q", a.Refusal.Status, a.Refusal.Body.Error)
	if a.Refusal.Challenge != "" {
		s = fmt.Sprintf("%d WWW-Authenticate: %s", a.Refusal.Status, a.Refusal.Challenge)
	}
	if proxy.AnswerFor(d, nil, explainNavigation(f)).Login {
		s += `, or a login redirect for a browser (see "no token")`
	}
	return s
}

// explainList renders ["a" "b"] as `"a", "b"`, or none when empty.
func explainList(list []string, none string) string {
	if len(list) == 0 {
		return none
	}
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func explainPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
