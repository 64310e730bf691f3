package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/erpgate/erpgate/config"
	"github.com/erpgate/erpgate/explain"
	gw "github.com/erpgate/erpgate/gateway"
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
	switch {
	case len(args) > 0 && args[0] == "explain":
		return cmdExplain(args[1:], e)
	case len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help"):
		fmt.Fprint(e.stdout, policyUsage)
		return 0
	}
	fmt.Fprint(e.stderr, policyUsage)
	return explainUsage
}

// parseExplainArgs takes flags before, between and after the operands
// (SPEC §1: `--config FILE METHOD URL [--token T]`); "--" ends the flags.
func parseExplainArgs(args []string, stderr io.Writer) (configFile string, req explain.Request, err error) {
	fs := flag.NewFlagSet("policy explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, policyUsage) }
	fs.StringVar(&configFile, "config", "", "config file (default $ERPGATE_CONFIG, else erpgate.yaml)")
	fs.StringVar(&req.Token, "token", "", `access token (JWT) whose audiences and scopes to use; "-" reads stdin`)
	scopes := fs.String("scopes", "", "space-delimited scopes of an assumed valid token")
	var audiences []string // nil without --audience (tokens.audiences), else non-nil
	fs.Func("audience", "space-delimited audiences of the assumed token",
		func(s string) error { audiences = append([]string{}, strings.Fields(s)...); return nil })
	var operands []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return configFile, req, err
		}
		left := fs.Args() // after an operand, or all operands after "--"
		if n := len(rest) - len(left); len(left) == 0 || (n > 0 && rest[n-1] == "--") {
			operands = append(operands, left...)
			break
		}
		operands, rest = append(operands, left[0]), left[1:]
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "scopes" || f.Name == "audience" {
			req.Assumed = &explain.Assumed{Scopes: strings.Fields(*scopes), Audiences: audiences}
		}
	})
	switch {
	case len(operands) != 2:
		return configFile, req, fmt.Errorf("want METHOD and URL, got %d operand(s)", len(operands))
	case req.Token != "" && req.Assumed != nil:
		return configFile, req, errors.New("--token gives the audiences and scopes; do not combine it with --scopes or --audience")
	}
	req.Method, req.Path = strings.ToUpper(operands[0]), operands[1]
	return configFile, req, nil
}

// cmdExplain is `erpgate policy explain`.
func cmdExplain(args []string, e env) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(e.stderr, "erpgate policy explain: "+format+"\n", args...)
		return explainUsage
	}
	configFile, req, err := parseExplainArgs(args, e.stderr)
	if errors.Is(err, flag.ErrHelp) { // -h: the flag set printed the usage
		return explainUsage
	} else if err != nil {
		return fail("%v\n\n%s", err, strings.TrimSuffix(policyUsage, "\n"))
	}
	if req.Path, err = explain.Path(req.Path); err != nil { // the URL operand
		return fail("%v", err)
	}
	file := configPath(configFile, e)
	f, err := loadConfig(file, e)
	if probs := config.Problems(nil); errors.As(err, &probs) {
		fmt.Fprintf(e.stderr, "%s: %d problem(s) (erpgate check lists them too):\n", file, len(probs))
		for _, p := range probs {
			fmt.Fprintf(e.stderr, "  %s\n", p)
		}
		return explainUsage
	} else if err != nil {
		return fail("%s: %v", file, err)
	}
	set, err := policy.Compile(gw.PolicyRoutes(f))
	if err != nil { // config validation should have caught it
		return fail("%s: %v", file, err)
	}
	if req.Token == "-" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, 64<<10))
		if err != nil {
			return fail("--token -: reading stdin: %v", err)
		}
		req.Token = string(b) + "\n" // never "" (no token): an empty stdin is an empty token
	}
	x, err := explain.Explain(f, set, req, time.Now())
	if err != nil {
		return fail("--token: %v", err)
	}
	x.WriteTo(e.stdout)
	if x.Allowed() {
		return explainAllow
	}
	return explainDeny
}
