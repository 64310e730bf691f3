package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// env is the process environment as the subcommands see it, so tests can
// run them without touching the real one.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookup         func(string) (string, bool)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	e := env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, lookup: os.LookupEnv}
	code := run(ctx, os.Args[1:], e)
	stop()
	os.Exit(code)
}

const usage = `erpgate — authentication gateway for ERP APIs

usage: erpgate COMMAND [flags]

  serve --config FILE     run the gateway (default FILE: $ERPGATE_CONFIG, else erpgate.yaml)
  demo [--config FILE]    run the gateway from config.example.yaml with a sample ERP upstream
  check --config FILE     validate a config; print every problem with its YAML path
  hash-secret             read a client secret on stdin, print base64(sha256(secret))
  new-secret              print a fresh random client secret and its hash
  hash-password           read a password on stdin, print its argon2id PHC string
  healthcheck             exit 0 if the running instance's /readyz says ready
  policy explain M URL    which route a request takes, what it requires, allow or deny
                          and why (--config FILE [--token JWT | --scopes "read"]; exit 1 on deny)
  sessions list           open sessions and license use (--config FILE)
  sessions end ID         end a session; its tokens are refused (--config FILE)
  tokens issue|list|revoke reference tokens (PAT/SAT) in the config's store
  version                 print version, commit and Go version
`

// run dispatches a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, rest, e)
	case "demo":
		err = cmdDemo(ctx, rest, e)
	case "check":
		return cmdCheck(rest, e)
	case "hash-secret":
		err = cmdHashSecret(e)
	case "new-secret":
		err = cmdNewSecret(e)
	case "hash-password":
		err = cmdHashPassword(e)
	case "healthcheck":
		err = cmdHealthcheck(ctx, rest, e)
	case "policy":
		return cmdPolicy(rest, e)
	case "tokens":
		err = cmdTokens(ctx, rest, e)
	case "sessions":
		err = cmdSessions(ctx, rest, e)
	case "version":
		cmdVersion(e)
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usage)
	default:
		fmt.Fprintf(e.stderr, "erpgate: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "erpgate %s: %v\n", cmd, err)
		return 1
	}
	return 0
}
