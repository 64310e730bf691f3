package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/erpgate/erpgate/config"
)

// checkCommand is `erpgate check`: every problem is printed with its
// YAML path and the exit status is 1 if there is any; warnings do not
// fail.
func checkCommand(fs *flag.FlagSet) runFunc {
	path := configFlag(fs)
	return func(_ context.Context, _ []string, e env) error {
		file := configPath(*path, e)
		f, err := loadConfig(file, e)
		if err != nil {
			var probs config.Problems
			if errors.As(err, &probs) {
				fmt.Fprintf(e.stderr, "%s: %d problem(s):\n", file, len(probs))
				for _, p := range probs {
					fmt.Fprintf(e.stderr, "  %s\n", p)
				}
			} else {
				fmt.Fprintf(e.stderr, "%s: %v\n", file, err)
			}
			return exitStatus(1)
		}
		// The certificates the listeners will read (tls, admin_tls).
		if probs := f.CheckFiles(os.ReadFile); len(probs) > 0 {
			fmt.Fprintf(e.stderr, "%s: %d problem(s):\n", file, len(probs))
			for _, p := range probs {
				fmt.Fprintf(e.stderr, "  %s\n", p)
			}
			return exitStatus(1)
		}
		for _, w := range f.Warnings() {
			fmt.Fprintf(e.stderr, "warning: %s\n", w)
		}
		fmt.Fprintf(e.stdout, "%s: ok (%d apps, %d users, %d routes)\n", file, len(f.Apps), len(f.Users), len(f.Routes))
		return nil
	}
}
