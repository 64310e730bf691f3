package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/erpgate/erpgate/audit"
	"github.com/erpgate/erpgate/config"
	gw "github.com/erpgate/erpgate/gateway"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/revocation"
	"github.com/erpgate/erpgate/store"
)

const tokensUsage = `usage:
  erpgate tokens issue [--config FILE] --type pat|sat --app URI [--user LOGIN] [--scope "read"] --expires 720h
                       [--name NAME] [--description TEXT]
  erpgate tokens list [--config FILE] [--user LOGIN]
  erpgate tokens revoke [--config FILE] ID
`

// cmdTokens issues, lists and revokes reference tokens directly in the
// config's store, as an operator (an administrator for the apps'
// reference_tokens policies). A running gateway refuses a revoked token
// within about a second (its revocation list syncs from the store).
func cmdTokens(ctx context.Context, args []string, e env) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, tokensUsage)
		return errors.New("missing subcommand: issue, list or revoke")
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("tokens "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	path := fs.String("config", "", "config file (default $ERPGATE_CONFIG, else erpgate.yaml)")
	typ := fs.String("type", "", "pat (acts as --user) or sat (acts as the app's system user)")
	app := fs.String("app", "", "the Trusted App (client_id) the token belongs to")
	user := fs.String("user", "", "the user of a personal token; for list, only this user's tokens")
	scope := fs.String("scope", "", "space-separated scopes (default: all of the app's)")
	expires := fs.Duration("expires", 0, "lifetime, e.g. 720h")
	name := fs.String("name", "", "what the token is called (at most 64 characters)")
	description := fs.String("description", "", "what the token is for (at most 256 characters)")
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		return err
	}
	switch {
	case sub == "issue" && len(pos) == 0, sub == "list" && len(pos) == 0, sub == "revoke" && len(pos) == 1:
	default:
		fmt.Fprint(e.stderr, tokensUsage)
		return fmt.Errorf("bad arguments for tokens %s", sub)
	}
	cs, err := openCLIStore(ctx, *path, e, "tokens")
	if err != nil {
		return err
	}
	defer cs.close()
	svc, err := cliTokenService(ctx, cs.file, cs.store, cs.logger, cs.audit)
	if err != nil {
		return err
	}
	switch sub {
	case "issue":
		issued, err := svc.Issue(ctx, reftoken.IssueRequest{
			Type: *typ, ClientID: *app, Subject: *user, Scopes: strings.Fields(*scope), ExpiresIn: *expires,
			Name: *name, Description: *description,
		})
		if err != nil {
			return err
		}
		t := issued.Token
		fmt.Fprintf(e.stdout, "%s\n\nid %s, %s for %s acting as %s, scope %q, expires %s\nThe token is shown only now: store it safely.\n",
			issued.Value, t.ID, t.Type, t.ClientID, t.Subject, strings.Join(t.Scopes, " "), cliTime(t.ExpiresAt))
		return nil
	case "list":
		toks, err := svc.List(ctx, *user)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTYPE\tAPP\tSUBJECT\tSCOPE\tEXPIRES\tLAST USED\tSTATE\tNAME")
		for _, t := range toks {
			state := svc.State(t)
			if !t.RevokedAt.IsZero() {
				state += " " + cliTime(t.RevokedAt)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Type, t.ClientID, t.Subject,
				strings.Join(t.Scopes, " "), cliTime(t.ExpiresAt), cliTime(t.LastUsedAt), state, cliName(t.Name))
		}
		return tw.Flush()
	default:
		t, err := svc.Revoke(ctx, pos[0], "")
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no reference token %q", pos[0])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "reference token %s revoked; a running gateway refuses it within about a second\n", t.ID)
		return nil
	}
}

// cliName is a token's name in the list: "-" for none, so every row has
// every column.
func cliName(name string) string {
	if name == "" {
		return "-"
	}
	return name
}

// cliTokenService builds the reference-token service over the config's
// apps and users plus the apps stored at run time.
func cliTokenService(ctx context.Context, f *config.File, st store.Backend, logger *slog.Logger, a *audit.Logger) (*reftoken.Service, error) {
	dir, err := gw.OpenDirectory(ctx, f, st, time.Now)
	if err != nil {
		return nil, err
	}
	revoked, err := revocation.Open(ctx, st, time.Now, logger)
	if err != nil {
		return nil, err
	}
	return reftoken.New(reftoken.Config{
		Store: st, Revocations: revoked, Issuer: f.Issuer(), Audiences: f.Tokens.Audiences, Database: f.Instance.DatabaseName(),
		Directory: dir, Clock: time.Now, Logger: logger, Audit: a,
	})
}
