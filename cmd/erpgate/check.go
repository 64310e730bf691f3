package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/erpgate/erpgate/config"
)

// cmdCheck validates a config file: every problem is printed with its YAML
// path and the exit code is 1 if there is any; warnings do not fail.
func cmdCheck(args []string, e env) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	path := fs.String("config", "", "config file (default $ERPGATE_CONFIG, else erpgate.yaml)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
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
		return 1
	}
	for _, w := range f.Warnings() {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(e.stdout, "%s: ok (%d apps, %d users, %d routes)\n", file, len(f.Apps), len(f.Users), len(f.Routes))
	return 0
}
