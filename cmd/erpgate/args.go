package main

import (
	"flag"
	"regexp"
	"strings"
	"time"

	"github.com/erpgate/erpgate/config"
)

// parseInterspersed parses flags before and after the operands, so both
// `end --config F ID` and `end ID --config F` work; "--" ends the flags.
// With dashOperands an argument that starts with "-" but names no flag of
// fs is an operand (session ids are base64url and may start with "-"),
// unless it reads as a flag's name ("--no-such-flag": lower-case letters
// and dashes, which a random id all but never is); without, it is an
// unknown flag.
func parseInterspersed(fs *flag.FlagSet, args []string, dashOperands bool) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case len(a) > 1 && strings.HasPrefix(a, "-") && (namesFlag(fs, a) || !dashOperands || flagLike.MatchString(a)):
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

// flagLike is an argument that reads as a flag: -x, --name, --name=value.
var flagLike = regexp.MustCompile(`^--?[a-z][a-z-]*(=.*)?$`)

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

// durationFlag is a duration flag read as the config file reads one
// (config.ParseDuration: 10m, 1h30m, 30d, 1d12h).
type durationFlag time.Duration

func durationVar(fs *flag.FlagSet, name string, value time.Duration, usage string) *time.Duration {
	d := durationFlag(value)
	fs.Var(&d, name, usage)
	return (*time.Duration)(&d)
}

func (d *durationFlag) Set(s string) error {
	v, err := config.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = durationFlag(v)
	return nil
}

func (d *durationFlag) String() string {
	if d == nil {
		return "0s"
	}
	return config.Duration(*d).String()
}
