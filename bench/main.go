package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/erpgate/erpgate/internal/proc"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 6*time.Second, "measured time of each path (cut into 4 slices that alternate with the paths it is compared with)")
	quick := fs.Bool("quick", false, "-duration 2s, and -sessions 10000 unless given")
	workers := fs.Int("workers", 64, "concurrent load generator workers")
	driver := fs.String("store", "sqlite", "erpgate store: sqlite or memory")
	sessions := fs.Int("sessions", 100_000, "sessions the sessions phase opens in its own erpgate (RSS with that many open); 0 skips the phase")
	algs := fs.String("algs", "RS256,ES256", "signing algorithms, comma-separated; one erpgate process each, the first also serves the proxied GET")
	out := fs.String("out", "", "also write the report here (default bench/out/latest.md in the checkout; \"-\" for none)")
	role := fs.String("role", "", "internal: run as a child server ("+roleUpstream+", "+roleBare+" or "+roleBareHeaders+")")
	upstream := fs.String("upstream", "", "internal: upstream URL of -role "+roleBare+" and "+roleBareHeaders)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *role != "" {
		return serveRole(*role, *upstream)
	}

	o := options{duration: *duration, workers: *workers, driver: *driver, sessions: *sessions,
		command: strings.TrimSpace("go run ./bench " + strings.Join(args, " "))}
	if *quick {
		o.duration = 2 * time.Second
		if !flagGiven(fs, "sessions") {
			o.sessions = 10_000
		}
	}
	o.warmup = min(time.Second, o.duration/4)
	for a := range strings.SplitSeq(*algs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			o.algs = append(o.algs, a)
		}
	}
	switch {
	case o.duration <= 0:
		return errors.New("-duration must be positive")
	case o.workers <= 0:
		return errors.New("-workers must be positive")
	case o.driver != "sqlite" && o.driver != "memory":
		return fmt.Errorf("-store %q: want sqlite or memory", o.driver)
	case len(o.algs) == 0:
		return errors.New("-algs: name at least one algorithm")
	case o.sessions < 0:
		return errors.New("-sessions must not be negative")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal the run winds down and stops its
		// children; a second one kills this process (and, on Linux,
		// the children with it).
		<-ctx.Done()
		stop()
	}()
	fmt.Fprintf(stderr, "bench: %s\n", estimate(o))

	rep, err := runSuite(ctx, o, stderr)
	if err != nil {
		return err
	}
	rep.writeMarkdown(stdout)
	if rep.aborted != nil {
		return errors.New("interrupted; report not written")
	}
	if *out == "-" {
		return nil
	}
	path := *out
	if path == "" {
		root, err := proc.ModuleRoot()
		if err != nil {
			return err
		}
		path = filepath.Join(root, "bench", "out", "latest.md")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	rep.writeMarkdown(f)
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bench: wrote %s\n", path)
	return nil
}

// flagGiven reports whether the command line set the flag name.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// estimate says what the run will do and about how long it takes.
func estimate(o options) string {
	// Paths: direct, bare, bare with erpgate's headers, erpgate GET,
	// reference token; per algorithm client credentials, refresh, raw
	// sign (no warm-up) and introspection.
	paths := 5 + 4*len(o.algs)
	warmed := 5 + 3*len(o.algs)
	est := time.Duration(paths)*o.duration + time.Duration(warmed)*o.warmup + 10*time.Second
	msg := fmt.Sprintf("%d paths of %s each (+%s warm-up), %d workers", paths, o.duration, o.warmup, o.workers)
	if o.sessions > 0 {
		// Measured on 2 CPUs: about 1,500 sessions/s with SQLite, 3,000
		// with the memory store.
		perSecond := 1500
		if o.driver == "memory" {
			perSecond = 3000
		}
		est += time.Duration(o.sessions/perSecond)*time.Second + 2*time.Second
		msg += fmt.Sprintf(", then %d sessions", o.sessions)
	}
	return fmt.Sprintf("%s; about %s", msg, est.Round(5*time.Second))
}
