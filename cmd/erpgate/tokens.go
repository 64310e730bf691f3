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

// The tokens commands issue, list and revoke reference tokens directly in
// the config's store, as an operator (an administrator for the apps'
// reference_tokens policies). A running gateway refuses a revoked token
// within about a second (its revocation list syncs from the store).

// tokensIssueCommand is `erpgate tokens issue`.
func tokensIssueCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	typ := fs.String("type", "", "`pat|sat`: a pat acts as --user, a sat as the app's system user")
	app := fs.String("app", "", "the Trusted App (client_id `URI`) the token belongs to")
	user := fs.String("user", "", "the `LOGIN` a personal token (pat) acts as")
	scope := fs.String("scope", "", "space-separated `SCOPES` (default: all of the app's)")
	expires := durationVar(fs, "expires", 0, "lifetime, e.g. 30d or 720h")
	name := fs.String("name", "", "`NAME`: what the token is called (at most 64 characters)")
	description := fs.String("description", "", "what the token is for (at most 256 `TEXT` characters)")
	return func(ctx context.Context, _ []string, e env) error {
		return withTokenService(ctx, *path, e, func(svc *reftoken.Service) error {
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
		})
	}
}

// tokensListCommand is `erpgate tokens list`.
func tokensListCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	user := fs.String("user", "", "only the tokens of this `LOGIN`")
	return func(ctx context.Context, _ []string, e env) error {
		return withTokenService(ctx, *path, e, func(svc *reftoken.Service) error {
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
					strings.Join(t.Scopes, " "), cliTime(t.ExpiresAt), lastUsed(t.LastUsedAt), state, cliName(t.Name))
			}
			return tw.Flush()
		})
	}
}

// tokensRevokeCommand is `erpgate tokens revoke ID`.
func tokensRevokeCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	return func(ctx context.Context, operands []string, e env) error {
		return withTokenService(ctx, *path, e, func(svc *reftoken.Service) error {
			t, err := svc.Revoke(ctx, operands[0], "")
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no reference token %q", operands[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "reference token %s revoked; a running gateway refuses it within about a second\n", t.ID)
			return nil
		})
	}
}

// withTokenService runs f on the reference-token service of the config
// at path, its store open.
func withTokenService(ctx context.Context, path string, e env, f func(*reftoken.Service) error) error {
	cs, err := openCLIStore(ctx, path, e, "tokens")
	if err != nil {
		return err
	}
	defer cs.close()
	svc, err := cliTokenService(ctx, cs.file, cs.store, cs.logger, cs.audit)
	if err != nil {
		return err
	}
	if err := f(svc); err != nil {
		return forPeople(err)
	}
	return nil
}

// forPeople drops the reference-token service's sentinel text
// ("reftoken: bad request: ") from err's message: the sentinel is for
// code, the rest says what is wrong.
func forPeople(err error) error {
	for _, s := range []error{reftoken.ErrBadRequest, reftoken.ErrNotAllowed} {
		if msg, ok := strings.CutPrefix(err.Error(), s.Error()+": "); ok && errors.Is(err, s) {
			return errors.New(msg)
		}
	}
	return err
}

// lastUsed is a token's last use in the list: "never" for a token not
// used yet.
func lastUsed(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return cliTime(t)
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
