package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

const tagline = "erpgate — authentication gateway for ERP APIs"

// writeTopUsage lists every command with its summary.
func writeTopUsage(w io.Writer) {
	fmt.Fprintf(w, "%s\n\nusage: erpgate COMMAND [flags] [operands]\n\ncommands:\n", tagline)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commandTable() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, "\nRun `erpgate help COMMAND` or `erpgate COMMAND --help` for a command's usage and flags.\n"+
		"Durations are written 30s, 10m, 1h30m, 30d or 1d12h.\n")
}

// writeGroupUsage lists the commands of a group ("tokens").
func writeGroupUsage(w io.Writer, group string, subs []command) {
	fmt.Fprintf(w, "usage: erpgate %s COMMAND [flags] [operands]\n\ncommands:\n", group)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range subs {
		_, sub, _ := strings.Cut(c.name, " ")
		fmt.Fprintf(tw, "  %s\t%s\n", sub, c.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun `erpgate %s COMMAND --help` for a command's usage and flags.\n", group)
}

// writeUsage is c's --help: the usage line, the summary, every flag of
// fs and the details.
func writeUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: erpgate %s", c.name)
	if c.synopsis != "" {
		fmt.Fprintf(w, " %s", c.synopsis)
	}
	fmt.Fprintf(w, "\n\n%s.\n\nflags:\n", upperFirst(c.summary))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		if _, ok := f.Value.(*durationFlag); ok {
			name = "DURATION"
		}
		if name != "" {
			name = " " + name
		}
		if def := f.DefValue; def != "" && def != "0s" && def != "false" {
			usage += fmt.Sprintf(" (default %s)", def)
		}
		fmt.Fprintf(tw, "  --%s%s\t%s\n", f.Name, name, usage)
	})
	fmt.Fprintf(tw, "  -h, --help\tshow this help\n")
	tw.Flush()
	if c.details != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.details, "\n"))
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// helpCommand is `erpgate help [COMMAND]`.
func helpCommand(*flag.FlagSet) runFunc {
	return func(_ context.Context, operands []string, e env) error {
		if len(operands) == 0 {
			writeTopUsage(e.stdout)
			return nil
		}
		if c, rest := findCommand(operands); c != nil && len(rest) == 0 {
			fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
			c.flags(fs)
			writeUsage(e.stdout, c, fs)
			return nil
		}
		if subs := groupCommands(operands[0]); len(subs) > 0 && len(operands) == 1 {
			writeGroupUsage(e.stdout, operands[0], subs)
			return nil
		}
		return usagef("no command %q; `erpgate help` lists them", strings.Join(operands, " "))
	}
}
