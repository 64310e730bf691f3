package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A path that failed, one cut short and one that never ran all render
// as table rows instead of stopping the report.
func TestReportShowsFailuresInTheTable(t *testing.T) {
	ok := &result{ok: 1000, elapsed: time.Second, errs: map[string]uint64{"502": 2}}
	for range 1000 {
		ok.lat.record(3 * time.Millisecond)
	}
	missing := &result{errs: map[string]uint64{"404": 37}, err: errors.New("no successful request")}
	r := &report{
		opts: options{duration: time.Second, workers: 4, driver: "memory"},
		rows: []row{
			{path: "GET ok", res: ok, ratio: "0.90 of bare"},
			{path: "POST missing", res: missing},
			{path: "POST interrupted", res: &result{err: context.Canceled}},
			{path: "multi-line error", res: &result{err: errors.New("line one\nline two")}},
			{path: "never", res: nil},
		},
		starts: []startup{{name: "erpgate RS256", err: errors.New("did not start")}},
	}
	var b strings.Builder
	r.writeMarkdown(&b)
	out := b.String()
	for _, want := range []string{
		"| GET ok | 1000 | 3.00 ms | 3.00 ms | 0.90 of bare | 502×2 |",
		"| POST missing | — | — | — | — | 404×37; no successful request |",
		"| POST interrupted | — | — | — | — | interrupted |",
		"| multi-line error | — | — | — | — | line one |",
		"| never | — | — | — | — | not run |",
		"| erpgate RS256 | — | — | — (did not start) |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
