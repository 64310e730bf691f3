package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// exitStatus is the error of a command that has reported its outcome
// itself and exits with this status (check: 1 for problems; policy
// explain: 1 deny, 2 unanswerable).
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// usageError is a command used wrongly: it is printed with the command's
// usage, and the exit status is 2.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// run dispatches a subcommand and returns the process exit code: 0 done,
// 1 failed, 2 used wrongly (unknown command or flag, wrong operands).
// Help asked for goes to stdout with status 0; usage after a mistake
// goes to stderr with status 2.
func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		writeTopUsage(e.stderr)
		return 2
	}
	if args[0] != "help" && isHelpArg(args[0]) {
		writeTopUsage(e.stdout)
		return 0
	}
	c, rest := findCommand(args)
	if c != nil {
		return runCommand(ctx, c, rest, e)
	}
	group := args[0]
	if subs := groupCommands(group); len(subs) > 0 {
		switch {
		case len(args) > 1 && isHelpArg(args[1]):
			writeGroupUsage(e.stdout, group, subs)
			return 0
		case len(args) == 1:
			fmt.Fprintf(e.stderr, "erpgate %s: missing subcommand: %s\n\n", group, subNames(subs))
		default:
			fmt.Fprintf(e.stderr, "erpgate %s: unknown subcommand %q (want %s)\n\n", group, args[1], subNames(subs))
		}
		writeGroupUsage(e.stderr, group, subs)
		return 2
	}
	fmt.Fprintf(e.stderr, "erpgate: unknown command %q\n\n", group)
	writeTopUsage(e.stderr)
	return 2
}

// findCommand finds the command args name, one word or two, and returns
// it with the arguments after its name.
func findCommand(args []string) (*command, []string) {
	table := commandTable()
	if len(args) > 1 {
		for i := range table {
			if table[i].name == args[0]+" "+args[1] {
				return &table[i], args[2:]
			}
		}
	}
	for i := range table {
		if table[i].name == args[0] {
			return &table[i], args[1:]
		}
	}
	return nil, nil
}

// groupCommands are the commands of group ("tokens"): those named
// "tokens …".
func groupCommands(group string) []command {
	var subs []command
	for _, c := range commandTable() {
		if g, _, ok := strings.Cut(c.name, " "); ok && g == group {
			subs = append(subs, c)
		}
	}
	return subs
}

// subNames is "issue, list or revoke".
func subNames(subs []command) string {
	names := make([]string, len(subs))
	for i, c := range subs {
		_, names[i], _ = strings.Cut(c.name, " ")
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func isHelpArg(a string) bool { return a == "-h" || a == "-help" || a == "--help" || a == "help" }

// runCommand parses c's flags and operands from args and runs it.
func runCommand(ctx context.Context, c *command, args []string, e env) int {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the usage is written here, to the right stream
	fs.Usage = func() {}
	runner := c.flags(fs)
	operands, err := parseInterspersed(fs, args, c.dashOperands)
	if errors.Is(err, flag.ErrHelp) {
		writeUsage(e.stdout, c, fs)
		return 0
	}
	if err != nil {
		err = usageError{err} // an unknown flag, or a flag's value missing or unreadable
	} else {
		err = checkOperands(c, operands)
	}
	if err == nil {
		err = runner(ctx, operands, e)
	}
	var status exitStatus
	var usage usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &status):
		return int(status)
	case errors.As(err, &usage):
		fmt.Fprintf(e.stderr, "erpgate %s: %v\n\n", c.name, err)
		writeUsage(e.stderr, c, fs)
		return 2
	}
	fmt.Fprintf(e.stderr, "erpgate %s: %v\n", c.name, err)
	return 1
}

// checkOperands checks that operands match c.operands: each name is one
// operand, "[NAME...]" any number.
func checkOperands(c *command, operands []string) error {
	names := strings.Fields(c.operands)
	if len(names) > 0 && strings.HasSuffix(names[len(names)-1], "...]") {
		return nil
	}
	switch {
	case len(operands) == len(names):
		return nil
	case len(names) == 0:
		return usagef("takes no operands, got %q", strings.Join(operands, " "))
	}
	return usagef("want %s, got %d operand(s)", strings.Join(names, " and "), len(operands))
}
