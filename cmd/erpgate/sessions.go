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

	gw "github.com/erpgate/erpgate/gateway"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/store"
)

const sessionsUsage = `usage:
  erpgate sessions list [--config FILE]      open sessions and license use
  erpgate sessions end [--config FILE] ID    end a session (reason admin); its tokens are refused
`

// cmdSessions lists or ends sessions directly in the store of the config
// file, so it works whether or not the gateway runs; a running gateway
// refuses an ended session's tokens within about a second
// (session.Manager.SyncEnded).
func cmdSessions(ctx context.Context, args []string, e env) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, sessionsUsage)
		return errors.New("missing subcommand: list or end")
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("sessions "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	path := fs.String("config", "", "config file (default $ERPGATE_CONFIG, else erpgate.yaml)")
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		return err
	}
	switch {
	case sub == "list" && len(pos) == 0:
	case sub == "end" && len(pos) == 1:
	default:
		fmt.Fprint(e.stderr, sessionsUsage)
		return fmt.Errorf("bad arguments for sessions %s", sub)
	}

	cs, err := openCLIStore(ctx, *path, e, "sessions")
	if err != nil {
		return err
	}
	defer cs.close()
	m, err := gw.NewSessionManager(cs.file, cs.store, time.Now, cs.logger, cs.audit,
		metrics.New(prometheus.NewRegistry(), metrics.Build{}))
	if err != nil {
		return err
	}
	defer m.Close()

	if sub == "list" {
		return listSessions(ctx, m, e.stdout)
	}
	before := time.Now().Truncate(time.Millisecond) // the store keeps milliseconds
	info, err := m.End(ctx, pos[0], store.EndAdmin)
	if errors.Is(err, session.ErrNotFound) {
		return fmt.Errorf("no session %q", pos[0])
	}
	if err != nil {
		return err
	}
	if info.EndedAt.Before(before) {
		fmt.Fprintf(e.stdout, "session %s had already ended (%s at %s)\n", info.ID, info.EndReason, cliTime(info.EndedAt))
		return nil
	}
	fmt.Fprintf(e.stdout, "session %s ended; a running gateway refuses its tokens within seconds\n", info.ID)
	return nil
}

func listSessions(ctx context.Context, m *session.Manager, out io.Writer) error {
	infos, err := m.List(ctx)
	if err != nil {
		return err
	}
	lic, err := m.License(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSUBJECT\tCLIENT\tKIND\tOPENED\tLAST SEEN")
	for _, i := range infos {
		kind := i.Kind
		if i.Reserved {
			kind += " (reserved)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", i.ID, i.Subject, i.ClientID, kind, cliTime(i.OpenedAt), cliTime(i.LastSeenAt))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if lic.Unlimited {
		_, err = fmt.Fprintf(out, "\nlicense: %d sessions open, slots unlimited\n", lic.Used)
	} else {
		_, err = fmt.Fprintf(out, "\nlicense: %d of %d slots used, %d free (%d reserved)\n", lic.Used, lic.Total, lic.Free, lic.Reserved)
	}
	return err
}

func cliTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// parseInterspersed parses flags before and after positional arguments,
// so both `end --config F ID` and `end ID --config F` work. An argument
// that starts with "-" but names no flag of fs is positional: session ids
// are base64url and may start with "-" (`--` works too).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case len(a) > 1 && strings.HasPrefix(a, "-") && namesFlag(fs, a):
			flags = append(flags, a)
			name, _, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if f := fs.Lookup(name); f != nil && !inline && !isBoolFlag(f) && i+1 < len(args) {
				flags = append(flags, args[i+1]) // the flag's value
				i++
			}
		default:
			pos = append(pos, a)
		}
	}
	if err := fs.Parse(flags); err != nil {
		return nil, err
	}
	return pos, nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// namesFlag reports whether arg ("-x", "--x", "--x=v") is a flag of fs,
// or asks for help.
func namesFlag(fs *flag.FlagSet, arg string) bool {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return name == "h" || name == "help" || fs.Lookup(name) != nil
}
