package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/erpgate/erpgate/claims"
	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/policy"
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

// explainClaims are the access-token claims explain shows. aud may be a
// string or an array (RFC 7519 §4.1.3); scope an array or a
// space-delimited string.
type explainClaims struct {
	Issuer     string          `json:"iss"`
	Audience   json.RawMessage `json:"aud"`
	Scope      claims.Scopes   `json:"scope"`
	ClientID   string          `json:"client_id"`
	Subject    string          `json:"sub"`
	SystemUser string          `json:"client_system_user"`
	SessionID  string          `json:"sid"`
	Expiry     int64           `json:"exp"`
}

// explainToken decodes the JWT's payload WITHOUT verifying it: explain is
// a diagnostic, and the point is to see what a token would be allowed if
// the proxy accepted it.
func explainToken(tok string, f *config.File, stdin io.Reader, now time.Time) (explainSubject, error) {
	if tok == "-" {
		b, err := io.ReadAll(io.LimitReader(stdin, 64<<10))
		if err != nil {
			return explainSubject{}, fmt.Errorf("--token -: reading stdin: %v", err)
		}
		tok = string(b)
	}
	tok = strings.TrimSpace(tok)
	if len(tok) > 7 && strings.EqualFold(tok[:7], "bearer ") {
		tok = strings.TrimSpace(tok[7:])
	}
	if strings.HasPrefix(tok, "enrt_") {
		return explainSubject{}, errors.New("--token: reference tokens (enrt_…) are opaque; give their scopes with --scopes")
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return explainSubject{}, fmt.Errorf("--token: not a JWT (want 3 dot-separated parts, got %d)", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return explainSubject{}, fmt.Errorf("--token: payload is not base64url: %v", err)
	}
	var tc explainClaims
	if err := json.Unmarshal(payload, &tc); err != nil {
		return explainSubject{}, fmt.Errorf("--token: payload is not a JSON claim set: %v", err)
	}
	aud, err := audienceClaim(tc.Audience)
	if err != nil {
		return explainSubject{}, fmt.Errorf("--token: %v", err)
	}
	c := explainSubject{facts: policy.Facts{Authenticated: true, Audiences: aud, Scopes: tc.Scope.Values}}
	c.lines = append(c.lines, "token (signature not checked: its claims are taken as they are)")
	who := []string{}
	if tc.ClientID != "" {
		who = append(who, fmt.Sprintf("client_id %q", tc.ClientID))
	}
	switch {
	case tc.Subject != "":
		who = append(who, fmt.Sprintf("user %q", tc.Subject))
	case tc.SystemUser != "":
		who = append(who, fmt.Sprintf("system user %q", tc.SystemUser))
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
			c.notes = append(c.notes, fmt.Sprintf("the token expired at %s: the proxy refuses it (401 invalid_token) before any route rule", exp.Format(time.RFC3339)))
		} else {
			c.lines = append(c.lines, "expires "+exp.Format(time.RFC3339))
		}
	}
	if tc.Issuer != f.Issuer() {
		c.notes = append(c.notes, fmt.Sprintf("the token's issuer %q is not this gateway's (%s): the proxy refuses it (401 invalid_token)", tc.Issuer, f.Issuer()))
	}
	c.notes = append(c.notes, "the proxy also checks the signature, expiry and revocation, then the session and license; explain does not")
	return c, nil
}

// audienceClaim decodes aud: absent, a string or an array of strings.
func audienceClaim(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, errors.New(`"aud" must be a string or an array of strings`)
	}
	return many, nil
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

	idx, _, matched := set.Match(c.facts.Method, c.facts.Path)
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
		line("no token", "%s", explainNoToken(f, r))
	} else {
		line("route", "none: routes are tried in order, the first match wins, and none matches")
		for _, h := range explainHints(f, c.facts.Method, c.facts.Path) {
			line("hint", "%s", h)
		}
	}

	verdict := "deny"
	if d.Allowed() {
		verdict = "allow"
	}
	line("decision", "%s", verdict)
	line("reason", "%s", d.Reason)
	line("why", "%s", d.Detail)
	line("answer", "%s", explainAnswer(f, d))
	if matched {
		line("counted", "erpgate_auth_decisions_total{route=%q,decision=%q,reason=%q}", d.Route.Name, verdict, d.Reason)
	} else {
		line("counted", "erpgate_http_requests_total{route=\"\",method=%q,code=%q} (no auth decision is counted without a route)", c.facts.Method, explainStatus(d))
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

func explainNoToken(f *config.File, r config.Route) string {
	switch {
	case r.Public:
		return "forwarded (public)"
	case f.Gateway.ClientID == "":
		return "401 (on_missing_token: " + explainOnMissing(r) + "; browser login is off: gateway.client_id is empty)"
	case r.OnMissingToken == config.OnMissingTokenLogin:
		return "browsers (GET/HEAD with Accept: text/html) are sent to login, others get 401 (on_missing_token: login)"
	}
	return "401 (on_missing_token: unauthorized); a browser navigation (GET/HEAD preferring text/html) is sent to login"
}

func explainOnMissing(r config.Route) string {
	if r.OnMissingToken == "" {
		return config.OnMissingTokenUnauthorized
	}
	return r.OnMissingToken
}

// explainHints names the routes whose path matches but whose methods do
// not, the usual surprise behind a no_route (HEAD is not implied by GET).
func explainHints(f *config.File, method, path string) []string {
	var hints []string
	for i, r := range f.Routes {
		if len(r.Match.Methods) == 0 {
			continue
		}
		pr := policyRoutes(&config.File{Routes: []config.Route{r}})
		pr[0].Methods = nil
		one, err := policy.Compile(pr)
		if err != nil {
			continue
		}
		if _, _, ok := one.Match(method, path); ok {
			hints = append(hints, fmt.Sprintf("routes[%d] %q matches the path but only for %s, not %s",
				i, r.Name, strings.Join(r.Match.Methods, " "), method))
		}
	}
	return hints
}

// explainAnswer says what the proxy sends back for d (README, "Routes").
func explainAnswer(f *config.File, d policy.Decision) string {
	switch d.Outcome {
	case policy.Allow:
		if d.Reason == policy.ReasonPublic {
			return "forwarded to the upstream"
		}
		return "forwarded to the upstream, once the session opens (a license slot is free)"
	case policy.NoRoute:
		if d.Reason == policy.ReasonInvalidPath {
			return `400 error="invalid_request" (the path is not canonical)`
		}
		return `404 error="not_found"`
	case policy.NeedCredentials:
		if f.Gateway.ClientID != "" {
			return `401 WWW-Authenticate: Bearer realm="erpgate", or a login redirect for a browser (see "no token")`
		}
		return `401 WWW-Authenticate: Bearer realm="erpgate"`
	case policy.WrongAudience:
		return `401 WWW-Authenticate: Bearer realm="erpgate", error="invalid_token"`
	case policy.InsufficientScope:
		return fmt.Sprintf(`403 WWW-Authenticate: Bearer realm="erpgate", error="insufficient_scope", scope=%q`, d.Route.ScopeString())
	}
	return d.Outcome.String()
}

// explainStatus is the status code of a request no route takes.
func explainStatus(d policy.Decision) string {
	if d.Reason == policy.ReasonInvalidPath {
		return "400"
	}
	return "404"
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
