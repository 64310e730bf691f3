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

// TestProxiedTargets: the report prints issue 22's three figures of
// erpgate against the bare proxy with their targets, splits the CPU
// above bare into the larger request's and erpgate's own, and names
// the command that reproduces them.
func TestProxiedTargets(t *testing.T) {
	run := func(ok uint64, cpu, p99 time.Duration) *result {
		r := &result{ok: ok, elapsed: time.Second, cpu: cpu}
		for range 100 {
			r.lat.record(p99)
		}
		return r
	}
	r := &report{
		opts: options{duration: time.Second, workers: 4, driver: "memory", command: "go run ./bench -quick -sessions 0"},
		proxied: &proxiedRun{
			path: "GET erpgate, bearer RS256",
			bare: run(1000, 50*time.Millisecond, 10*time.Millisecond), // 50 µs/req
			// 56 µs/req: 6 above bare
			headers: run(960, 53760*time.Microsecond, 10*time.Millisecond),
			// 0.96 of bare, p99 ×1.05, 59 µs/req: 9 above bare, 3 above the headers
			erp: run(960, 56640*time.Microsecond, 10500*time.Microsecond),
		},
	}
	var b strings.Builder
	r.writeMarkdown(&b)
	out := b.String()
	for _, want := range []string{
		"| throughput: req/s ÷ bare's | ≥ 0.95 | 0.96 | yes |",
		"| p99 latency ÷ bare's | ≤ 1.10 | 1.05 | yes |",
		"| CPU/req above bare's | ≤ +5.0 µs | +9.0 µs | no |",
		"| of which the larger request (bare + erpgate's headers, above bare) | | +6.0 µs | |",
		"| of which erpgate's own work (above bare + erpgate's headers) | | +3.0 µs | |",
		"reproduce: `go run ./bench -quick -sessions 0`",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	r.proxied.erp = &result{err: errors.New("did not start")}
	b.Reset()
	r.writeMarkdown(&b)
	if !strings.Contains(b.String(), "| throughput, p99, CPU/req | — | — | not measured |") {
		t.Errorf("a failed erpgate row: want the targets not measured:\n%s", b.String())
	}
}
