package main

import (
	"context"
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

// explainDetails follow the flags in `policy explain --help`.
const explainDetails = `Shows which route a request matches, what the route requires, and whether
the policy allows it, with the reason code the proxy puts in
erpgate_auth_decisions_total{reason} and in access.denied audit lines.

  --token JWT     take audiences and scopes from this access token; its
                  signature, issuer, expiry and revocation are NOT checked
                  ("-" reads it from stdin, out of shell history)
  --scopes LIST   assume a valid token with these space-delimited scopes
  --audience LIST the assumed token's audiences (default: tokens.audiences,
                  which every token this gateway issues carries)
  neither         the request carries no credentials

Exit status: 0 allow, 1 deny, 2 usage or unreadable config or token.`

// explainCommand is `erpgate policy explain`.
func explainCommand(fs *flag.FlagSet) runFunc {
	configFile := configFlag(fs)
	var req explain.Request
	fs.StringVar(&req.Token, "token", "", "access token (`JWT`) whose audiences and scopes to use; \"-\" reads stdin")
	scopes := fs.String("scopes", "", "space-delimited `SCOPES` of an assumed valid token")
	var audiences []string // nil without --audience (tokens.audiences), else non-nil
	fs.Func("audience", "space-delimited `AUDIENCES` of the assumed token",
		func(s string) error { audiences = append([]string{}, strings.Fields(s)...); return nil })
	return func(_ context.Context, operands []string, e env) error {
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "scopes" || f.Name == "audience" {
				req.Assumed = &explain.Assumed{Scopes: strings.Fields(*scopes), Audiences: audiences}
			}
		})
		if req.Token != "" && req.Assumed != nil {
			return usagef("--token gives the audiences and scopes; do not combine it with --scopes or --audience")
		}
		req.Method, req.Path = strings.ToUpper(operands[0]), operands[1]
		return exitStatus(cmdExplain(*configFile, req, e))
	}
}

// cmdExplain is `erpgate policy explain`.
func cmdExplain(configFile string, req explain.Request, e env) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(e.stderr, "erpgate policy explain: "+format+"\n", args...)
		return explainUsage
	}
	var err error
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
