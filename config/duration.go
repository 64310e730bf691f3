package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written in YAML as ParseDuration reads it:
// "20m", "1h", "720h", "30d", "1d12h", "60s", "1h30m", "250ms". A bare
// number is refused: the unit is always required, so "60" cannot be
// mistaken for minutes.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d in the largest whole unit that represents it exactly
// ("720h", "20m", "60s" is written "1m", "90s"), falling back to
// time.Duration's own format ("1.5s") for anything finer. The result always
// parses back to the same value.
func (d Duration) String() string {
	td := time.Duration(d)
	switch {
	case td == 0:
		return "0s"
	case td%time.Hour == 0:
		return fmt.Sprintf("%dh", td/time.Hour)
	case td%time.Minute == 0:
		return fmt.Sprintf("%dm", td/time.Minute)
	case td%time.Second == 0:
		return fmt.Sprintf("%ds", td/time.Second)
	default:
		return td.String()
	}
}

// maxDays bounds the days of a duration: time.Duration holds about 292
// years.
const maxDays = 100_000

// ParseDuration reads a duration as a person types one, in the config
// file and on the command line (--expires 30d, --ttl 10m): what
// time.ParseDuration reads ("90m", "1h30m", "250ms"), optionally after a
// whole number of days ("30d", "1d12h"), a day being 24 hours. The error
// is written for people: it says what is expected, not which parser
// refused.
func ParseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("must be a duration such as 20m, 1h, 60s or 30d")
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > maxDays || s[0] == '+' {
			return 0, bad
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	td, err := time.ParseDuration(s)
	if err != nil || days > 0 && (td < 0 || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-")) {
		return 0, bad
	}
	if td > math.MaxInt64-days {
		return 0, bad
	}
	return days + td, nil
}

// parseDuration is ParseDuration as a config Duration; its error is used
// as a Problem message.
func parseDuration(s string) (Duration, error) {
	td, err := ParseDuration(s)
	return Duration(td), err
}

// UnmarshalYAML implements yaml.Unmarshaler, for callers that decode a
// Duration with go.yaml.in/yaml/v3 directly. Parse does not go through it
// (it expands ${VAR} first) but accepts the same text.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: duration must be a scalar such as 20m", n.Line)
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w, got %q", n.Line, err, n.Value)
	}
	*d = v
	return nil
}

// MarshalYAML implements yaml.Marshaler; it writes String's form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }
