package main

import (
	"context"
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
