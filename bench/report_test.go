package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// A path that failed, one cut short and one that never ran all render
// as table rows instead of stopping the report.
func TestReportShowsFailuresInTheTable(t *testing.T) {
	ok := &result{ok: 1000, elapsed: time.Second, errs: map[string]uint64{"502": 2}, cpu: 90 * time.Millisecond}
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
		"| GET ok | 1000 | 3.00 ms | 3.00 ms | 90.0 µs | 0.90 of bare | 502×2 |",
		"| POST missing | — | — | — | — | — | 404×37; no successful request |",
		"| POST interrupted | — | — | — | — | — | interrupted |",
		"| multi-line error | — | — | — | — | — | line one |",
		"| never | — | — | — | — | — | not run |",
		"| erpgate RS256 | — | — | — (did not start) |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestCPUAbove: erpgate's CPU per request beyond the bare proxy's, as the
// proxied rows print it; nothing when either side has no figure.
func TestCPUAbove(t *testing.T) {
	bare := &result{ok: 1000, cpu: 74 * time.Millisecond}
	erp := &result{ok: 500, cpu: 45 * time.Millisecond}
	if got := cpuAbove(erp, bare); got != "; CPU/req +16.0 µs over bare" {
		t.Errorf("cpuAbove = %q", got)
	}
	if got := cpuAbove(erp, &result{ok: 1000}); got != "" {
		t.Errorf("cpuAbove without the bare figure = %q", got)
	}
}

// TestCPUTime reads this process's own /proc/PID/stat: the figure grows
// with work done.
func TestCPUTime(t *testing.T) {
	before, err := cpuTimeOf(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	sum := sha256.Sum256(nil)
	for start := time.Now(); time.Since(start) < 100*time.Millisecond; {
		sum = sha256.Sum256(sum[:])
	}
	after, err := cpuTimeOf(os.Getpid())
	if err != nil || after <= before {
		t.Errorf("cpuTime %s then %s (%v); want it to grow with 100 ms of work", before, after, err)
	}
}
