package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/erpgate/erpgate/admin"
	gw "github.com/erpgate/erpgate/gateway"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/reftoken"
	"github.com/erpgate/erpgate/revocation"
)

// The users commands manage the users created at run time directly in
// the config's store, with the admin API's rules (gateway.Users): the
// config file's users are listed and shown, never changed. Disabling or
// deleting a user ends their sessions and revokes their refresh and
// reference tokens in the store, so it holds whether a gateway runs or
// not; a running gateway refuses the user within about a second (its
// directory syncs from the store). Passwords are read from standard
// input, never from a flag (which ps and shell history would show).

// The details of the users commands' --help.
const (
	usersDetails       = "Users of the config file are listed with source config; change those in the file."
	usersCreateDetails = `A password has at least 12 characters and is not the login. Without
--password-stdin the user has none until ` + "`erpgate users password`" + ` or a reset link
sets one; system users have none. ` + usersDetails
	usersPasswordDetails = `Example: printf '%s\n' "$NEW_PASSWORD" | erpgate users password alice
A password has at least 12 characters and is not the login. ` + usersDetails
	usersResetDetails = `The link is public_url + /id/account/reset?token=...: it works once, for
24 hours, and a new link replaces the previous one. No mail is sent: hand
the link to the user. ` + usersDetails
)

// usersListCommand is `erpgate users list`.
func usersListCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	return func(ctx context.Context, _ []string, e env) error {
		return withUsers(ctx, *path, e, func(u *gw.Users) error {
			list, err := u.List(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "LOGIN\tTYPE\tADMIN\tSTATE\tSOURCE\tNAME\tEMAIL")
			for _, i := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.Login, i.Type, yesNo(i.Admin), userState(i), i.Source,
					dash(i.Name), dash(i.Email))
			}
			return tw.Flush()
		})
	}
}

// usersShowCommand is `erpgate users show LOGIN`.
func usersShowCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	return func(ctx context.Context, operands []string, e env) error {
		return withUsers(ctx, *path, e, func(u *gw.Users) error {
			i, err := u.Get(ctx, operands[0])
			if err != nil {
				return err
			}
			showUser(e.stdout, i)
			return nil
		})
	}
}

// userFlags are the fields create and set take.
type userFlags struct {
	name, email, locale, typ *string
	emailVerified, admin     *bool
}

func declareUserFlags(fs *flag.FlagSet, typeDefault string) userFlags {
	return userFlags{
		name:          fs.String("name", "", "the display `NAME`"),
		email:         fs.String("email", "", "the `EMAIL` address"),
		locale:        fs.String("locale", "", "BCP 47 `TAG` of the user's language, e.g. bg-BG"),
		typ:           fs.String("type", typeDefault, "`internal|community|system`"),
		emailVerified: fs.Bool("email-verified", false, "the email address is verified"),
		admin:         fs.Bool("admin", false, "the user is an administrator"),
	}
}

// usersCreateCommand is `erpgate users create LOGIN`.
func usersCreateCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	f := declareUserFlags(fs, "internal")
	withPassword := fs.Bool("password-stdin", false, "read the user's password from standard input")
	return func(ctx context.Context, operands []string, e env) error {
		in := admin.UserInput{Login: operands[0], Name: *f.name, Email: *f.email, Locale: *f.locale, Type: *f.typ,
			EmailVerified: *f.emailVerified, Admin: *f.admin}
		if *withPassword {
			pw, err := readSecret(e.stdin)
			if err != nil {
				return fmt.Errorf("--password-stdin: %w", err)
			}
			in.Password = pw
		}
		return withUsers(ctx, *path, e, func(u *gw.Users) error {
			i, err := u.Create(ctx, in)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "user %s created (id %s)\n", i.Login, i.ID)
			if in.Password == "" && i.Type != "system" {
				fmt.Fprintf(e.stdout, "It has no password yet: `erpgate users reset-link %s` makes a link to set one.\n", i.Login)
			}
			return nil
		})
	}
}

// usersSetCommand is `erpgate users set LOGIN`: the flags given change,
// the others stay.
func usersSetCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	f := declareUserFlags(fs, "")
	return func(ctx context.Context, operands []string, e env) error {
		var ed admin.UserEdit
		fs.Visit(func(fl *flag.Flag) {
			switch fl.Name {
			case "name":
				ed.Name = f.name
			case "email":
				ed.Email = f.email
			case "locale":
				ed.Locale = f.locale
			case "type":
				ed.Type = f.typ
			case "email-verified":
				ed.EmailVerified = f.emailVerified
			case "admin":
				ed.Admin = f.admin
			}
		})
		if ed == (admin.UserEdit{}) {
			return usagef("nothing to change: give at least one of --name, --email, --locale, --type, --email-verified, --admin")
		}
		return withUsers(ctx, *path, e, func(u *gw.Users) error {
			i, err := u.Update(ctx, operands[0], ed)
			if err != nil {
				return err
			}
			showUser(e.stdout, i)
			return nil
		})
	}
}

// usersEnableCommand is `erpgate users disable|enable LOGIN`.
func usersEnableCommand(enabled bool) func(fs *flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		path := configFlag(fs)
		return func(ctx context.Context, operands []string, e env) error {
			disabled := !enabled
			return withUsers(ctx, *path, e, func(u *gw.Users) error {
				i, err := u.Update(ctx, operands[0], admin.UserEdit{Disabled: &disabled})
				if err != nil {
					return err
				}
				if enabled {
					fmt.Fprintf(e.stdout, "user %s enabled\n", i.Login)
				} else {
					fmt.Fprintf(e.stdout, "user %s disabled: sessions ended, refresh and reference tokens revoked; a running gateway refuses the user within about a second\n", i.Login)
				}
				return nil
			})
		}
	}
}

// usersPasswordCommand is `erpgate users password LOGIN`.
func usersPasswordCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	return func(ctx context.Context, operands []string, e env) error {
		pw, err := readSecret(e.stdin)
		if err != nil {
			return fmt.Errorf("the new password is read from standard input: %w", err)
		}
		return withUsers(ctx, *path, e, func(u *gw.Users) error {
			if err := u.SetPassword(ctx, operands[0], pw); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "password of %s set; the user is signed out everywhere\n", operands[0])
			return nil
		})
	}
}

// usersResetLinkCommand is `erpgate users reset-link LOGIN`.
func usersResetLinkCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	return func(ctx context.Context, operands []string, e env) error {
		return withUsers(ctx, *path, e, func(u *gw.Users) error {
			link, expires, err := u.ResetLink(ctx, operands[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s\n\nA one-time link for %s to set a new password, valid until %s.\n"+
				"It is shown only now; a new link replaces it. Hand it to the user privately.\n", link, operands[0], cliTime(expires))
			return nil
		})
	}
}

// usersDeleteCommand is `erpgate users delete LOGIN`.
func usersDeleteCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	return func(ctx context.Context, operands []string, e env) error {
		return withUsers(ctx, *path, e, func(u *gw.Users) error {
			if err := u.Delete(ctx, operands[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "user %s deleted: sessions ended, refresh and reference tokens revoked\n", operands[0])
			return nil
		})
	}
}

// usersResetFactorsDetails is `users reset-factors --help`'s detail.
const usersResetFactorsDetails = `Works for the config file's users too: second factors live in the store.
Sign-ins already made are not ended.`

// usersResetFactorsCommand is `erpgate users reset-factors LOGIN`.
func usersResetFactorsCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	return func(ctx context.Context, operands []string, e env) error {
		return withUsers(ctx, *path, e, func(u *gw.Users) error {
			if err := u.ResetFactors(ctx, operands[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "second factors of %s removed\n", operands[0])
			return nil
		})
	}
}

// withUsers runs f on the user registry of the config at path, over its
// store: the directory, session manager, revocation list and
// reference-token service a gateway would use, so what f changes is
// enforced in the store.
func withUsers(ctx context.Context, path string, e env, f func(*gw.Users) error) error {
	cs, err := openCLIStore(ctx, path, e, "users")
	if err != nil {
		return err
	}
	defer cs.close()
	dir, err := gw.OpenDirectory(ctx, cs.file, cs.store, time.Now)
	if err != nil {
		return err
	}
	revoked, err := revocation.Open(ctx, cs.store, time.Now, cs.logger)
	if err != nil {
		return err
	}
	sessions, err := gw.NewSessionManager(cs.file, cs.store, time.Now, cs.logger, cs.audit,
		metrics.New(prometheus.NewRegistry(), metrics.Build{}))
	if err != nil {
		return err
	}
	defer sessions.Close()
	closeBC, err := gw.CLIBackchannel(ctx, cs.file, cs.store, sessions, cs.logger, cs.audit) // an end here tells its apps
	if err != nil {
		return err
	}
	defer closeBC()
	tokens, err := reftoken.New(reftoken.Config{
		Store: cs.store, Revocations: revoked, Issuer: cs.file.Issuer(), Audiences: cs.file.Tokens.Audiences,
		Database: cs.file.Instance.DatabaseName(), Directory: dir, Clock: time.Now, Logger: cs.logger, Audit: cs.audit,
	})
	if err != nil {
		return err
	}
	u := gw.NewUsers(gw.UsersConfig{File: cs.file, Store: cs.store, Directory: dir, Sessions: sessions, Revoked: revoked,
		RefTokens: tokens, Clock: time.Now, Logger: cs.logger, Audit: cs.audit})
	return usersForPeople(f(u))
}

// usersForPeople turns the registry's errors into what an operator
// reads: the problems of an invalid user one a line, the sentinels'
// words without their package prefix.
func usersForPeople(err error) error {
	var inv *admin.InvalidError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &inv):
		return errors.New(strings.Join(inv.Problems, "\n"))
	case errors.Is(err, admin.ErrUserNotFound):
		return errors.New("no such user")
	case errors.Is(err, admin.ErrUserConflict):
		return errors.New("a user with this login exists (in the store or the config file)")
	case errors.Is(err, admin.ErrConfigUser):
		return errors.New("the user is defined in the config file; change it there")
	}
	return err
}

// showUser prints one user, a field a line.
func showUser(w io.Writer, i admin.UserInfo) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("login", i.Login)
	row("id", i.ID)
	row("name", dash(i.Name))
	row("email", dash(i.Email))
	row("email verified", yesNo(i.EmailVerified))
	row("locale", dash(i.Locale))
	row("type", i.Type)
	row("admin", yesNo(i.Admin))
	row("state", userState(i))
	row("source", i.Source)
	if !i.CreatedAt.IsZero() {
		row("created", cliTime(i.CreatedAt))
		row("updated", cliTime(i.UpdatedAt))
	}
	tw.Flush()
}

func userState(i admin.UserInfo) string {
	if i.Disabled {
		return "disabled"
	}
	return "enabled"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// dash shows an empty field as "-", so every row has every column.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
