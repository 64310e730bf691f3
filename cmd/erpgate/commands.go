package main

import (
	"context"
	"flag"
)

// command is one subcommand as a person types it: its name ("serve",
// "tokens list"), what it takes, and what it runs. Every listing, usage
// and --help is built from commandTable, so a command cannot lack them.
type command struct {
	name string
	// synopsis is what follows the name in the usage line, flags first
	// ("[--config FILE] ID").
	synopsis string
	// summary is the command's one line in `erpgate help`.
	summary string
	// details, when set, follow the flags in the command's --help.
	details string
	// operands names the positional arguments the command takes, in order
	// ("METHOD URL"); "" for none. A different count is a usage error.
	operands string
	// dashOperands lets an operand start with "-" (session ids are
	// base64url): an argument naming no flag is then an operand.
	dashOperands bool
	// flags declares the command's flags on fs and returns what runs once
	// they are parsed, with the operands.
	flags func(fs *flag.FlagSet) runFunc
}

// runFunc runs a parsed command. An error it returns is printed after
// "erpgate NAME: " with exit status 1; a usageError also prints the
// usage, with status 2; an exitStatus has already been reported.
type runFunc func(ctx context.Context, operands []string, e env) error

// configFlag declares --config, the flag of every command that reads the
// config file.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "the config `FILE` (default $ERPGATE_CONFIG, else erpgate.yaml)")
}

// commandTable lists every subcommand, in the order `erpgate help` shows
// them. A name with a space is in a group ("tokens"), which has no
// command of its own.
func commandTable() []command {
	return []command{
		{name: "serve", synopsis: "[--config FILE]", summary: "run the gateway", flags: serveCommand,
			details: "SIGHUP re-reads the config file; SIGTERM drains requests in flight, then exits."},
		{name: "demo", synopsis: "[--config FILE] [--sample-api HOST:PORT]", flags: demoCommand,
			summary: "run the gateway from config.example.yaml with a sample ERP API"},
		{name: "check", synopsis: "[--config FILE]", flags: checkCommand,
			summary: "validate a config; print every problem with its YAML path (exit 1 if any)"},
		{name: "hash-secret", summary: "read a client secret on stdin, print base64(sha256(secret))", flags: noFlags(cmdHashSecret)},
		{name: "new-secret", summary: "print a fresh random client secret and its hash", flags: noFlags(cmdNewSecret)},
		{name: "hash-password", summary: "read a password on stdin, print its argon2id PHC string", flags: noFlags(cmdHashPassword)},
		{name: "healthcheck", synopsis: "[--config FILE]", flags: healthcheckCommand,
			summary: "exit 0 if the running instance's /readyz says ready"},
		{name: "policy explain", synopsis: `[--config FILE] [--token JWT|- | --scopes "read update"] [--audience "A B"] METHOD URL`,
			operands: "METHOD URL", flags: explainCommand, details: explainDetails,
			summary: "which route a request takes, what it requires, allow or deny and why"},
		{name: "sessions list", synopsis: "[--config FILE]", flags: sessionsListCommand,
			summary: "open sessions and license use, from the config's store"},
		{name: "sessions end", synopsis: "[--config FILE] ID", operands: "ID", dashOperands: true, flags: sessionsEndCommand,
			summary: "end a session (reason admin); a running gateway refuses its tokens"},
		{name: "tokens issue", synopsis: `[--config FILE] --type pat|sat --app URI [--user LOGIN] [--scope "read"] --expires 30d [--name NAME] [--description TEXT]`,
			flags: tokensIssueCommand, summary: "issue a reference token (PAT or SAT); prints its value once"},
		{name: "tokens list", synopsis: "[--config FILE] [--user LOGIN]", flags: tokensListCommand,
			summary: "reference tokens by id, never their value"},
		{name: "tokens revoke", synopsis: "[--config FILE] ID", operands: "ID", dashOperands: true, flags: tokensRevokeCommand,
			summary: "revoke a reference token; a running gateway refuses it within a second"},
		{name: "users list", synopsis: "[--config FILE]", flags: usersListCommand, details: usersDetails,
			summary: "users of the config file and of the store, never their passwords"},
		{name: "users show", synopsis: "[--config FILE] LOGIN", operands: "LOGIN", flags: usersShowCommand, details: usersDetails,
			summary: "one user's fields"},
		{name: "users create", synopsis: "[--config FILE] [--type internal|community|system] [--name NAME] [--email EMAIL] [--email-verified] [--locale TAG] [--admin] [--password-stdin] LOGIN",
			operands: "LOGIN", flags: usersCreateCommand, details: usersCreateDetails,
			summary: "create a user in the store; the password, if any, is read from standard input"},
		{name: "users set", synopsis: "[--config FILE] [--type T] [--name NAME] [--email EMAIL] [--email-verified=BOOL] [--locale TAG] [--admin=BOOL] LOGIN",
			operands: "LOGIN", flags: usersSetCommand, details: usersDetails,
			summary: "change a stored user's fields (those given); a change of type ends their sessions"},
		{name: "users disable", synopsis: "[--config FILE] LOGIN", operands: "LOGIN", flags: usersEnableCommand(false), details: usersDetails,
			summary: "disable a stored user: sessions end, refresh and reference tokens are revoked"},
		{name: "users enable", synopsis: "[--config FILE] LOGIN", operands: "LOGIN", flags: usersEnableCommand(true), details: usersDetails,
			summary: "enable a disabled stored user again"},
		{name: "users password", synopsis: "[--config FILE] LOGIN", operands: "LOGIN", flags: usersPasswordCommand, details: usersPasswordDetails,
			summary: "set a stored user's password, read from standard input; signs them out everywhere"},
		{name: "users reset-link", synopsis: "[--config FILE] LOGIN", operands: "LOGIN", flags: usersResetLinkCommand, details: usersResetDetails,
			summary: "print a one-time link for a stored user to set a new password (24h)"},
		{name: "users delete", synopsis: "[--config FILE] LOGIN", operands: "LOGIN", flags: usersDeleteCommand, details: usersDetails,
			summary: "delete a stored user: sessions end, refresh and reference tokens are revoked"},
		{name: "users reset-factors", synopsis: "[--config FILE] LOGIN", operands: "LOGIN", flags: usersResetFactorsCommand, details: usersResetFactorsDetails,
			summary: "remove a user's second factors (TOTP, recovery codes); a required factor is enrolled again at the next sign-in"},
		{name: "admin token", synopsis: "[--config FILE] [--ttl 10m] [--app URI]", flags: adminTokenCommand, details: adminTokenDetails,
			summary: "mint a short-lived access token for the admin API (scope sec)"},
		{name: "backup", synopsis: "[--config FILE] OUT", operands: "OUT", flags: backupCommand, details: backupDetails,
			summary: "copy the SQLite store to the new file OUT, consistently, while the gateway runs"},
		{name: "version", summary: "print version, commit, build time and Go version", flags: noFlags(cmdVersion)},
		{name: "help", synopsis: "[COMMAND]", operands: "[COMMAND...]", summary: "show the commands, or one command's usage and flags", flags: helpCommand},
	}
}

// noFlags is the flags function of a command that takes no flags and no
// operands.
func noFlags(f func(e env) error) func(*flag.FlagSet) runFunc {
	return func(*flag.FlagSet) runFunc {
		return func(_ context.Context, _ []string, e env) error { return f(e) }
	}
}
