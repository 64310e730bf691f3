package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	gw "github.com/erpgate/erpgate/gateway"
	"github.com/erpgate/erpgate/metrics"
	"github.com/erpgate/erpgate/session"
	"github.com/erpgate/erpgate/store"
)

// sessionsListCommand is `erpgate sessions list`. The sessions commands
// work directly in the store of the config file, so they work whether or
// not the gateway runs.
func sessionsListCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	return func(ctx context.Context, _ []string, e env) error {
		m, done, err := cliSessions(ctx, *path, e)
		if err != nil {
			return err
		}
		defer done()
		return listSessions(ctx, m, e.stdout)
	}
}

// sessionsEndCommand is `erpgate sessions end ID`: a running gateway
// refuses an ended session's tokens within about a second
// (session.Manager.SyncEnded).
func sessionsEndCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	return func(ctx context.Context, operands []string, e env) error {
		m, done, err := cliSessions(ctx, *path, e)
		if err != nil {
			return err
		}
		defer done()
		id := operands[0]
		before := time.Now().Truncate(time.Millisecond) // the store keeps milliseconds
		info, err := m.End(ctx, id, store.EndAdmin)
		if errors.Is(err, session.ErrNotFound) {
			return fmt.Errorf("no session %q", id)
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
}

// cliSessions opens the config's store and its session manager; done
// closes both.
func cliSessions(ctx context.Context, path string, e env) (*session.Manager, func(), error) {
	cs, err := openCLIStore(ctx, path, e, "sessions")
	if err != nil {
		return nil, nil, err
	}
	m, err := gw.NewSessionManager(cs.file, cs.store, time.Now, cs.logger, cs.audit,
		metrics.New(prometheus.NewRegistry(), metrics.Build{}))
	if err != nil {
		cs.close()
		return nil, nil, err
	}
	closeBC, err := gw.CLIBackchannel(ctx, cs.file, cs.store, m, cs.logger, cs.audit) // an end here tells its apps
	if err != nil {
		m.Close()
		cs.close()
		return nil, nil, err
	}
	return m, func() { closeBC(); m.Close(); cs.close() }, nil
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
